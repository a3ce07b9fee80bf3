"""A straightforward reference trainer of the DualGNN model with the paper's sampling settings, for speed
comparisons against ``dualgnn.training.loop`` (the benchmark issue: "training speed side by side against a
straightforward reference implementation of the same model with the paper's settings").

Why it exists: our trainer propagates over the full training graph; the paper (and most DGL code) trains on
neighbour-sampled mini-batches. To claim a speed-up we need the textbook DGL pipeline, written plainly:

* ``dgl.dataloading.NeighborSampler([20, 10, 10])`` wrapped by ``as_edge_prediction_sampler``: the seeds of a
  batch are both ends of 1024 training co-purchase edges (plus both ends of the batch's co-view pairs);
* ``dgl.dataloading.DataLoader`` over the training co-purchase edge ids (shuffle, batch 1024, no workers);
* the same :class:`dualgnn.model.encoder.DualGNN` (3 layers, ``forward_blocks``), the same default softmax loss
  (:func:`dualgnn.training.losses.softmax_loss` with the config's weights, as ``batch_loss`` passes them) with the batch's
  own seed nodes as candidates (in-batch negatives), the direction margin and the co-view term; Adam, lr 5e-3.
  ``softmax_loss`` is called directly so that the candidate set stays exactly "this batch's seeds" whatever
  ``batch_loss``'s candidate heuristics become.

No leakage: message passing, positives and co-view pairs come only from the split's training edges
(:func:`dualgnn.model.embed.training_graph`). As in our own trainer, a batch's own edges are not removed from its
message-passing graph (``exclude=None``): both are transductive over the training graph, so they compare fairly.

    python bench/reference.py scratch/ref/g100k --budget 180 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from dualgnn._dgl_compat import dgl
from dualgnn.artifacts import load_graph
from dualgnn.config import TrainConfig
from dualgnn.features.store import Features
from dualgnn.model.embed import embed_all, training_graph
from dualgnn.model.encoder import build_model
from dualgnn.model.inputs import NodeInputs
from dualgnn.scoring import adjacency
from dualgnn.split import SplitSettings, make_split
from dualgnn.training.loop import validation_score
from dualgnn.training.losses import loss_weights, softmax_loss
from dualgnn.training.steps import TrainEdges, id_mask

FANOUTS = (20, 10, 10)
BATCH_SIZE = 1024
CP, CV = "copurchase", "coview"


class CoviewEdgeSampler(dgl.dataloading.Sampler):
    """Adds co-view pairs to each batch of co-purchase edge ids, then defers to an edge-prediction sampler.

    Why: the co-view loss term needs co-view pairs whose endpoints are seeds of the same blocks. Like
    ``dualgnn.training.steps.TrainEdges.batches`` we draw ``per_batch`` training co-view edges uniformly (with
    replacement) per batch; putting them in the seed-edge dict makes ``as_edge_prediction_sampler`` include their
    endpoints in the pair graph, hence among the output nodes.
    """

    def __init__(self, inner: dgl.dataloading.Sampler, num_coview: int, per_batch: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.inner, self.num_coview, self.per_batch, self.generator = inner, num_coview, per_batch, generator

    def sample(self, g, seed_edges):
        """(input_nodes, pair_graph, blocks) for a batch of co-purchase edge ids plus fresh co-view pairs."""
        cp = seed_edges[CP] if isinstance(seed_edges, dict) else seed_edges
        cv = torch.randint(0, max(self.num_coview, 1), (self.per_batch if self.num_coview else 0,),
                           generator=self.generator)
        return self.inner.sample(g, {CP: cp, CV: cv})


def _local_pairs(pair_graph, etype: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(src, dst, eid) of ``etype`` in the compacted pair graph: src/dst index the output (seed) rows."""
    src, dst = pair_graph.edges(etype=etype)
    return src, dst, pair_graph.edges[etype].data[dgl.EID]


