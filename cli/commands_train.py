"""`dualgnn train`: graph artifacts -> a model directory."""

from __future__ import annotations

import shutil
from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.app import app
from cli.options import ArtifactsDir, OutDir, Quiet, Threads

console = Console()


@app.command("train")
def train_command(
    artifacts: ArtifactsDir,
    out: OutDir,
    preset: Annotated[str, typer.Option(help="Settings preset: default (measured best) or paper (as published).")] = "default",
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (early stopping may end sooner).")] = None,
    layers: Annotated[Optional[int], typer.Option(help="Message-passing layers (hops).")] = None,
    dim: Annotated[Optional[int], typer.Option(help="Embedding size.")] = None,
    loss: Annotated[Optional[str], typer.Option(help="Loss: softmax, warp or paper.")] = None,
    aggregation: Annotated[Optional[str], typer.Option(help="Neighbour aggregation: weighted, sum, mean or attention.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed for initialisation and batches.")] = None,
    split_kind: Annotated[str, typer.Option(
        "--split-kind", help="edge: hold out co-purchase edges; node: hold out products (cold start).")] = "edge",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
    fast_alloc: Annotated[bool, typer.Option(
        "--fast-alloc", help="Keep freed memory for reuse instead of returning it to the system: big catalogs "
        "train faster but peak higher (1M products: epoch 220 s instead of ~245 s, peak 12.1 GB instead of "
        "11.5; README \"Performance\").")] = False,
    threads: Threads = 2,
    quiet: Quiet = False,
) -> None:
    """Train the dual-embedding GNN on the training part of the split and write a model directory."""
    import torch

    from dualgnn.artifacts import graph_fingerprint, load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.evaluate import load_or_make_split
    from dualgnn.features import Features
    from dualgnn.model_io import save_model
    from dualgnn.outputs import claim_output
    from dualgnn.split import SplitSettings
    from dualgnn.train import train

    if threads > 0:
        torch.set_num_threads(threads)
    overrides = {k: v for k, v in dict(epochs=epochs, num_layers=layers, hidden_dim=dim, loss=loss,
                                       aggregation=aggregation, seed=seed).items() if v is not None}
    try:
        config = TrainConfig.preset(preset, **overrides)
        settings = SplitSettings(kind=split_kind)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    with claim_output(out, kind="model", inputs=[artifacts]):
        graph = load_graph(artifacts)
        features = Features.load(artifacts)
        split = load_or_make_split(graph, settings, artifacts)
        # Checkpoints live beside the model directory (which is replaced atomically at the end), so --resume finds
        # them; they record the graph, features and split they were made on.
        work = out.with_name(f".{out.name}.training")
        if not quiet:
            console.print(f"training {preset} preset on {graph.num_products:,} products, "
                          f"{len(split.train_copurchase):,} training edges ({split_kind} split)", highlight=False)
        result = train(graph, features, split, config, out_dir=work, resume=resume, progress=not quiet,
                       fast_alloc=fast_alloc)
        # The split goes inside the same atomic swap: evaluate checks a model is scored on the split it learnt from.
        save_model(out, result, graph_fingerprint(graph), features_fingerprint=features.fingerprint(),
                   extra={"split.npz": split.save})
        shutil.rmtree(work, ignore_errors=True)
    if len(split.val_copurchase):
        summary = f"best validation HR@10 {result.best_val:.4f} at epoch {result.best_epoch}"
    else:
        summary = f"no validation edges: kept epoch {result.best_epoch}, the lowest training loss"
    console.print(f"{summary} ({len(result.history)} epochs run) -> {out}", highlight=False, markup=False)
