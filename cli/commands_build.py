"""`dualgnn build-graph` and `dualgnn info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.app import app
from cli.options import ArtifactsDir as ArtifactsArg
from cli.options import Quiet

console = Console()


@app.command("build-graph")
def build_graph_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Artifact directory to write (replaced atomically).")],
    amazon: Annotated[Optional[list[Path]], typer.Option(
        "--amazon", help="Amazon product metadata (2014 or 2018 JSON lines, gzip or plain). Repeatable.")] = None,
    products: Annotated[Optional[Path], typer.Option(
        "--products", help="Products table (CSV, Parquet or JSON lines): product_id + metadata.")] = None,
    copurchase: Annotated[Optional[Path], typer.Option(
        "--copurchase", help="Co-purchase table: src, dst[, weight]; src -> dst = bought dst with/after src.")] = None,
    coview: Annotated[Optional[Path], typer.Option(
        "--coview", help="Co-view table: src, dst[, weight] (symmetric).")] = None,
    events: Annotated[Optional[list[Path]], typer.Option(
        "--events", help="Event log(s): customer_id/session_id, product_id, event, timestamp. Repeatable.")] = None,
    window_days: Annotated[float, typer.Option(
        help="Events: a purchase within this many days after another counts as co-purchase.")] = 30.0,
    min_support: Annotated[int, typer.Option(
        min=1, help="Events: keep pairs seen for at least this many customers.")] = 2,
    encoder: Annotated[str, typer.Option(
        help="Text encoder: minilm (all-MiniLM-L6-v2, offline), tfidf (fast, TF-IDF + SVD) or hashing.")] = "minilm",
    model_path: Annotated[Optional[str], typer.Option(
        help="A local sentence-transformers model directory to use instead of the bundled MiniLM.")] = None,
    reuse_text: Annotated[Optional[Path], typer.Option(
        "--reuse-text", help="An earlier graph directory (last night's) whose text vectors are reused for products "
                             "whose text did not change (a rebuild into the same --out reuses its own).")] = None,
    quiet: Quiet = False,
) -> None:
    """Read products and interactions, build the product graph and features, write an artifact directory."""
    from dualgnn.build import BuildInputs, build_artifacts
    from dualgnn.features.settings import FeatureSettings

    event_settings = None
    if events:
        from dualgnn.sources.events import EventSettings

        if not window_days > 0:  # NaN too
            raise typer.BadParameter(f"must be a positive number of days, not {window_days}",
                                     param_hint="--window-days")
        event_settings = EventSettings(window=window_days * 86400.0, min_support=min_support)
    settings = FeatureSettings(encoder=encoder, model_path=model_path)
    inputs = BuildInputs(amazon=tuple(amazon or ()), products=products, copurchase=copurchase, coview=coview,
                         events=tuple(events or ()), event_settings=event_settings)
    summary = build_artifacts(inputs, out, settings, progress=not quiet, reuse_text=reuse_text)

    table = Table(title=f"product graph -> {escape(str(summary.out_dir))}", show_header=False)
    table.add_row("products", f"{summary.products:,}")
    table.add_row("copurchase edges (directed)", f"{summary.copurchase_edges:,}")
    table.add_row("coview pairs (stored both ways)", f"{summary.coview_pairs:,}")
    table.add_row("one-way share of copurchase", f"{summary.one_way_share:.1%}")
    table.add_row("text features", f"{summary.encoder}, {summary.feature_dim}-d")
    table.add_row("time", ", ".join(f"{k} {v:.1f}s" for k, v in summary.seconds.items()))
    console.print(table)
    if summary.skipped.total:
        console.print(f"[yellow]skipped or repaired {summary.skipped.total:,} input records:[/]")
        for line in summary.skipped.lines():
            console.print(f"  [yellow]warning:[/] {escape(line)}", highlight=False)


@app.command("info")
def info_command(
    directory: Annotated[Path, typer.Argument(help="An artifact directory (graph or model).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest as JSON.")] = False,
) -> None:
    """Show what an artifact directory holds: counts, inputs, settings; for a model, what it learnt from."""
    import json

    from dualgnn.errors import ArtifactError
    from dualgnn.outputs import MANIFEST  # not dualgnn.artifacts: info must not pay for pandas

    path = directory / MANIFEST
    if not directory.is_dir():
        raise ArtifactError(f"{directory} does not exist" if not directory.exists() else f"{directory} is a file",
                            hint="pass a directory written by `dualgnn build-graph` or `dualgnn train`")
    if not path.exists():
        raise ArtifactError(f"{directory} has no {MANIFEST}: it is not a dualgnn artifact directory",
                            hint="pass a directory written by `dualgnn build-graph` or `dualgnn train`")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ArtifactError(f"{path} is not valid JSON: {exc}", hint="rebuild the artifact") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} is not a dualgnn manifest", hint="rebuild the artifact")
    if as_json:
        console.print_json(data=manifest)
        return
    table = Table(title=f"{escape(str(directory))}: a dualgnn {escape(str(manifest.get('kind', 'graph')))} artifact",
                  show_header=False, title_justify="left")
    for name, value in info_rows(manifest):
        table.add_row(name, escape(value))
    console.print(table)


def info_rows(manifest: dict) -> list[tuple[str, str]]:
    """The summary ``dualgnn info`` prints, as (label, text) rows."""
    counts = manifest.get("counts", {})
    if manifest.get("kind") == "model":
        rows = [("products", f"{counts.get('products', '?'):,}"), ("vector width", str(counts.get("vector_dim")))]
        t = manifest.get("training", {})
        purpose = t.get("purpose", "unknown (trained before this was recorded)")
        rows.append(("trained for", {"production": "shipping: learnt from every edge but a validation slice",
                                     "evaluation": "evaluation: the split's test edges held out",
                                     "refresh": f"shipping, refreshed from {t.get('refreshed_from')} "
                                                "(no training)"}.get(purpose, purpose)))
        if "split" in t:
            sp = t["split"]
            rows.append(("split", f"{sp['kind']} {'/'.join(f'{s:g}' for s in sp['shares'])}, seed {sp['seed']}"))
        for key, label in (("edges_learnt", "co-purchase edges learnt from"),
                           ("validation_edges", "kept back to stop early"), ("held_out_edges", "held out (test)"),
                           ("served_graph_edges", "edges the served vectors use")):
            if key in t:
                rows.append((label, f"{t[key]:,}"))
        for name, value in t.get("changes", {}).items():
            rows.append((name.replace("_", " "), f"{value:,}"))
        best = manifest.get("best_val_hr10")
        if best is not None:
            rows.append(("best validation HR@10", f"{best:.4f} (epoch {manifest.get('best_epoch')})"))
        return rows + [("graph fingerprint", str(manifest.get("graph_fingerprint")))]
    rows = [("products", f"{counts.get('products', 0):,}"), ("co-purchase edges", f"{counts.get('copurchase', 0):,}"),
            ("co-view pairs", f"{counts.get('coview_pairs', 0):,}"),
            ("one-way share of co-purchase", f"{counts.get('one_way_share', 0):.1%}")]
    features = manifest.get("settings", {}).get("features") or {}
    if features:
        rows.append(("text features", f"{features.get('encoder')}, {features.get('dim')}-d"))
    for item in manifest.get("inputs", []):
        rows.append(("input", f"{item['path']} ({item['bytes']:,} bytes)"))
    skipped = sum(v.get("count", 0) for v in manifest.get("skipped", {}).values())
    rows.append(("input records skipped", f"{skipped:,} (`dualgnn info --json` lists why)"))
    return rows + [("built", str(manifest.get("created"))), ("fingerprint", str(manifest.get("fingerprint")))]


@app.command("find")
def find_command(
    directory: ArtifactsArg,
    text: Annotated[str, typer.Argument(help="Words to look for in product titles (all must appear, any case).")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many products.")] = 20,
) -> None:
    """Find product ids by title: the ids `recommend --product` takes."""
    from dualgnn.artifacts import read_manifest
    from dualgnn.serving.search import find_products

    read_manifest(directory)
    found = find_products(directory / "products.parquet", text, limit)
    if found.empty:
        console.print(f"no product title contains {text!r}", markup=False, highlight=False)
        raise typer.Exit(0)
    table = Table("product_id", "title", *[c for c in ("brand", "category") if c in found], title_justify="left",
                  title=f"products whose title contains {escape(repr(text))}")
    for row in found.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    console.print(table)
