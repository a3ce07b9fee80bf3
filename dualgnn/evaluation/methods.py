"""Which methods `dualgnn evaluate` knows and how each is fitted on a split's training edges.

Baselines come from :mod:`dualgnn.classics.baselines`, the tuned classics from :mod:`dualgnn.classics.scorers` (values chosen on
the split's validation edges by :func:`dualgnn.classics.tuning.tune`; on a node split the edge split's tuned values are
reused and refitted on the node split's training edges: cold products have no edges, so their rows are all zero
whatever the values). GNN rows are trained with :func:`dualgnn.training.loop.train`, every one
with the same epoch budget, and scored by their source / target embeddings. The ``ranker`` row
(:mod:`dualgnn.ranking.ranker`) re-ranks candidates of the ``dualgnn`` row's GNN (trained once per split and shared by the
two rows), the tuned RP3beta and PageRank (tuned once, as their own rows) and the training graph's short paths,
with a LambdaRank model fitted on the split's validation edges.

>>> scorer = fit_method("cooccurrence", MethodContext(graph=graph, features=None, split=split))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dualgnn.classics.baselines import CooccurrenceScorer, PopularityScorer, TextKNNScorer
from dualgnn.classics.scorers import CLASSICS
from dualgnn.errors import ArtifactError
from dualgnn.graph import ProductGraph
from dualgnn.ranking.production import RANKER_CLASSICS, ranker_classics
from dualgnn.scoring import EmbeddingScorer, Scorer
from dualgnn.split import Split

#: Baseline rows (the default list). ``cooccurrence`` is DESIGN.md's A.A + A.C + C.A; ``cooccurrence-rev`` adds the
#: reverse edge A^T with a tuned weight; ``pagerank``, ``rp3beta``, ``ease``, ``item-knn`` are tuned classics
#: (item-item ones with the directed profile).
BASELINES = ("popularity", "cooccurrence", "cooccurrence-rev", "text-knn", "pagerank", "rp3beta", "ease", "item-knn")
#: Selectable with ``--methods`` but not in the default list: the classics with the textbook (out-list) profile.
EXTRA_BASELINES = tuple(m for m in CLASSICS if m not in BASELINES)
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
#: Two-stage rows: retrieve with the GNN, the classics and short paths, re-rank with LambdaRank.
RANKERS = ("ranker",)


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
    #: Where the classics are tuned (default ``split``; evaluate passes the edge split when fitting a node split).
    tuning_split: Split | None = None
    #: method -> tuning record, shared by the splits of one evaluation so a node split reuses the edge split's.
    tuned: dict = field(default_factory=dict)
    seed: int = 0
    #: The GNN rows' model seed (None: the preset's); the split and the tuning sample have their own, ``seed``.
    model_seed: int | None = None
    #: method -> (source, target) of the GNN rows trained on ``split``: the ranker reuses the dualgnn row's.
    embeddings: dict = field(default_factory=dict)


def fit_method(method: str, ctx: MethodContext) -> Scorer:
    """A fitted :class:`Scorer` for ``method``, learning from ``ctx.split``'s training edges only (no leakage)."""
    n, split = ctx.graph.num_products, ctx.split
    if method == "popularity":
        return PopularityScorer(split.train_copurchase, n)
    if method == "cooccurrence":
        return CooccurrenceScorer(split.train_copurchase, split.train_coview, n)
    if method in CLASSICS:
        return _classic_scorer(method, ctx)
    if method == "text-knn":
        return TextKNNScorer(ctx.features.text)
    if method in RANKERS:
        return _ranker_scorer(ctx)
    source, target = _gnn_embeddings(method, ctx)
    return EmbeddingScorer(source, target, name=method)


def _classic_scorer(method: str, ctx: MethodContext) -> Scorer:
    """Tune ``method`` on the tuning split's validation edges once, then fit it on ``ctx.split``'s training edges.

    The scorer carries its tuning record as ``.tuning`` (values, validation HR@10 / MRR@10, seconds)."""
    from dualgnn.classics.tuning import fit_classic

    record, fitted = _tuned(method, ctx)
    if fitted is not None:
        return fitted
    scorer = fit_classic(method, ctx.split.train_copurchase, ctx.split.train_coview, ctx.graph.num_products,
                         record["params"])
    scorer.tuning = record
    return scorer


