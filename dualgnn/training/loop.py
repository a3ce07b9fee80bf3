"""The training loop: fresh negatives each step, a finite-loss check, validation HR@10 with full ranking, early
stopping that keeps the best weights, an atomic checkpoint every epoch and exact resume.

>>> result = train(graph, features, split, TrainConfig.preset("default"), out_dir=Path("run"))  # doctest: +SKIP
>>> EmbeddingScorer(result.source, result.target).recommend(np.array([0]), 10)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dualgnn.artifacts import atomic_path, write_json
from dualgnn.config import TrainConfig
from dualgnn.errors import DualGNNError
from dualgnn.graph import Edges, ProductGraph, symmetrise
from dualgnn.training.memory import keep_freed_memory, release_freed_memory
from dualgnn.metrics import rank_targets
from dualgnn.model.encoder import DualGNN, NodeInputs, add_edge_norms, build_model
from dualgnn.scoring import EmbeddingScorer, adjacency
from dualgnn.split import Split
from dualgnn.training.steps import make_step

MAX_VAL_EDGES = 5000  # validation edges scored per evaluation (a seeded subset on big graphs keeps epochs short)
FULL_GRAPH_SHARE = 0.6  # share of physical memory a full-graph step may use (mode "auto"), see choose_mode


class NonFiniteLossError(DualGNNError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """A trained model and its embeddings: ``source``, ``target`` float32 (n, hidden_dim), one row per product,
    computed on the training graph (cold products of a node split through the cold-start path)."""

    config: TrainConfig
    model: DualGNN
    source: np.ndarray
    target: np.ndarray
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val: float = float("nan")


def training_graph(graph: ProductGraph, split: Split, config: TrainConfig):
    """The DGL graph message passing runs on. No leakage: built from ``split.train_copurchase`` and
    ``split.train_coview`` only, so held-out edges never feed message passing (nor, below, negatives)."""
    n = graph.num_products
    cp = split.train_copurchase if config.directed else symmetrise(split.train_copurchase, n)
    cv = split.train_coview if config.use_coview else Edges.empty()
    g = graph.to_dgl(copurchase=cp, coview=cv)
    add_edge_norms(g)
    return g


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


@torch.no_grad()
def embed_all(model: DualGNN, g, inputs: NodeInputs, cold: np.ndarray | None = None,
              known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Served source and target vectors for every product (n, d) float32 (d = hidden_dim [+1 with target_bias],
    doubled by the reciprocity blend: :meth:`DualGNN.serve`). ``cold`` products (no training edges) take the
    paper's cold-start path instead of their isolated-node vectors. ``known`` (n,) bool: products with learned
    per-product rows (default all; a refreshed catalog's new products have none)."""
    model.eval()
    n = len(inputs)
    warm = torch.ones(n)
    if cold is not None and len(cold):
        warm[torch.from_numpy(cold)] = 0.0
    id_mask = warm if known is None else warm * torch.from_numpy(np.asarray(known, np.float32))
    s, t = model.embed_rows(g, inputs, id_mask=id_mask)  # = model.serve(*model(g, ...)), in row blocks
    s, t = s.numpy(), t.numpy()  # fresh buffers of this call: no copy needed
    if cold is not None and len(cold):
        from dualgnn.model.coldstart import cold_start_embeddings

        cs, ct = cold_start_embeddings(model, model.config, g, inputs, cold, warm.numpy() > 0)
        s[cold], t[cold] = cs, ct
    return s, t


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, fused: one kernel per parameter and no (rows, h) temporaries for the id-vector table."""
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)


def update_ema(ema: dict | None, model: torch.nn.Module, decay: float, step: int) -> dict | None:
    """Move the averaged weights ``ema`` towards the model's (None = start from them); a no-op when decay is 0.

    The decay warms up as min(decay, (1 + step) / (10 + step)) (as TensorFlow's ExponentialMovingAverage with
    num_updates), so the average does not drag the random initial weights along in short runs."""
    if decay <= 0:
        return None
    decay = min(decay, (1.0 + step) / (10.0 + step))
    fresh = ema is None or step <= 1  # the average starts at the first step's weights
    if ema is None:
        ema = new_ema(model, decay)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if fresh or not v.is_floating_point():
                ema[k].copy_(v)
            else:
                ema[k].lerp_(v, 1.0 - decay)
    return ema


def new_ema(model: torch.nn.Module, decay: float) -> dict | None:
    """Buffers for the averaged weights (filled by the first :func:`update_ema`), made before training starts so
    that long-lived memory is not allocated between a step's temporaries (see :func:`init_optimizer_state`)."""
    if decay <= 0:
        return None
    return {k: torch.empty_like(v) for k, v in model.state_dict().items()}


