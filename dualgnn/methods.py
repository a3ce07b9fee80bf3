"""Which methods `dualgnn evaluate` knows and how each is fitted on a split's training edges.

Baselines come from :mod:`dualgnn.baselines`; GNN rows are trained with :func:`dualgnn.train.train`, every one
with the same epoch budget, and scored by their source / target embeddings.

>>> scorer = fit_method("cooccurrence", MethodContext(graph=graph, features=None, split=split))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dualgnn.baselines import CooccurrenceScorer, PopularityScorer, TextKNNScorer
from dualgnn.errors import ArtifactError
from dualgnn.graph import ProductGraph
from dualgnn.scoring import EmbeddingScorer, Scorer
from dualgnn.split import Split

#: Baseline rows. ``cooccurrence`` is DESIGN.md's A.A + A.C + C.A; ``cooccurrence-rev`` adds the reverse edge A^T.
BASELINES = ("popularity", "cooccurrence", "cooccurrence-rev", "text-knn")
#: GNN rows: (preset, overrides), all trained with the same epoch budget on the same split.
GNN_VARIANTS = {
    "dualgnn": ("default", {}),
    "paper": ("paper", {}),
    "symmetric-gnn": ("default", {"directed": False, "dual": False, "blend": 0.0}),
    "no-asymmetry": ("default", {"asymmetry": False}),
    "no-coview": ("default", {"use_coview": False}),
    "single-embedding": ("default", {"dual": False, "blend": 0.0}),
    "no-blend": ("default", {"blend": 0.0}),
}


@dataclass
class MethodContext:
    """What fitting a method needs: the graph, features, the split it may learn from, and the training budget."""

    graph: ProductGraph
    features: object
    split: Split
    epochs: int | None = None
    model_dir: Path | None = None
    log: Callable[[str], None] = print
    train_progress: bool = False


def fit_method(method: str, ctx: MethodContext) -> Scorer:
    """A fitted :class:`Scorer` for ``method``, learning from ``ctx.split``'s training edges only (no leakage)."""
    n, split = ctx.graph.num_products, ctx.split
    if method == "popularity":
        return PopularityScorer(split.train_copurchase, n)
    if method == "cooccurrence":
        return CooccurrenceScorer(split.train_copurchase, split.train_coview, n)
    if method == "cooccurrence-rev":
        return CooccurrenceScorer(split.train_copurchase, split.train_coview, n, reverse=1.0)
    if method == "text-knn":
        return TextKNNScorer(ctx.features.text)
    return _gnn_scorer(method, ctx)


def _gnn_scorer(method: str, ctx: MethodContext) -> Scorer:
    from dualgnn.config import TrainConfig
    from dualgnn.train import train

    split = ctx.split
    preset, overrides = GNN_VARIANTS[method]
    budget = ctx.epochs or TrainConfig.preset("default").epochs
    config = TrainConfig.preset(preset, **overrides, epochs=budget)
    if method == "dualgnn" and ctx.model_dir is not None:
        loaded = _load_model_checked(ctx)
        if split.settings.kind == "edge":
            return EmbeddingScorer(loaded.source, loaded.target, name=method)
        # The stored model has seen the cold products' edges: retrain its config on the node split.
        config = loaded.config if ctx.epochs is None else loaded.config.replace(epochs=ctx.epochs)
    ctx.log(f"training {method} ({preset} preset{', ' + str(overrides) if overrides else ''}, "
            f"{config.epochs} epochs) on the {split.settings.kind} split")
    # A node split's cold products get their rows through the paper's cold-start path inside train().
    result = train(ctx.graph, ctx.features, split, config, progress=ctx.train_progress)
    return EmbeddingScorer(np.asarray(result.source), np.asarray(result.target), name=method)


def _load_model_checked(ctx: MethodContext):
    from dualgnn.artifacts import graph_fingerprint
    from dualgnn.model_io import load_model

    loaded = load_model(ctx.model_dir)
    if getattr(loaded, "fingerprint", None) and loaded.fingerprint != graph_fingerprint(ctx.graph):
        raise ArtifactError(f"{ctx.model_dir} was trained on another graph", hint="evaluate it with its own artifacts")
    return loaded

