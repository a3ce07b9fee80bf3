"""The training loop: fresh negatives each step, a finite-loss check, validation HR@10 with full ranking, early
stopping that keeps the best weights, an atomic checkpoint every epoch and exact resume.

>>> result = train(graph, features, split, TrainConfig.preset("default"), out_dir=Path("run"))  # doctest: +SKIP
>>> EmbeddingScorer(result.source, result.target).recommend(np.array([0]), 10)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from dualgnn.config import TrainConfig
from dualgnn.errors import DualGNNError
from dualgnn.graph import ProductGraph
from dualgnn.metrics import rank_targets
from dualgnn.model.embed import embed_all, training_graph
from dualgnn.model.encoder import build_model
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.io import TrainResult
from dualgnn.scoring import EmbeddingScorer, adjacency
from dualgnn.split import Split
from dualgnn.training.checkpoints import data_fingerprints
from dualgnn.training.history import EpochProgress, write_history
from dualgnn.training.memory import keep_freed_memory, release_freed_memory
from dualgnn.training.optim import averaged_weights, init_optimizer_state, make_optimizer, new_ema, update_ema
from dualgnn.training.steps import make_step

MAX_VAL_EDGES = 5000  # validation edges scored per evaluation (a seeded subset on big graphs keeps epochs short)
FULL_GRAPH_SHARE = 0.6  # share of physical memory a full-graph step may use (mode "auto"), see choose_mode


class NonFiniteLossError(DualGNNError):
    """The training loss became NaN or infinite."""


def choose_mode(config: TrainConfig, num_nodes: int, num_edges: int, budget: float | None = None) -> str:
    """"full" unless the estimated peak memory of a full-graph step exceeds ``budget`` (default: 60% of RAM).

    Sum, mean and weighted aggregation never materialise per-edge messages (fused or CSR sparse products), so a
    step holds about ``8 + 16 * layers`` (n, hidden) float32 tensors (calibrated: 1M products, 2 layers, 64-d
    peaked at 10.5 GB); attention also keeps logits and messages per edge. Beyond the budget, neighbour-sampled
    mini-batches (which at 2-3 hops touch most of a graph per batch, so are much slower per epoch).
    """
    if config.mode != "auto":
        return config.mode
    h, layers = config.hidden_dim, max(config.num_layers, 1)
    estimate = 4 * h * num_nodes * (8 + 16 * layers)
    if config.aggregation == "attention":
        estimate += 4 * (h + 4) * num_edges * layers * 3
    if budget is None:
        budget = FULL_GRAPH_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return "full" if estimate <= budget else "sampled"


def validation_score(source, target, split: Split, exclude) -> dict[str, float]:
    """HR@10 / MRR@10 on (a seeded subset of) ``split.val_copurchase``, full ranking filtered by ``exclude``."""
    val = split.val_copurchase
    if len(val) == 0:
        return {"HR@10": float("nan"), "MRR@10": float("nan")}
    idx = np.arange(len(val))
    if len(val) > MAX_VAL_EDGES:
        idx = np.sort(np.random.default_rng(0).choice(len(val), MAX_VAL_EDGES, replace=False))
    stats = rank_targets(EmbeddingScorer(source, target), val.src[idx], val.dst[idx], exclude)
    return stats.summary(ks=(10,))


def train(graph: ProductGraph, features, split: Split, config: TrainConfig, *, out_dir: Path | None = None,
          resume: bool = False, progress: bool = True, fast_alloc: bool = False,
          serve_split: Split | None = None) -> TrainResult:
    """Train on ``split``'s training edges; early-stop on validation HR@10; return the best model's embeddings.

    ``serve_split``: the split whose training edges the returned vectors propagate over (a shipped model's:
    :func:`dualgnn.split.whole_graph`, every edge, the validation slice included); default ``split``.

    ``fast_alloc``: from the first step on, serve allocations from a heap that keeps freed memory
    (:func:`dualgnn.training.memory.keep_freed_memory`; process-wide, for the rest of the process). Everything long-lived
    (graph, features, weights, optimiser state, averaged weights) is allocated before it, so the heap holds only
    the steps' temporaries.

    ``out_dir`` receives checkpoints/last.pt (every epoch), history.json and training_curve.png. ``resume``
    continues from the last checkpoint there (same config required).
    """
    from dualgnn.training.checkpoints import Checkpointer

    torch.manual_seed(config.seed)
    n = graph.num_products
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(features)
    if len(inputs) != n:
        raise DualGNNError(f"features have {len(inputs)} rows but the graph has {n} products",
                           hint="rebuild the features for this graph (dualgnn build-graph)")
    model = build_model(config, inputs)
    optimizer = make_optimizer(model, config)
    init_optimizer_state(optimizer)
    generator = torch.Generator().manual_seed(config.seed)
    cold = np.asarray(split.cold, np.int64) if split.settings.kind == "node" else np.zeros(0, np.int64)
    mode = choose_mode(config, n, g.num_edges())
    step = make_step(mode, model, g, inputs, split, config, generator, cold)
    exclude = adjacency(split.train_copurchase.src, split.train_copurchase.dst, n)

    ckpt = Checkpointer(out_dir, config, data_fingerprints(graph, features, split)) if out_dir is not None else None
    state = {"epoch": 0, "history": [], "best_state": None, "best_epoch": 0, "best_val": -math.inf, "bad_epochs": 0,
             "ema": new_ema(model, config.ema_decay), "ema_steps": 0}
    if resume and ckpt is not None:
        state = ckpt.restore(model, optimizer, generator) or state

    if fast_alloc and not keep_freed_memory():
        warnings.warn("fast_alloc needs glibc; training with the default allocator", RuntimeWarning, stacklevel=2)
    bar = EpochProgress(config.epochs, enabled=progress, start=state["epoch"])
    try:
        for epoch in range(state["epoch"] + 1, config.epochs + 1):
            record = run_epoch(model, optimizer, step, state, config, epoch)
            release_freed_memory()
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                with averaged_weights(model, state["ema"]):
                    s, t = embed_all(model, g, inputs, cold)
                    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                keep_best(state, record, validation_score(s, t, split, exclude), weights)
                del s, t, weights  # two (n, served width) tables: not kept beside the next epoch's steps
            state["history"].append(record)
            state["epoch"] = epoch
            if ckpt is not None:
                ckpt.save(model, optimizer, generator, state)
            bar.update(record, state["best_val"])
            if state["bad_epochs"] >= config.patience and len(split.val_copurchase):
                break  # without validation edges the whole epoch budget runs
    finally:
        bar.close()

    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    if serve_split is not None:  # the trained weights over the graph the shop serves from
        del step
        g = training_graph(graph, serve_split, config)
    source, target = embed_all(model, g, inputs, cold)
    best_val = state["best_val"] if len(split.val_copurchase) else float("nan")
    result = TrainResult(config, model, source, target, state["history"], state["best_epoch"], best_val)
    if out_dir is not None:
        write_history(Path(out_dir), result.history)
    return result


def run_epoch(model, optimizer, step, state: dict, config: TrainConfig, epoch: int) -> dict:
    """One epoch of ``step``'s batches: backward, optimiser step and averaged weights after each; a non-finite loss
    stops training. Returns the epoch's record (mean loss, seconds)."""
    t0 = time.perf_counter()
    model.train()
    losses = []
    for batch_loss in step():
        if not torch.isfinite(batch_loss):
            raise NonFiniteLossError(
                f"training loss became {batch_loss.item()} at epoch {epoch}",
                hint="lower --lr, raise the temperature, or check the features for NaN/inf values")
        optimizer.zero_grad()
        batch_loss.backward()
        optimizer.step()
        state["ema_steps"] += 1
        state["ema"] = update_ema(state["ema"], model, config.ema_decay, state["ema_steps"])
        losses.append(batch_loss.item())
    return {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0}


def keep_best(state: dict, record: dict, val: dict[str, float], weights: dict) -> None:
    """Early stopping's bookkeeping: ``weights`` become the best when validation HR@10 improved (without
    validation edges, when the training loss fell; best_val then holds minus that loss)."""
    if np.isfinite(val["HR@10"]):
        record.update({"val_hr10": val["HR@10"], "val_mrr10": val["MRR@10"]})
    score = val["HR@10"] if np.isfinite(val["HR@10"]) else -record["loss"]
    if score > state["best_val"]:
        state.update(best_val=score, best_epoch=record["epoch"], bad_epochs=0, best_state=weights)
    else:
        state["bad_epochs"] += 1
