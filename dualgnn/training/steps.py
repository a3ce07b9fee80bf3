"""Training steps: full-graph propagation, or neighbour-sampled mini-batches when the graph does not fit.

``make_step(...)`` returns a callable; each call runs one epoch and yields one loss tensor per batch (the caller
does backward / optimizer step between yields). All randomness comes from the caller's ``torch.Generator``, so a
resumed run draws the same batches as an uninterrupted one.

No leakage: positives are ``split.train_copurchase``, co-view pairs ``split.train_coview``, negatives uniform
over products; held-out edges are never read here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from dualgnn._dgl_compat import dgl
from dualgnn.config import TrainConfig
from dualgnn.graph import one_way_mask, symmetrise
from dualgnn.model.encoder import DualGNN
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.spmm import dgl_graph
from dualgnn.split import Split
from dualgnn.training.chunked import chunked_loss
from dualgnn.training.hiding import EdgeHider
from dualgnn.training.losses import (
    batch_loss,
)


class TrainEdges:
    """Positive pairs as tensors: ``src``, ``dst`` (m,), ``one_way`` (m,) bool (reverse absent from the training
    graph), co-view pairs ``cv_src``, ``cv_dst`` (c,). :meth:`from_split` makes them from a split's training
    edges; a partition of the catalog (dualgnn/distributed/) passes its own share."""

    def __init__(self, src: torch.Tensor, dst: torch.Tensor, one_way: torch.Tensor, cv_src: torch.Tensor,
                 cv_dst: torch.Tensor) -> None:
        self.src, self.dst, self.one_way, self.cv_src, self.cv_dst = src, dst, one_way, cv_src, cv_dst

    @classmethod
    def from_split(cls, split: Split, config: TrainConfig, n: int) -> "TrainEdges":
        cp = split.train_copurchase
        if not config.directed:
            cp = symmetrise(cp, n)  # the symmetric baseline learns both directions of every pair
        cv = split.train_coview if config.use_coview else None
        none = torch.zeros(0, dtype=torch.int64)
        return cls(torch.from_numpy(cp.src), torch.from_numpy(cp.dst), torch.from_numpy(one_way_mask(cp, n)),
                   torch.from_numpy(cv.src) if cv is not None else none,
                   torch.from_numpy(cv.dst) if cv is not None else none)

    def batches(self, batch_size: int, generator: torch.Generator, with_ids: bool = False,
                n_batches: int | None = None) -> Iterator[tuple]:
        """(src, dst, one_way, cv_src, cv_dst) per batch; co-view pairs drawn in proportion to their count.
        ``with_ids``: (ids, batch) instead, ``ids`` the batch's positions in the co-purchase list (= edge ids of the
        training graph's co-purchase relations). ``n_batches``: exactly this many batches of near-equal size
        (some empty when there are fewer edges), ignoring ``batch_size``: processes that train together must
        take the same number of steps."""
        m, c = len(self.src), len(self.cv_src)
        perm = torch.randperm(m, generator=generator)
        if n_batches is None:
            n_batches = max(1, -(-m // batch_size))
            parts = [perm[b * batch_size:(b + 1) * batch_size] for b in range(n_batches)]
        else:
            parts = list(torch.tensor_split(perm, n_batches))
        cv_per_batch = min(c, -(-c // n_batches)) if c else 0
        for idx in parts:
            cv_idx = torch.randint(0, c, (cv_per_batch,), generator=generator) if c else torch.zeros(0, dtype=torch.int64)
            batch = self.src[idx], self.dst[idx], self.one_way[idx], self.cv_src[cv_idx], self.cv_dst[cv_idx]
            yield (idx, batch) if with_ids else batch


def id_mask(n: int, warm: torch.Tensor, dropout: float, generator: torch.Generator) -> torch.Tensor:
    """1 where a product's id vector is used this step: warm products, minus a random ``dropout`` share so the
    feature-only path (used for cold and new products) keeps being trained."""
    if dropout <= 0:
        return warm
    return warm * (torch.rand(n, generator=generator) >= dropout).float()


def full_batch_size(config: TrainConfig, num_edges: int) -> int:
    """Edges per whole-graph step: a step costs the same however few edges it scores, so big graphs take big
    batches, at most ``max_steps_per_epoch`` propagations per epoch (the loss runs in chunks: chunked_loss)."""
    return max(config.batch_size, -(-num_edges // config.max_steps_per_epoch))


def make_step(mode: str, model: DualGNN, g, inputs: NodeInputs, split: Split, config: TrainConfig,
              generator: torch.Generator, cold: np.ndarray) -> Callable[[], Iterator[torch.Tensor]]:
    """One-epoch iterator of batch losses for ``mode`` "full" or "sampled"."""
    n = len(inputs)
    edges = TrainEdges.from_split(split, config, n)
    warm = torch.ones(n)
    if len(cold):
        warm[torch.from_numpy(cold)] = 0.0

    known = None
    if config.mask_positives:
        from dualgnn.scoring import adjacency

        known = adjacency(edges.src.numpy(), edges.dst.numpy(), n)

    full_batch = full_batch_size(config, len(edges.src))
    hider = None
    if config.hide_positives or config.edge_dropout:
        hider = EdgeHider(g, config.edge_dropout, config.aggregation == "weighted")

    def hidden(ids: torch.Tensor) -> torch.Tensor:
        return hider.hidden(ids if config.hide_positives else ids[:0], generator)

    def full_epoch() -> Iterator[torch.Tensor]:
        for ids, batch in edges.batches(full_batch, generator, with_ids=True):
            mask = id_mask(n, warm, config.id_dropout, generator)
            if hider is None:
                s, t = model(g, inputs, id_mask=mask)
            else:
                with hider.without(hidden(ids)) as step_graph:
                    s, t = model(step_graph, inputs, id_mask=mask)
            yield chunked_loss(config, s, t, batch, generator, known)

    sampler = dgl.dataloading.NeighborSampler(list(config.fanouts)) if mode == "sampled" else None

    def sampled_epoch() -> Iterator[torch.Tensor]:
        for ids, (src, dst, one_way, cv_src, cv_dst) in edges.batches(config.batch_size, generator, with_ids=True):
            # Seeds: both ends of every pair, plus uniform negatives (they also widen the softmax's candidates).
            negatives = torch.randint(0, n, (len(src), config.n_negatives), generator=generator)
            seeds = torch.unique(torch.cat([src, dst, cv_src, cv_dst, negatives.flatten()]))
            # DGL's sampler draws from its own RNG: seed it from ours so runs (and resumes) repeat.
            dgl.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            # The batch's own edges only: a random share of all edges per 1,024-edge batch would cost more than
            # the batch (edge_dropout applies to whole-graph steps).
            exclude = hider.exclude(ids) if config.hide_positives else None
            input_nodes, output_nodes, blocks = sampler.sample_blocks(dgl_graph(g), {"product": seeds},
                                                                      exclude_eids=exclude)
            input_nodes = input_nodes["product"] if isinstance(input_nodes, dict) else input_nodes
            mask = id_mask(n, warm, config.id_dropout, generator)
            s, t = model.forward_blocks(blocks, inputs, input_nodes, id_mask=mask)
            local = lambda x: torch.searchsorted(seeds, x)  # noqa: E731 - seeds are sorted and unique
            yield batch_loss(config, s, t, local(src), local(dst), one_way, local(cv_src), local(cv_dst),
                             local(negatives), generator=generator)

    if mode == "full":
        return full_epoch
    if mode == "sampled":
        return sampled_epoch
    raise ValueError(f"mode must be 'full' or 'sampled', not {mode!r}")
