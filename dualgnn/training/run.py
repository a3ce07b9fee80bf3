"""One call behind ``dualgnn train``: a :class:`TrainRequest` in, a model directory out.

By default the model is the one a shop ships: it learns from every co-purchase edge but a seeded validation slice
(which only decides when to stop) and its served vectors propagate over every edge. With ``split`` it is a model
for ``dualgnn evaluate --model``: the split's test edges never reach it.

>>> run_train(TrainRequest(artifacts=Path("graph"), out=Path("model"), overrides={"epochs": 5}))  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dualgnn.config import TrainConfig
from dualgnn.errors import SettingsError
from dualgnn.split import EVAL_SHARES, Split, SplitSettings, production_settings


@dataclass(frozen=True, kw_only=True)
class TrainRequest:
    """Everything ``dualgnn train`` was asked. ``overrides``: TrainConfig fields over the ``preset``'s values;
    ``split``: train,validation,test shares of an evaluation split (None: production training with
    ``validation``); ``split_kind`` ``node`` holds out products (cold start) instead of edges."""

    artifacts: Path
    out: Path
    preset: str = "default"
    overrides: dict = field(default_factory=dict)
    validation: float = 0.05
    split: tuple[float, float, float] | None = None
    split_seed: int = 0
    split_kind: str = "edge"
    resume: bool = False
    fast_alloc: bool = False
    progress: bool = True
    #: Fit the second stage (:mod:`dualgnn.ranking.production`) on the validation edges; recommend uses it.
    ranker: bool = True

    def __post_init__(self) -> None:
        self.config()  # settings errors before any work
        self.split_settings()

    @property
    def production(self) -> bool:
        return self.split is None and self.split_kind == "edge"

    def config(self) -> TrainConfig:
        return TrainConfig.preset(self.preset, **self.overrides)

    def split_settings(self) -> SplitSettings:
        if self.production:
            return production_settings(self.validation, self.split_seed)
        if self.split_kind not in ("edge", "node"):
            raise SettingsError(f"--split-kind must be edge or node, not {self.split_kind!r}", option="--split-kind")
        return SplitSettings(kind=self.split_kind, ratios=self.split or EVAL_SHARES, seed=self.split_seed)


@dataclass
class TrainOutcome:
    """What was trained: the model directory, what it learnt from (:func:`training_summary`), its best epoch."""

    out: Path
    learnt: dict
    best_epoch: int
    best_val: float
    epochs_run: int
    validation_edges: int


def run_train(req: TrainRequest, say: Callable[[str], None] = lambda _line: None) -> TrainOutcome:
    """Train as ``req`` says and write the model directory atomically; ``say`` gets the line that says what the
    model learns from, before training starts."""
    from dualgnn.artifacts import graph_fingerprint, load_graph
    from dualgnn.features.store import Features
    from dualgnn.model.catalog import write_catalog
    from dualgnn.model.io import save_model
    from dualgnn.outputs import claim_output
    from dualgnn.ranking.production import save_shipped_ranker
    from dualgnn.split import load_or_make_split, whole_graph
    from dualgnn.training.loop import train
    from dualgnn.training.memory import allocator_in_use

    config = req.config()
    with claim_output(req.out, kind="model", inputs=[req.artifacts]):
        graph = load_graph(req.artifacts)
        features = Features.load(req.artifacts)
        chosen = load_or_make_split(graph, req.split_settings(), req.artifacts)
        # Checkpoints live beside the model directory (which is replaced atomically at the end), so --resume finds
        # them; they record the graph, features and split they were made on.
        work = req.out.with_name(f".{req.out.name}.training")
        learnt = training_summary(graph, chosen, req.production)
        learnt["allocator"] = allocator_in_use()  # jemalloc when the entry point found it (training/memory.py)
        say(describe_training(req.preset, graph.num_products, learnt))
        result = train(graph, features, chosen, config, out_dir=work, resume=req.resume, progress=req.progress,
                       fast_alloc=req.fast_alloc, serve_split=whole_graph(graph) if req.production else None)
        # The split goes inside the same atomic swap: evaluate checks a model is scored on the split it learnt from.
        # What refresh needs (ids, served edges, features reference) is kept beside the weights.
        served = graph.copurchase if req.production else chosen.train_copurchase
        extra = [lambda d: chosen.save(d / "split.npz"), lambda d: write_catalog(d, graph, features, served)]
        ranker, learnt["ranker"] = _fit_ranker(req, graph, features, chosen, result, say)
        if ranker is not None:
            extra.append(lambda d: save_shipped_ranker(ranker, d, graph))
        save_model(req.out, result, graph_fingerprint(graph), features_fingerprint=features.fingerprint(),
                   extra=extra, training=learnt)
        shutil.rmtree(work, ignore_errors=True)
    return TrainOutcome(req.out, learnt, result.best_epoch, result.best_val, len(result.history),
                        len(chosen.val_copurchase))


def _fit_ranker(req: TrainRequest, graph, features, split: Split, result, say) -> tuple[object, dict]:
    """The second stage on the split's validation edges and what the manifest records of it: ``(ranker, record)``,
    the ranker None when it was not asked for, had no validation edges, or is not worth shipping."""
    if not req.ranker:
        return None, {"shipped": False, "reason": "--no-ranker"}
    if len(split.val_copurchase) == 0:
        say("no validation edges: no ranker fitted (recommend ranks with the GNN alone)")
        return None, {"shipped": False, "reason": "no validation edges"}
    from dualgnn.errors import DualGNNError
    from dualgnn.ranking.production import fit_shipped_ranker, too_few_queries, worth_shipping

    why_not, tuning = too_few_queries(split.val_copurchase), {}
    if why_not is None:
        try:
            ranker = fit_shipped_ranker(graph, features, split, result, seed=result.config.seed, log=say)
        except DualGNNError as exc:  # e.g. no validation query has a positive among its candidates
            why_not = f"it could not be fitted: {exc.message}"
        else:
            tuning, why_not = ranker.tuning, worth_shipping(ranker.tuning)
            if why_not is None:
                return ranker, {"shipped": True, **tuning}
    say(f"the ranker is not shipped: {why_not}; recommend ranks with the GNN alone")
    return None, {"shipped": False, "reason": why_not, **tuning}


def training_summary(graph, split: Split, production: bool) -> dict:
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
