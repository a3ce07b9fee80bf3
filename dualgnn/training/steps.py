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
from dualgnn.training.hiding import EdgeHider
from dualgnn.training.losses import (
    FULL_SOFTMAX_MAX, SAMPLED_NEGATIVES, batch_loss, loss_weights, sampled_softmax_loss,
)
from dualgnn.model.encoder import DualGNN, NodeInputs
from dualgnn.split import Split


class TrainEdges:
    """Positive pairs as tensors: ``src``, ``dst`` (m,), ``one_way`` (m,) bool (reverse absent from the training
    graph), co-view pairs ``cv_src``, ``cv_dst`` (c,)."""

    def __init__(self, split: Split, config: TrainConfig, n: int) -> None:
        cp = split.train_copurchase
        if not config.directed:
            cp = symmetrise(cp, n)  # the symmetric baseline learns both directions of every pair
        self.src = torch.from_numpy(cp.src)
        self.dst = torch.from_numpy(cp.dst)
        self.one_way = torch.from_numpy(one_way_mask(cp, n))
        cv = split.train_coview if config.use_coview else None
        self.cv_src = torch.from_numpy(cv.src) if cv is not None else torch.zeros(0, dtype=torch.int64)
        self.cv_dst = torch.from_numpy(cv.dst) if cv is not None else torch.zeros(0, dtype=torch.int64)

    def batches(self, batch_size: int, generator: torch.Generator, with_ids: bool = False) -> Iterator[tuple]:
        """(src, dst, one_way, cv_src, cv_dst) per batch; co-view pairs drawn in proportion to their count.
        ``with_ids``: (ids, batch) instead, ``ids`` the batch's positions in the co-purchase list (= edge ids of the
        training graph's co-purchase relations)."""
        m, c = len(self.src), len(self.cv_src)
        perm = torch.randperm(m, generator=generator)
        n_batches = max(1, -(-m // batch_size))
        cv_per_batch = min(c, -(-c // n_batches)) if c else 0
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            cv_idx = torch.randint(0, c, (cv_per_batch,), generator=generator) if c else torch.zeros(0, dtype=torch.int64)
            batch = self.src[idx], self.dst[idx], self.one_way[idx], self.cv_src[cv_idx], self.cv_dst[cv_idx]
            yield (idx, batch) if with_ids else batch


def id_mask(n: int, warm: torch.Tensor, dropout: float, generator: torch.Generator) -> torch.Tensor:
    """1 where a product's id vector is used this step: warm products, minus a random ``dropout`` share so the
    feature-only path (used for cold and new products) keeps being trained."""
    if dropout <= 0:
        return warm
    return warm * (torch.rand(n, generator=generator) >= dropout).float()


# Edges per chunk of a big batch on a big catalog (chunked_loss). Its (chunk x SAMPLED_NEGATIVES) float32 logits
# must stay under glibc's 32 MB mmap ceiling: 8192 x 1024 (33.5 MB) sent every logits-sized temporary to a fresh
# mmap, paid in page faults and kernel zeroing, about 6 per chunk.
LOSS_CHUNK = 4096
FLUSH_EVERY = 32  # chunks whose gradients are scattered into the (n, h) buffers in one index_add_


def _chunk_loss(config: TrainConfig, s, t, chunk, generator, known) -> torch.Tensor:
    src, dst, one_way, cv_src, cv_dst = chunk
    negatives = torch.randint(0, len(s), (len(src), config.n_negatives), generator=generator)
    return batch_loss(config, s, t, src, dst, one_way, cv_src, cv_dst, negatives, generator=generator, known=known)


def chunked_loss(config: TrainConfig, s: torch.Tensor, t: torch.Tensor, batch: tuple, generator, known) -> torch.Tensor:
    """The loss of a big batch over embeddings ``s``, ``t`` from one propagation, computed in chunks.

    Gradient caching: each chunk's loss is back-propagated only into detached leaves, whose gradients are summed,
    so memory holds one chunk's logits. The returned tensor has the mean chunk loss as its value and, through
    ``s`` and ``t``, the gradient of that mean: one backward pass through the GNN per batch. A batch no bigger
    than ``batch_size`` is the plain loss; so are the chunks on catalogs of up to ``FULL_SOFTMAX_MAX`` products.

    Bigger catalogs (softmax loss): a chunk of ``LOSS_CHUNK`` edges reads copies of only its rows and scores each
    positive against ``SAMPLED_NEGATIVES`` shared uniform products (:func:`sampled_softmax_loss`): with in-batch
    candidates and a gradient scatter into (n, h) per chunk the loss was most of a step at 1M, and mixing the
    chunk's targets into the negatives measured worse and slower (README "Performance", ``python
    bench/profile_train.py GRAPH_DIR``). In every chunked batch
    co-view pairs are capped at a quarter of a chunk: co-view is the auxiliary term, and on a synthetic 10k
    catalog its (pairs x n) logits were three times the main term's.
    """
    if len(batch[0]) <= config.batch_size:
        return _chunk_loss(config, s, t, batch, generator, known)
    if len(s) <= FULL_SOFTMAX_MAX or config.loss != "softmax":
        total, grad_s, grad_t = _plain_chunks(config, s.detach(), t.detach(), batch, generator, known)
    else:
        total, grad_s, grad_t = _sampled_chunks(config, s.detach(), t.detach(), batch, generator)
    return _WithGradient.apply(s, t, grad_s, grad_t, total)


class _WithGradient(torch.autograd.Function):
    """A scalar equal to ``value`` whose gradient with respect to ``s`` and ``t`` is the precomputed ``grad_s`` and
    ``grad_t`` (scaled by the upstream gradient): the chunked loss's gradients enter the GNN's backward pass as
    they are, with no (n, h) product or copy."""

    @staticmethod
    def forward(ctx, s, t, grad_s, grad_t, value: float):
        ctx.grads = (grad_s, grad_t)
        return s.new_tensor(value)

    @staticmethod
    def backward(ctx, upstream):
        grad_s, grad_t = ctx.grads
        ctx.grads = None
        if upstream.item() != 1.0:
            grad_s, grad_t = grad_s * upstream, grad_t * upstream
        return grad_s, grad_t, None, None, None


def _chunks(batch: tuple, size: int) -> Iterator[tuple[int, tuple]]:
    """(number of chunks, chunk) for every ``size``-edge chunk of ``batch``, each with an equal share of its
    co-view pairs capped at a quarter of a chunk (co-view is the auxiliary term)."""
    n_chunks = -(-len(batch[0]) // size)
    cv_size = min(-(-len(batch[3]) // n_chunks), size // 4)
    for i in range(n_chunks):
        e, c = slice(i * size, (i + 1) * size), slice(i * cv_size, (i + 1) * cv_size)
        yield n_chunks, tuple(x[e] for x in batch[:3]) + tuple(x[c] for x in batch[3:])


def _plain_chunks(config, sd, td, batch, generator, known) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Chunks of the plain loss; their gradients accumulate in two whole-table leaves."""
    leaf_s, leaf_t = sd.requires_grad_(), td.requires_grad_()
    total = 0.0
    for n_chunks, chunk in _chunks(batch, config.batch_size):
        loss = _chunk_loss(config, leaf_s, leaf_t, chunk, generator, known) / n_chunks
        loss.backward()
        total += loss.item()
    return total, leaf_s.grad, leaf_t.grad


def _sampled_chunks(config, sd, td, batch, generator) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Chunks of :func:`sampled_softmax_loss`, each on copies of only the rows it reads; their gradients are
    scattered into whole-table buffers FLUSH_EVERY chunks at a time (torch's index_add_ costs ~20 ms a call on a 1M-row
    tensor however few rows it adds)."""
    grad_s, grad_t = torch.zeros_like(sd), torch.zeros_like(td)
    k = config.candidates or SAMPLED_NEGATIVES
    weights = loss_weights(config)
    total, pending = 0.0, []
    for n_chunks, (src, dst, one_way, cv_src, cv_dst) in _chunks(batch, LOSS_CHUNK):
        parts = [src, dst, cv_src, cv_dst, torch.randint(0, len(sd), (k,), generator=generator)]
        rows, inverse = torch.unique(torch.cat(parts), return_inverse=True)
        a, b, c1, c2, neg = torch.split(inverse, [len(x) for x in parts])  # local row of every index
        sub_s, sub_t = sd[rows].requires_grad_(), td[rows].requires_grad_()
        loss = sampled_softmax_loss(sub_s, sub_t, a, b, one_way, c1, c2, neg, temperature=config.temperature,
                                    **weights) / n_chunks
        loss.backward()
        total += loss.item()
        pending.append((rows, sub_s.grad, sub_t.grad))
        if len(pending) == FLUSH_EVERY:
            _flush(grad_s, grad_t, pending)
    _flush(grad_s, grad_t, pending)
    return total, grad_s, grad_t


def _flush(grad_s, grad_t, pending: list) -> None:
    """Add the pending (rows, grad_s, grad_t) chunks in one scatter."""
    if pending:
        idx = torch.cat([p[0] for p in pending])
        grad_s.index_add_(0, idx, torch.cat([p[1] for p in pending]))
        grad_t.index_add_(0, idx, torch.cat([p[2] for p in pending]))
        pending.clear()


def full_batch_size(config: TrainConfig, num_edges: int) -> int:
    """Edges per whole-graph step: a step costs the same however few edges it scores, so big graphs take big
    batches, at most ``max_steps_per_epoch`` propagations per epoch (the loss runs in chunks: chunked_loss)."""
    return max(config.batch_size, -(-num_edges // config.max_steps_per_epoch))


def make_step(mode: str, model: DualGNN, g, inputs: NodeInputs, split: Split, config: TrainConfig,
              generator: torch.Generator, cold: np.ndarray) -> Callable[[], Iterator[torch.Tensor]]:
    """One-epoch iterator of batch losses for ``mode`` "full" or "sampled"."""
    n = len(inputs)
    edges = TrainEdges(split, config, n)
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
            input_nodes, output_nodes, blocks = sampler.sample_blocks(g, {"product": seeds}, exclude_eids=exclude)
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
