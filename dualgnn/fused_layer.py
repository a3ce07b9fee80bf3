"""One whole-graph propagation step of the default layer as a single autograd function over reused buffers.

Why: at 1M products every (n, hidden) float32 tensor is 256 MB, which glibc serves with a fresh ``mmap`` and the
kernel zeroes page by page; a training step made about a hundred of them, most inside the two layers (matrix
products, ReLUs, sums, normalisation, and the same again in the backward pass), and that kernel time was about
half of a step (``bench/step_timer.py``, README "Performance"). Written out by hand, a layer needs only its two
outputs and the two input gradients as new tensors; every other (n, h) intermediate (messages, the ReLU outputs
kept for the backward pass, gradients on their way through) comes from a :class:`BufferPool` that keeps its
buffers from step to step.

The function computes exactly :meth:`dualgnn.model.DualLayer.forward` for the configuration it covers (weighted
CSR aggregation on a whole graph, dual roles, co-view, a self term, ReLU or no activation, no reverse relations),
with the same parameters; a test compares values and gradients with the autograd composition.

    s' = unit(Ws s + act(A_by W t) + act(C W s)),   t' = unit(Ws t + act(A W s) + act(C W t))

where ``A`` is the co-purchase matrix (row v sums sources u of u -> v), ``A_by`` the reversed relation and ``C``
co-view, each with its transpose for the backward pass (dualgnn/spmm.py).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from dualgnn.fused import EPS
from dualgnn.spmm import product_into


class BufferPool:
    """Free (rows, cols) float32 buffers kept for reuse: :meth:`take` returns one (contents undefined),
    :meth:`give` hands it back. Buffers never leave the layer's own code, so nothing outside sees them reused.

    At most ``max_free`` buffers of a shape are kept; more are freed. Unbounded, the pool ends a training step
    holding every buffer the two layers used (13 at 1M: 3.3 GB) while the input tower's and the loss's own
    tensors are allocated beside them: a whole 1M training run then peaked at 12.8 GB, against 11.0 GB with
    six, which is what the first layer's forward pass takes at the start of the next step (same epoch time).
    """

    def __init__(self, max_free: int = 6) -> None:
        self._free: dict[tuple, list[torch.Tensor]] = {}
        self.max_free = max_free

    def take(self, rows: int, cols: int) -> torch.Tensor:
        free = self._free.get((rows, cols))
        return free.pop() if free else torch.empty(rows, cols)

    def give(self, *buffers: torch.Tensor) -> None:
        for b in buffers:
            free = self._free.setdefault(tuple(b.shape), [])
            if len(free) < self.max_free:
                free.append(b)

    def clear(self) -> None:
        """Drop every kept buffer (between epochs, so validation does not run beside idle step memory)."""
        self._free.clear()

    def __len__(self) -> int:
        return sum(len(v) for v in self._free.values())


class _DualLayerStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, t, weight, self_weight, mats, relu: bool, pool: BufferPool):
        (a, a_t), (a_by, a_by_t), (c, c_t) = mats
        n, h = s.shape
        ms, mt = pool.take(n, h), pool.take(n, h)
        torch.mm(s, weight.t(), out=ms)
        torch.mm(t, weight.t(), out=mt)
        kept = []  # the four aggregated terms after the activation (the ReLU masks of the backward pass)
        outs = []
        for own, terms in ((s, ((a_by, mt), (c, ms))), (t, ((a, ms), (c, mt)))):
            z = torch.mm(own, self_weight.t())  # fresh: becomes this side's output
            for mat, msg in terms:
                m = product_into(pool.take(n, h), mat, msg)
                if relu:
                    m.relu_()
                z.add_(m)
                if relu:
                    kept.append(m)
                else:
                    pool.give(m)
            inv = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
            clamped = inv <= EPS
            inv.clamp_min_(EPS).reciprocal_()
            outs.append((z.mul_(inv), inv, clamped))
        pool.give(ms, mt)
        (ys, inv_s, cl_s), (yt, inv_t, cl_t) = outs
        ctx.save_for_backward(s, t, weight, self_weight, ys, yt, inv_s, inv_t, cl_s, cl_t)
        ctx.kept, ctx.mats, ctx.relu, ctx.pool = kept, mats, relu, pool
        return ys, yt

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys, g_yt):
        s, t, weight, self_weight, ys, yt, inv_s, inv_t, cl_s, cl_t = ctx.saved_tensors
        (a, a_t), (a_by, a_by_t), (c, c_t) = ctx.mats
        pool, kept = ctx.pool, ctx.kept
        n, h = s.shape
        g_z = []
        for g, y, inv, clamped in ((g_ys, ys, inv_s, cl_s), (g_yt, yt, inv_t, cl_t)):
            g = g.contiguous()
            dot = torch.einsum("ij,ij->i", g, y).unsqueeze(-1).masked_fill_(clamped, 0.0)
            gz = torch.mul(y, dot, out=pool.take(n, h))
            g_z.append(gz.neg_().add_(g).mul_(inv))  # unit_rows' backward
        g_zs, g_zt = g_z
        g_ms, g_mt, tmp = pool.take(n, h), pool.take(n, h), pool.take(n, h)
        # s' reads mt through A_by and ms through C; t' reads ms through A and mt through C.
        # The first two routes write g_mt and g_ms, the last two add to them.
        routes = ((g_zs, a_by_t, g_mt), (g_zs, c_t, g_ms), (g_zt, a_t, g_ms), (g_zt, c_t, g_mt))
        for i, (g, mat_t, into) in enumerate(routes):
            src = g
            if ctx.relu:
                src = torch.ops.aten.threshold_backward.grad_input(g, kept[i], 0.0, grad_input=tmp)
            product_into(into, mat_t, src, accumulate=i >= 2)
        g_s = torch.mm(g_ms, weight).addmm_(g_zs, self_weight)
        g_t = torch.mm(g_mt, weight).addmm_(g_zt, self_weight)
        g_w = g_ms.t() @ s + g_mt.t() @ t
        g_self = g_zs.t() @ s + g_zt.t() @ t
        pool.give(g_zs, g_zt, g_ms, g_mt, tmp, *kept)
        ctx.kept = []
        return g_s, g_t, g_w, g_self, None, None, None


def dual_layer_step(s: torch.Tensor, t: torch.Tensor, weight: torch.Tensor, self_weight: torch.Tensor, mats,
                    relu: bool, pool: BufferPool) -> tuple[torch.Tensor, torch.Tensor]:
    """(s', t') of the default layer on a whole graph; ``mats`` = ((A, A^T), (A_by, A_by^T), (C, C^T))."""
    return _DualLayerStep.apply(s.contiguous(), t.contiguous(), weight, self_weight, mats, relu, pool)


__all__ = ["BufferPool", "dual_layer_step"]
