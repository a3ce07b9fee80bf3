"""The default layer's forward and backward written out by hand over reused buffers: the layer half of the fused
training step (dualgnn/model/fused_encoder.py, chosen by ``TrainConfig.fused``), which calls them for every layer.

Why: at 1M products every (n, hidden) float32 tensor is 256 MB, which glibc serves with a fresh ``mmap`` and the
kernel zeroes page by page; a training step made about a hundred of them, most inside the two layers (matrix
products, ReLUs, sums, normalisation, and the same again in the backward pass), and that kernel time was about
half of a step (README "Performance", ``python bench/step_timer.py GRAPH_DIR``). Written out by hand, a layer
needs only its two outputs and the two input gradients as new tensors; every other (n, h) intermediate (messages,
the ReLU masks kept for the backward pass, gradients on their way through) comes from a :class:`BufferPool` that
keeps its buffers from step to step. The masks are kept as booleans rather than as the ReLU's float outputs: a
quarter of the memory for the same gradient (the step timer's peak shows it).

:func:`layer_forward` / :func:`layer_backward` compute exactly :meth:`dualgnn.model.layer.DualLayer.forward` for the configuration it covers (weighted
CSR aggregation on a whole graph, dual roles, co-view, a self term, ReLU or no activation, no reverse relations),
with the same parameters; a test compares values and gradients with the autograd composition.

    s' = unit(Ws s + act(A_by W t) + act(C W s)),   t' = unit(Ws t + act(A W s) + act(C W t))

where ``A`` is the co-purchase matrix (row v sums sources u of u -> v), ``A_by`` the reversed relation and ``C``
co-view, each with its transpose for the backward pass (dualgnn/model/spmm.py).
"""

from __future__ import annotations

import torch

from dualgnn.model.fused import normalise_rows_, unit_rows_backward
from dualgnn.model.spmm import product_into


class BufferPool:
    """Free (rows, cols) buffers of a dtype kept for reuse: :meth:`take` returns one (contents undefined),
    :meth:`give` hands it back. Buffers never leave the fused steps' own code, so nothing outside sees them reused.

    At most ``max_free`` buffers of a shape are kept; more are freed. Since the whole forward pass draws on it
    (dualgnn/model/fused_encoder.py), the pool holds what one step needs at its peak and nothing else allocates those
    tensors, so the cap is only a backstop against holding idle buffers beside the loss's own tensors (the
    measured peaks are in README "Performance").
    """

    def __init__(self, max_free: int = 64) -> None:
        self._free: dict[tuple, list[torch.Tensor]] = {}
        self.max_free = max_free

    def take(self, rows: int, cols: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        free = self._free.get((rows, cols, dtype))
        return free.pop() if free else torch.empty(rows, cols, dtype=dtype)

    def give(self, *buffers: torch.Tensor) -> None:
        for b in buffers:
            free = self._free.setdefault((*b.shape, b.dtype), [])
            if len(free) < self.max_free:
                free.append(b)

    def clear(self) -> None:
        """Drop every kept buffer (between epochs, so validation does not run beside idle step memory)."""
        self._free.clear()

    def __len__(self) -> int:
        return sum(len(v) for v in self._free.values())


def layer_forward(s, t, weight, self_weight, mats, relu: bool, pool: BufferPool, new) -> tuple:
    """(s', t', saved) of the default layer; ``new()`` gives the two output buffers (fresh or pooled),
    ``saved`` is what :func:`layer_backward` needs."""
    (a, _), (a_by, _), (c, _) = mats
    n, h = s.shape
    ms, mt = pool.take(n, h), pool.take(n, h)
    torch.mm(s, weight.t(), out=ms)
    torch.mm(t, weight.t(), out=mt)
    kept = []  # where each of the four aggregated terms was positive: the ReLU masks of the backward pass
    outs = []
    for own, terms in ((s, ((a_by, mt), (c, ms))), (t, ((a, ms), (c, mt)))):
        z = torch.mm(own, self_weight.t(), out=new())
        for mat, msg in terms:
            m = product_into(pool.take(n, h), mat, msg)
            if relu:
                kept.append(torch.gt(m, 0.0, out=pool.take(n, h, torch.bool)))  # a quarter of the float's memory
                m.relu_()
            z.add_(m)
            pool.give(m)
        outs.append((z, *normalise_rows_(z)))
    pool.give(ms, mt)
    (ys, inv_s, cl_s), (yt, inv_t, cl_t) = outs
    return ys, yt, (s, t, weight, self_weight, ys, yt, inv_s, inv_t, cl_s, cl_t, kept)


def layer_backward(saved, mats, relu: bool, pool: BufferPool, g_ys, g_yt, g_s, g_t) -> tuple:
    """Gradients of :func:`layer_forward`: those of ``s`` and ``t`` are written into ``g_s`` and ``g_t``;
    returns those of (weight, self_weight). Hands the forward's kept buffers back to ``pool``."""
    s, t, weight, self_weight, ys, yt, inv_s, inv_t, cl_s, cl_t, kept = saved
    (a, a_t), (a_by, a_by_t), (c, c_t) = mats
    n, h = s.shape
    g_zs, g_zt = (unit_rows_backward(g.contiguous(), y, inv, cl, pool.take(n, h))
                  for g, y, inv, cl in ((g_ys, ys, inv_s, cl_s), (g_yt, yt, inv_t, cl_t)))
    g_ms, g_mt, tmp = pool.take(n, h), pool.take(n, h), pool.take(n, h)
    # s' reads mt through A_by and ms through C; t' reads ms through A and mt through C.
    # The first two routes write g_mt and g_ms, the last two add to them.
    routes = ((g_zs, a_by_t, g_mt), (g_zs, c_t, g_ms), (g_zt, a_t, g_ms), (g_zt, c_t, g_mt))
    zero = g_zs.new_zeros(())
    for i, (g, mat_t, into) in enumerate(routes):
        src = torch.where(kept[i], g, zero, out=tmp) if relu else g  # relu's backward: 0 where it cut
        product_into(into, mat_t, src, accumulate=i >= 2)
    torch.mm(g_ms, weight, out=g_s).addmm_(g_zs, self_weight)
    torch.mm(g_mt, weight, out=g_t).addmm_(g_zt, self_weight)
    g_w = g_ms.t() @ s + g_mt.t() @ t
    g_self = g_zs.t() @ s + g_zt.t() @ t
    pool.give(g_zs, g_zt, g_ms, g_mt, tmp, *kept)
    kept.clear()
    return g_w, g_self


__all__ = ["BufferPool", "layer_backward", "layer_forward"]
