"""`dualgnn train`: graph artifacts -> a model directory."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.app import app
from cli.options import (
    ArtifactsDir,
    Dim,
    Epochs,
    Layers,
    ModelSeed,
    OutDir,
    Preset,
    Quiet,
    SplitSeed,
    SplitShares,
    Threads,
    Validation,
    set_threads,
)

console = Console()


@app.command("train")
def train_command(
    artifacts: ArtifactsDir,
    out: OutDir,
    preset: Preset = "default",
    epochs: Epochs = None,
    layers: Layers = None,
    dim: Dim = None,
    loss: Annotated[Optional[str], typer.Option(help="Loss: softmax, warp or paper.")] = None,
    aggregation: Annotated[Optional[str], typer.Option(help="Neighbour aggregation: weighted, sum, mean or attention.")] = None,
    seed: ModelSeed = None,
    validation: Validation = 0.05,
    split: SplitShares = None,
    split_seed: SplitSeed = 0,
    split_kind: Annotated[str, typer.Option(
        "--split-kind", help="With --split: edge holds out co-purchase edges, node holds out products "
        "(cold start; default shares 0.75,0.05,0.2).")] = "edge",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
    ranker: Annotated[bool, typer.Option(
        "--ranker/--no-ranker", help="Also fit the second stage (LightGBM LambdaRank over GNN, path, classic and "
        "metadata features) on the validation edges; `recommend` ranks with it unless --gnn-only.")] = True,
    fast_alloc: Annotated[bool, typer.Option(
        "--fast-alloc", help="Keep freed memory for reuse instead of returning it to the system: big catalogs "
        "train faster but peak higher (measured in README \"Performance\").")] = False,
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Train the dual-embedding GNN and write a model directory.

    By default the model is the one to ship: it learns from every co-purchase edge but a small validation slice
    (--validation) and serves vectors propagated over all edges. --split trains a model for `dualgnn evaluate
    --model` instead: the split's test edges never reach it.
    """
    from dualgnn.split import parse_shares
    from dualgnn.training.run import TrainRequest, run_train

    overrides = {k: v for k, v in dict(epochs=epochs, num_layers=layers, hidden_dim=dim, loss=loss,
                                       aggregation=aggregation, seed=seed).items() if v is not None}
    req = TrainRequest(artifacts=artifacts, out=out, preset=preset, overrides=overrides, validation=validation,
                       split=parse_shares(split) if split is not None else None, split_seed=split_seed,
                       split_kind=split_kind, resume=resume, fast_alloc=fast_alloc, progress=not quiet,
                       ranker=ranker)
    set_threads(threads)
    say = (lambda line: None) if quiet else (lambda line: console.print(line, highlight=False, markup=False))
    done = run_train(req, say)
    if done.validation_edges:
        summary = f"best validation HR@10 {done.best_val:.4f} at epoch {done.best_epoch}"
    else:
        summary = f"no validation edges: kept epoch {done.best_epoch}, the lowest training loss"
    console.print(f"{summary} ({done.epochs_run} epochs run) -> {out}", highlight=False, markup=False)
