"""`dualgnn build-graph` and `dualgnn info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.app import app
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
    min_support: Annotated[int, typer.Option(help="Events: keep pairs seen for at least this many customers.")] = 2,
    encoder: Annotated[str, typer.Option(
        help="Text encoder: minilm (all-MiniLM-L6-v2, offline), tfidf (fast, TF-IDF + SVD) or hashing.")] = "minilm",
    model_path: Annotated[Optional[str], typer.Option(
        help="A local sentence-transformers model directory to use instead of the bundled MiniLM.")] = None,
    quiet: Quiet = False,
) -> None:
    """Read products and interactions, build the product graph and features, write an artifact directory."""
    from dualgnn.build import BuildInputs, build_artifacts
    from dualgnn.features import FeatureSettings

    event_settings = None
    if events:
        from dualgnn.sources.events import EventSettings

        try:
            event_settings = EventSettings(window=window_days * 86400.0, min_support=min_support)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    try:
        settings = FeatureSettings(encoder=encoder, model_path=model_path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    inputs = BuildInputs(amazon=tuple(amazon or ()), products=products, copurchase=copurchase, coview=coview,
                         events=tuple(events or ()), event_settings=event_settings)
    summary = build_artifacts(inputs, out, settings, progress=not quiet)

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
) -> None:
    """Show what an artifact directory holds: counts, inputs, settings."""
    import json

    from dualgnn.artifacts import MANIFEST
    from dualgnn.errors import ArtifactError

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
    console.print_json(data=manifest)