def _tuned(method: str, ctx: MethodContext) -> tuple[dict, Scorer | None]:
    """``method``'s tuning record (tuned on the tuning split's validation edges the first time it is asked for),
    with the tuned scorer when that tuning just ran on ``ctx.split`` itself (else None: fit it where needed)."""
    from dualgnn.classics.tuning import tune

    if method in ctx.tuned:
        return ctx.tuned[method], None
    on = ctx.tuning_split or ctx.split
    tuned = tune(method, on.train_copurchase, on.train_coview, on.val_copurchase, ctx.graph.num_products,
                 seed=ctx.seed, log=ctx.log)
    ctx.tuned[method] = {**tuned.describe(), "tuned_on": f"{on.settings.kind} split validation edges"}
    ctx.log(f"tuned {method} in {tuned.seconds:.1f}s on {tuned.pairs:,} validation pairs: "
            f"{format_params(tuned.params)}")
    if on is not ctx.split:
        return ctx.tuned[method], None
    tuned.scorer.tuning = ctx.tuned[method]
    return ctx.tuned[method], tuned.scorer


def format_params(params: dict) -> str:
    """``beta=0.25 cv=0.5 | self=0.5 out=1 rev=0.5``: structure, then the non-zero knobs."""
    structure = " ".join(f"{k}={v:g}" for k, v in params.get("structure", {}).items())
    knobs = " ".join(f"{k}={v:g}" for k, v in params.get("knobs", {}).items() if v)
    return f"{structure} | {knobs}" if structure else knobs


def _ranker_scorer(ctx: MethodContext) -> Scorer:
    """The dualgnn row's GNN (trained here only if that row has not been), the tuned classics and the LambdaRank
    model fitted on ``ctx.split``'s validation edges; ``.tuning`` records its choices and fitting seconds."""
    import time

    from dualgnn.ranking.candidates import RankInputs
    from dualgnn.ranking.ranker import fit_ranker

    reused = "dualgnn" in ctx.embeddings
    source, target = _gnn_embeddings("dualgnn", ctx)
    t0 = time.perf_counter()
    params = {m: _tuned(m, ctx)[0]["params"] for m in RANKER_CLASSICS}  # the rows' values, fitted here cut
    classics = ranker_classics(ctx.split.train_copurchase, ctx.split.train_coview, ctx.graph.num_products, params)
    inputs = RankInputs.from_split(ctx.split, ctx.graph.num_products, source, target, classics, ctx.features)
    scorer = fit_ranker(inputs, ctx.split.val_copurchase, seed=ctx.seed, log=ctx.log)
    scorer.tuning.update(seconds=round(time.perf_counter() - t0, 2), per_split=True,
                         gnn="the dualgnn row's, reused" if reused else "trained for this row (no dualgnn row yet)",
                         classics=params,
                         tuned_on=f"{ctx.split.settings.kind} split validation edges")
    return scorer


def _gnn_embeddings(method: str, ctx: MethodContext) -> tuple[np.ndarray, np.ndarray]:
    """``(source, target)`` of GNN row ``method`` on ``ctx.split``, trained (or loaded) once per context."""
    if method not in ctx.embeddings:
        ctx.embeddings[method] = _gnn_vectors(method, ctx)
    return ctx.embeddings[method]


def _gnn_vectors(method: str, ctx: MethodContext) -> tuple[np.ndarray, np.ndarray]:
    from dualgnn.config import TrainConfig
    from dualgnn.training.loop import train

    split = ctx.split
    preset, overrides = GNN_VARIANTS[method]
    budget = ctx.epochs or TrainConfig.preset("default").epochs
    seeded = {} if ctx.model_seed is None else {"seed": ctx.model_seed}
    config = TrainConfig.preset(preset, **overrides, **seeded, epochs=budget)
    if method == "dualgnn" and ctx.model_dir is not None:
        loaded = _load_model_checked(ctx)
        if split.settings.kind == "edge":
            return np.asarray(loaded.source), np.asarray(loaded.target)
        # The stored model has seen the cold products' edges: retrain its config on the node split.
        config = loaded.config if ctx.epochs is None else loaded.config.replace(epochs=ctx.epochs)
    ctx.log(f"training {method} ({preset} preset{', ' + str(overrides) if overrides else ''}, "
            f"{config.epochs} epochs) on the {split.settings.kind} split")
    # A node split's cold products get their rows through the paper's cold-start path inside train().
    result = train(ctx.graph, ctx.features, split, config, progress=ctx.train_progress)
    return np.asarray(result.source), np.asarray(result.target)


def _load_model_checked(ctx: MethodContext):
    from dualgnn.artifacts import graph_fingerprint
    from dualgnn.model.io import load_model

    loaded = load_model(ctx.model_dir)
    if getattr(loaded, "fingerprint", None) and loaded.fingerprint != graph_fingerprint(ctx.graph):
        raise ArtifactError(f"{ctx.model_dir} was trained on another graph", hint="evaluate it with its own artifacts")
    return loaded