def reference_train(graph_dir: Path, *, budget_seconds: float, seed: int = 0,
                    max_batches: int | None = None) -> dict:
    """Train the reference for at most ``budget_seconds`` of wall time, ``max_batches`` batches or one epoch
    (whichever comes first), then score validation HR@10 exactly as ``dualgnn.training.loop`` does.

    Per-batch times are split into sampling (the DataLoader's ``next``), forward + loss, and backward + step;
    medians are reported so that warm-up batches do not skew them. ``epoch_seconds_estimate`` is the median
    batch time times the number of batches per epoch: a measurement when ``epoch_completed``, otherwise an
    extrapolation (``epoch_seconds_basis`` says which).
    """
    t_setup = time.perf_counter()
    torch.manual_seed(seed)
    dgl.seed(seed)  # NeighborSampler draws from DGL's RNG
    np.random.seed(seed)  # DGL 2.1's DataLoader shuffles with numpy's global RNG (dataloader.py)
    generator = torch.Generator().manual_seed(seed)
    graph = load_graph(graph_dir)
    inputs = NodeInputs.from_features(Features.load(graph_dir))
    split = make_split(graph, SplitSettings())
    n = graph.num_products
    config = TrainConfig.preset("default", num_layers=3, fanouts=FANOUTS, batch_size=BATCH_SIZE, mode="sampled",
                                seed=seed)
    g = training_graph(graph, split, config)
    edges = TrainEdges.from_split(split, config, n)  # one_way per training edge id; co-view pairs = g's coview edge ids
    num_train, num_cv = len(edges.src), len(edges.cv_src)
    batches_per_epoch = max(1, math.ceil(num_train / BATCH_SIZE))
    cv_per_batch = min(num_cv, math.ceil(num_cv / batches_per_epoch)) if num_cv else 0  # as dualgnn.training.steps

    model = build_model(config, inputs)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warm = torch.ones(n)
    cold = np.asarray(split.cold, np.int64)
    if len(cold):
        warm[torch.from_numpy(cold)] = 0.0

    sampler = CoviewEdgeSampler(
        dgl.dataloading.as_edge_prediction_sampler(dgl.dataloading.NeighborSampler(list(FANOUTS))),
        num_cv, cv_per_batch, generator)
    loader = dgl.dataloading.DataLoader(g, {CP: torch.arange(num_train)}, sampler, batch_size=BATCH_SIZE,
                                        shuffle=True, drop_last=False, num_workers=0)
    setup_seconds = time.perf_counter() - t_setup

    times: dict[str, list[float]] = {"sample": [], "forward": [], "backward": [], "batch": []}
    input_sizes, seed_sizes, losses = [], [], []
    weights = {"temperature": config.temperature, **loss_weights(config)}
    model.train()
    start = time.perf_counter()
    batches = iter(loader)
    while True:
        t0 = time.perf_counter()
        try:
            input_nodes, pair_graph, blocks = next(batches)
        except StopIteration:
            break
        t1 = time.perf_counter()
        input_nodes = input_nodes["product"] if isinstance(input_nodes, dict) else input_nodes
        src, dst, eid = _local_pairs(pair_graph, CP)
        cv_src, cv_dst, _ = _local_pairs(pair_graph, CV)
        s, t = model.forward_blocks(blocks, inputs, input_nodes,
                                    id_mask=id_mask(n, warm, config.id_dropout, generator))
        loss = softmax_loss(s, t, src, dst, edges.one_way[eid], cv_src, cv_dst, candidates=None, **weights)
        t2 = time.perf_counter()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"reference loss became {loss.item()} at batch {len(losses) + 1}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        t3 = time.perf_counter()
        for key, value in (("sample", t1 - t0), ("forward", t2 - t1), ("backward", t3 - t2), ("batch", t3 - t0)):
            times[key].append(value)
        input_sizes.append(len(input_nodes))
        seed_sizes.append(pair_graph.num_nodes())
        losses.append(loss.item())
        if t3 - start >= budget_seconds or (max_batches is not None and len(losses) >= max_batches):
            break
    wall = time.perf_counter() - start
    batches_run = len(losses)
    epoch_completed = batches_run >= batches_per_epoch

    t_eval = time.perf_counter()
    source, target = embed_all(model, g, inputs, cold if len(cold) else None)
    exclude = adjacency(split.train_copurchase.src, split.train_copurchase.dst, n)
    val = validation_score(source, target, split, exclude)
    eval_seconds = time.perf_counter() - t_eval

    med = {k: float(np.median(v)) if v else float("nan") for k, v in times.items()}
    estimate = med["batch"] * batches_per_epoch
    basis = (f"measured: full epoch of {batches_per_epoch} batches took {wall:.1f} s" if epoch_completed else
             f"extrapolated from {batches_run} of {batches_per_epoch} batches")
    return {
        "seconds_per_batch_median": med["batch"],
        "sample_seconds_median": med["sample"],
        "forward_seconds_median": med["forward"],
        "backward_seconds_median": med["backward"],
        "batches_per_epoch": batches_per_epoch,
        "epoch_seconds_estimate": estimate,
        "epoch_seconds_basis": basis,
        "epoch_completed": epoch_completed,
        "batches_run": batches_run,
        "wall_seconds": wall,
        "val_hr10": float(val["HR@10"]),
        "val_mrr10": float(val["MRR@10"]),
        "fanouts": list(FANOUTS),
        "batch_size": BATCH_SIZE,
        "input_nodes_median": float(np.median(input_sizes)) if input_sizes else float("nan"),
        "seed_nodes_median": float(np.median(seed_sizes)) if seed_sizes else float("nan"),
        "input_nodes_share_median": float(np.median(input_sizes)) / n if input_sizes else float("nan"),
        "coview_pairs_per_batch": cv_per_batch,
        "num_products": n,
        "train_copurchase_edges": num_train,
        "loss_first": losses[0] if losses else float("nan"),
        "loss_last10_mean": float(np.mean(losses[-10:])) if losses else float("nan"),
        "setup_seconds": setup_seconds,
        "eval_seconds": eval_seconds,
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: train the reference on one graph artifact directory and print the result dict as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graph_dir", type=Path, help="a `dualgnn build-graph` artifact directory")
    ap.add_argument("--budget", type=float, default=120.0, help="training wall-time budget in seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-batches", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = reference_train(args.graph_dir, budget_seconds=args.budget, seed=args.seed, max_batches=args.max_batches)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
