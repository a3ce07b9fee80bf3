"""`dualgnn train`: graph artifacts -> a model directory."""

from __future__ import annotations

import shutil
from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.app import app
from cli.options import ArtifactsDir, OutDir, Quiet, SplitSeed, SplitShares, Threads, parse_shares

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
    validation: Annotated[float, typer.Option(
        "--validation", help="Production training (the default): the seeded share of co-purchase edges kept back "
        "to decide when to stop; the model learns from all the others, and its served vectors propagate over "
        "every edge. 0: no early stopping (the --epochs budget is run).")] = 0.05,
    split: SplitShares = None,
    split_seed: SplitSeed = 0,
    split_kind: Annotated[str, typer.Option(
        "--split-kind", help="With --split: edge holds out co-purchase edges, node holds out products "
        "(cold start; default shares 0.75,0.05,0.2).")] = "edge",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
    fast_alloc: Annotated[bool, typer.Option(
        "--fast-alloc", help="Keep freed memory for reuse instead of returning it to the system: big catalogs "
        "train faster but peak higher (measured in README \"Performance\").")] = False,
    threads: Threads = 2,
    quiet: Quiet = False,
) -> None:
    """Train the dual-embedding GNN and write a model directory.

    By default the model is the one to ship: it learns from every co-purchase edge but a small validation slice
    (--validation) and serves vectors propagated over all edges. --split trains a model for `dualgnn evaluate
    --model` instead: the split's test edges never reach it.
    """
    import torch

    from dualgnn.artifacts import graph_fingerprint, load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.evaluation.run import load_or_make_split
    from dualgnn.features.build import Features
    from dualgnn.model.catalog import write_catalog
    from dualgnn.model.io import save_model
    from dualgnn.outputs import claim_output
    from dualgnn.split import SplitSettings, production_settings, whole_graph
    from dualgnn.training.loop import train

    if threads > 0:
        torch.set_num_threads(threads)
    overrides = {k: v for k, v in dict(epochs=epochs, num_layers=layers, hidden_dim=dim, loss=loss,
                                       aggregation=aggregation, seed=seed).items() if v is not None}
    production = split is None and split_kind == "edge"
    try:
        config = TrainConfig.preset(preset, **overrides)
        if production:
            settings = production_settings(validation, split_seed)
        else:
            settings = SplitSettings(kind=split_kind, ratios=parse_shares(split), seed=split_seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    with claim_output(out, kind="model", inputs=[artifacts]):
        graph = load_graph(artifacts)
        features = Features.load(artifacts)
        chosen = load_or_make_split(graph, settings, artifacts)
        # Checkpoints live beside the model directory (which is replaced atomically at the end), so --resume finds
        # them; they record the graph, features and split they were made on.
        work = out.with_name(f".{out.name}.training")
        learnt = training_summary(graph, chosen, production)
        if not quiet:
            console.print(describe_training(preset, graph.num_products, learnt), highlight=False, markup=False)
        result = train(graph, features, chosen, config, out_dir=work, resume=resume, progress=not quiet,
                       fast_alloc=fast_alloc, serve_split=whole_graph(graph) if production else None)
        # The split goes inside the same atomic swap: evaluate checks a model is scored on the split it learnt from.
        # What refresh needs (ids, served edges, features reference) is kept beside the weights.
        served = graph.copurchase if production else chosen.train_copurchase
        save_model(out, result, graph_fingerprint(graph), features_fingerprint=features.fingerprint(),
                   extra=[lambda d: chosen.save(d / "split.npz"), lambda d: write_catalog(d, graph, features, served)],
                   training=learnt)
        shutil.rmtree(work, ignore_errors=True)
    if len(chosen.val_copurchase):
        summary = f"best validation HR@10 {result.best_val:.4f} at epoch {result.best_epoch}"
    else:
        summary = f"no validation edges: kept epoch {result.best_epoch}, the lowest training loss"
    console.print(f"{summary} ({len(result.history)} epochs run) -> {out}", highlight=False, markup=False)


def training_summary(graph, split, production: bool) -> dict:
    """What the model learns from, for the manifest, `dualgnn info` and the first printed line."""
    return {"purpose": "production" if production else "evaluation",
            "split": {"kind": split.settings.kind, "shares": list(split.settings.ratios), "seed": split.settings.seed},
            "edges_learnt": len(split.train_copurchase), "validation_edges": len(split.val_copurchase),
            "held_out_edges": len(split.test_copurchase) if not production else 0,
            "served_graph_edges": len(graph.copurchase) if production else len(split.train_copurchase)}


def describe_training(preset: str, products: int, learnt: dict) -> str:
    if learnt["purpose"] == "production":
        return (f"training the {preset} preset to ship, on {products:,} products: learns from "
                f"{learnt['edges_learnt']:,} co-purchase edges, {learnt['validation_edges']:,} kept back to decide "
                f"when to stop; the served vectors use all {learnt['served_graph_edges']:,}")
    return (f"training the {preset} preset for evaluation, on {products:,} products: learns from "
            f"{learnt['edges_learnt']:,} co-purchase edges; {learnt['held_out_edges']:,} held out for "
            f"`dualgnn evaluate --model` ({learnt['split']['kind']} split {learnt['split']['shares']}, "
            f"seed {learnt['split']['seed']})")
