"""`dualgnn evaluate`: baselines and GNN rows under the paper's protocols, on splits saved beside the artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.app import app
from cli.options import ArtifactsDir, ModelSeed, Quiet, SplitSeed, SplitShares, Threads, set_threads

console = Console()


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command("evaluate")
def evaluate_command(
    artifacts: ArtifactsDir,
    model: Annotated[Optional[Path], typer.Option(
        "--model", "-m",
        help="Use this trained model for the 'dualgnn' row on the edge split instead of training.")] = None,
    protocols: Annotated[str, typer.Option(
        help="Comma-separated: EQ1 (recommendation), EQ3 (direction), EQ3-balanced (direction on one-way pairs "
             "whose target is not more popular than the source), EQ4 (cold start), EQ5 (selection bias).")]
    = "EQ1,EQ3,EQ3-balanced,EQ4,EQ5",
    methods: Annotated[Optional[str], typer.Option(
        help="Comma-separated subset of: popularity, cooccurrence, cooccurrence-rev, text-knn, pagerank, rp3beta, "
             "ease, item-knn (tuned classics: values chosen on the validation edges), rp3beta-plain, ease-plain, "
             "item-knn-plain (textbook profile; not in the default), dualgnn, paper, symmetric-gnn, no-asymmetry, "
             "no-coview, single-embedding, no-blend, ranker (two stages: the dualgnn row's GNN, RP3beta and "
             "short paths retrieve, LambdaRank fitted on the validation edges re-ranks). "
             "Default: all but the -plain ones.")] = None,
    split: SplitShares = None,
    split_seed: SplitSeed = 0,
    seed: ModelSeed = None,
    max_queries: Annotated[Optional[int], typer.Option(
        min=1, help="Sample this many held-out pairs per protocol (seeded) to bound the time.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help="Training budget (epochs) of every GNN row; default: the default preset's.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Report directory for report.json and report.png (default ARTIFACTS/eval).")] = None,
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Evaluate every method on the same seeded splits: HR@k, MRR@k, direction accuracy/AUC, coverage."""
    from dualgnn.artifacts import load_graph
    from dualgnn.evaluation.report import (
        REPORT_FILES,
        is_report_file,
        render_notes,
        render_tables,
        write_partial,
        write_report,
    )
    from dualgnn.evaluation.run import evaluate
    from dualgnn.outputs import claim_output
    from dualgnn.split import EVAL_SHARES, SplitSettings, parse_shares

    for name, value in (("--protocols", protocols), ("--methods", methods)):
        if value is not None and not _csv(value):  # "" or "," would silently mean "all" or "none"
            raise typer.BadParameter(f"names nothing: {value!r}", param_hint=name)
    shares = parse_shares(split) if split is not None else EVAL_SHARES
    settings = SplitSettings(kind="edge", ratios=shares, seed=split_seed)
    set_threads(threads)

    out = out or Path(artifacts) / "eval"
    inputs = [model] if model is not None else []
    with claim_output(out, files=REPORT_FILES, is_ours=is_report_file, inputs=inputs):
        graph = load_graph(artifacts)
        features = _load_features(artifacts)
        report = evaluate(graph, features, protocols=_csv(protocols), methods=_csv(methods),
                          split_settings=settings, max_queries=max_queries, model_dir=model, epochs=epochs,
                          split_dir=artifacts, progress=not quiet, checkpoint=lambda r: write_partial(r, out),
                          dataset=Path(artifacts).resolve().name, model_seed=seed)
        paths = write_report(report, out)
        (out / "report.partial.json").unlink(missing_ok=True)
    wide = Console(width=max(console.width, 120)) if not console.is_terminal else console
    for table in render_tables(report):
        wide.print(table)
    for line in render_notes(report):
        wide.print(line, markup=False, highlight=False)
    for protocol, task in report.meta["tasks"].items():
        if task["pairs_before_sampling"] > task["pairs"]:
            console.print(f"{protocol}: sampled {task['pairs']:,} of {task['pairs_before_sampling']:,} held-out pairs")
    console.print(f"wrote {paths['json']} and {paths['png']}", markup=False, highlight=False)


def _load_features(artifacts: Path):
    """The artifact's features, or None (then text kNN and the GNN rows are unavailable)."""
    from dualgnn.features.store import Features

    if not any((Path(artifacts) / name).exists() for name in ("features.npz", "features.json")):
        return None
    return Features.load(artifacts)
