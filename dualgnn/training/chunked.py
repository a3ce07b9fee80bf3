"""The loss of a big full-graph batch in chunks, with the gradient cached: one GNN backward per batch, one
chunk of logits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from dualgnn.config import TrainConfig
from dualgnn.training.losses import (
    FULL_SOFTMAX_MAX,
    SAMPLED_NEGATIVES,
    batch_loss,
    loss_weights,
    sampled_softmax_loss,
)

# Edges per chunk of a big batch on a big catalog (chunked_loss). Its (chunk x SAMPLED_NEGATIVES) float32 logits
# must stay under glibc's 32 MB mmap ceiling: 8192 x 1024 (33.5 MB) sent every logits-sized temporary to a fresh
# mmap, paid in page faults and kernel zeroing, about 6 per chunk.
LOSS_CHUNK = 4096


FLUSH_EVERY = 32  # chunks whose gradients are scattered into the (n, h) buffers in one index_add_


def _chunk_loss(config: TrainConfig, s, t, chunk, generator, known, catalog=None) -> torch.Tensor:
    src, dst, one_way, cv_src, cv_dst = chunk
    negatives = torch.randint(0, len(s), (len(src), config.n_negatives), generator=generator)
    return batch_loss(config, s, t, src, dst, one_way, cv_src, cv_dst, negatives, generator=generator, known=known,
                      catalog=catalog)


def chunked_loss(config: TrainConfig, s: torch.Tensor, t: torch.Tensor, batch: tuple, generator, known,
                 catalog: int | None = None) -> torch.Tensor:
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
    catalog = len(s) if catalog is None else catalog
    if len(batch[0]) <= config.batch_size:
        return _chunk_loss(config, s, t, batch, generator, known, catalog)
    if catalog <= FULL_SOFTMAX_MAX or config.loss != "softmax":
        total, grad_s, grad_t = _plain_chunks(config, s.detach(), t.detach(), batch, generator, known, catalog)
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


def _plain_chunks(config, sd, td, batch, generator, known, catalog) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Chunks of the plain loss; their gradients accumulate in two whole-table leaves."""
    leaf_s, leaf_t = sd.requires_grad_(), td.requires_grad_()
    total = 0.0
    for n_chunks, chunk in _chunks(batch, config.batch_size):
        loss = _chunk_loss(config, leaf_s, leaf_t, chunk, generator, known, catalog) / n_chunks
        loss.backward()
        total += loss.item()
    return total, leaf_s.grad, leaf_t.grad


def _sampled_chunks(config, sd, td, batch, generator) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Chunks of :func:`sampled_softmax_loss`, each on copies of only the rows it reads; their gradients are
    scattered into whole-table buffers FLUSH_EVERY chunks at a time (torch's index_add_ pays for the whole table on every
    call, however few rows it adds)."""
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