def init_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Create the optimiser's per-parameter state now, with the values its lazy creation at the first step would
    give (a zero-learning-rate step on zero gradients, then the step counts reset).

    Why: Adam's moments for the id-vector table are two (n, h) tensors that live as long as training. Made lazily,
    they land in whatever memory the first step's temporaries just freed; with the heap-only allocator
    (``--fast-alloc``) every later step's temporaries then have to fit around them, and the peak grows
    (``python bench/step_timer.py GRAPH_DIR --fast-alloc`` measures it)."""
    saved = [(group["lr"], group.get("weight_decay", 0.0)) for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = 0.0
        if "weight_decay" in group:
            group["weight_decay"] = 0.0  # else the decay term would enter the moments
        for p in group["params"]:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    for group, (lr, decay) in zip(optimizer.param_groups, saved):
        group["lr"] = lr
        if "weight_decay" in group:
            group["weight_decay"] = decay
        for p in group["params"]:
            p.grad = None
            step = optimizer.state[p].get("step")
            if torch.is_tensor(step):
                step.zero_()
            elif step is not None:
                optimizer.state[p]["step"] = 0


@contextmanager
def averaged_weights(model: torch.nn.Module, ema: dict | None):
    """Inside the block the model carries the averaged weights (if any); the training weights come back after."""
    if ema is None:
        yield
        return
    training = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema)
    try:
        yield
    finally:
        model.load_state_dict(training)


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
    from dualgnn.model.io import Checkpointer

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
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0}
            model.clear_buffers()  # validation and the checkpoint start from live memory
            release_freed_memory()
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                with averaged_weights(model, state["ema"]):
                    s, t = embed_all(model, g, inputs, cold)
                    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                val = validation_score(s, t, split, exclude)
                del s, t  # two (n, served width) tables: not kept beside the next epoch's steps
                if np.isfinite(val["HR@10"]):
                    record.update({"val_hr10": val["HR@10"], "val_mrr10": val["MRR@10"]})
                # Without validation edges the lowest training loss picks the epoch (best_val stays NaN below).
                score = val["HR@10"] if np.isfinite(val["HR@10"]) else -record["loss"]
                if score > state["best_val"]:
                    state.update(best_val=score, best_epoch=epoch, bad_epochs=0, best_state=weights)
                else:
                    state["bad_epochs"] += 1
                del weights
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


def data_fingerprints(graph: ProductGraph, features, split: Split) -> dict[str, str]:
    """What a checkpoint must match to be resumed: the graph's ids, the features' settings and the split's edges."""
    from dualgnn.artifacts import graph_fingerprint

    prints = {"graph": graph_fingerprint(graph), "split": split.digest()}
    if hasattr(features, "fingerprint"):
        prints["features"] = features.fingerprint()
    return prints


class EpochProgress:
    """A rich progress bar over epochs showing the last loss and validation HR@10 (silent when disabled)."""

    def __init__(self, epochs: int, *, enabled: bool, start: int = 0) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                TextColumn("{task.fields[info]}"), transient=False)
            self.task = self.bar.add_task("train", total=epochs, completed=start, info="")
            self.bar.start()

    def update(self, record: dict, best: float) -> None:
        if self.bar is None:
            return
        info = f"loss {record['loss']:.4f}"
        if "val_hr10" in record:
            info += f"  val HR@10 {record['val_hr10']:.3f} (best {best:.3f})"
        self.bar.update(self.task, advance=1, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def write_history(out_dir: Path, history: list[dict]) -> None:
    """history.json and training_curve.png (loss and validation HR@10 per epoch)."""
    write_json(out_dir / "history.json", history)
    write_training_curve(out_dir / "training_curve.png", history)


def write_training_curve(path: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["loss"] for h in history], color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:blue")
    val = [(h["epoch"], h["val_hr10"]) for h in history if "val_hr10" in h]
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), color="tab:orange", marker="o", ms=3, label="validation HR@10")
        ax2.set_ylabel("validation HR@10", color="tab:orange")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def load_history(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())
