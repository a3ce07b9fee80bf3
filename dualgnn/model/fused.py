"""The fused training step: a whole-graph forward pass of the default model (input tower, every layer, the layer
mean, the target bias) as one hand-written autograd function whose (n, h) intermediates all come from a
:class:`BufferPool` kept from step to step. ``TrainConfig.fused`` switches it on (the default) and
:meth:`dualgnn.model.encoder.DualGNN.fused_applies` is the one place that chooses it; every other computation
(inference, sampled blocks, cold start, other models, ``fused=False``) runs the autograd modules, with the same
values.

Why: at 1M products every (n, hidden) float32 tensor is 256 MB, which glibc serves with a fresh ``mmap`` and the
kernel faults in and zeroes page by page; composed from modules, a step made about fifty of them (the input
tower's lookups and sums, each layer's messages, ReLUs and normalisation, the mean, the bias columns, and their
gradients). Here the function owns every intermediate and the order of the backward pass, so gradients are
summed in place into pooled buffers; only the two outputs and the id table's gradient are new. ReLU masks are
kept as booleans, a quarter of the float outputs' memory. ``python bench/step_timer.py GRAPH_DIR`` measures a
step; the figures are in bench/PERFORMANCE.md.

One layer, where ``A`` is the co-purchase matrix (row v sums sources u of u -> v), ``A_by`` the reversed relation
and ``C`` co-view, each with its transpose for the backward pass (dualgnn/model/spmm.py)::

    s' = unit(Ws s + act(A_by W t) + act(C W s)),   t' = unit(Ws t + act(A W s) + act(C W t))

The parameters travel by name (:meth:`DualGNN.fused_params`), so the model and the step share no positional
order. tests/test_fused.py compares outputs and every gradient with the autograd modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from dualgnn.model.rows import normalise_rows_, unit_rows_backward
from dualgnn.model.spmm import product_into


class BufferPool:
    """Free (rows, cols) buffers of a dtype kept for reuse: :meth:`take` returns one (contents undefined),
    :meth:`give` hands it back. Buffers never leave the fused steps' own code, so nothing outside sees them reused.

    At most ``max_free`` buffers of a shape are kept; more are freed. Since the whole forward pass draws on it
    (:func:`encoder_step`), the pool holds what one step needs at its peak and nothing else allocates those
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


@dataclass
class EncoderSpec:
    """What the step needs besides the parameters: node inputs, graph matrices, the model's switches."""

    text: torch.Tensor
    categorical: torch.Tensor  # (n, k) int64 codes, one column per embedding table (row 0 = padding)
    numeric: torch.Tensor
    id_mask: torch.Tensor | None  # (n,) float, 0 where the id vector is dropped
    mats: tuple
    relu: bool
    pool: BufferPool
    mean: bool  # layer_combine == "mean" (else the last layer's output)


def _count(p: dict, prefix: str, suffix: str = "") -> int:
    return sum(1 for k in p if k.startswith(prefix) and k.endswith(suffix))


def _structured(p: dict) -> dict:
    """The named parameters (:meth:`DualGNN.fused_params`) grouped as the step reads them; an absent part is None:
    ``text``, ``table.J``, ``numeric.weight`` / ``numeric.bias``, ``ids``, ``layer.I.weight`` / ``layer.I.self``,
    ``bias.weight`` / ``bias.bias`` and ``id_bias`` (the target bias: outputs [s, 1] and [t, b])."""
    return {"text": p["text"], "tables": [p[f"table.{j}"] for j in range(_count(p, "table."))],
            "numeric": (p["numeric.weight"], p["numeric.bias"]) if "numeric.weight" in p else None,
            "ids": p.get("ids"),
            "layers": [(p[f"layer.{i}.weight"], p[f"layer.{i}.self"]) for i in range(_count(p, "layer.", ".weight"))],
            "bias": (p["bias.weight"], p["bias.bias"]) if "bias.weight" in p else None, "id_bias": p.get("id_bias")}


class _EncoderStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: EncoderSpec, names: tuple, *params):
        p = _structured(dict(zip(names, params)))
        ctx.names = names
        pool, n, h = spec.pool, len(spec.text), p["text"].shape[0]
        take = lambda: pool.take(n, h)  # noqa: E731
        mask = None if spec.id_mask is None else spec.id_mask.unsqueeze(1)
        # Input tower: x = text W + sum of table rows + numeric W_num + b + masked id vector, then unit rows.
        x, tmp = take(), take()
        torch.mm(spec.text, p["text"].t(), out=x)
        for j, table in enumerate(p["tables"]):
            x.add_(torch.index_select(table, 0, spec.categorical[:, j], out=tmp))
        if p["numeric"] is not None:
            w, b = p["numeric"]
            x.add_(torch.addmm(b, spec.numeric, w.t(), out=tmp))
        if p["ids"] is not None:
            x.add_(p["ids"] if mask is None else torch.mul(p["ids"], mask, out=tmp))
        pool.give(tmp)
        norm0 = normalise_rows_(x)
        states, saved = [(x, x)], []  # both roles start from x
        for w, w_self in p["layers"]:
            ys, yt, sv = layer_forward(*states[-1], w, w_self, spec.mats, spec.relu, pool, take)
            states.append((ys, yt))
            saved.append(sv)
        if spec.mean and len(states) > 1:
            # unit(mean of states) == unit(sum of states): the 1/(L+1) cancels.
            zs, zt = take(), take()
            torch.add(states[0][0], states[1][0], out=zs)
            torch.add(states[0][1], states[1][1], out=zt)
            for s, t in states[2:]:
                zs.add_(s)
                zt.add_(t)
            norms = (normalise_rows_(zs), normalise_rows_(zt))
        else:
            zs, zt = states[-1]
            norms = None
        bias_on = p["bias"] is not None
        width = h + 1 if bias_on else h
        out_s, out_t = torch.empty(n, width), torch.empty(n, width)
        out_s[:, :h] = zs
        out_t[:, :h] = zt
        if bias_on:
            w, b = p["bias"]
            out_s[:, h] = 1.0
            bias = torch.addmm(b, zt, w.t())  # (n, 1)
            bias.add_(p["id_bias"] if mask is None else p["id_bias"] * mask)
            out_t[:, h:] = bias
        if norms is not None:  # the mean's unit rows live on in the outputs: the backward reads them there
            pool.give(zs, zt)
            ctx.save_for_backward(out_s, out_t)
        ctx.spec, ctx.p, ctx.x, ctx.norm0, ctx.states, ctx.saved = spec, p, x, norm0, states, saved
        ctx.z, ctx.norms = (None if norms is not None else (zs, zt)), norms
        return out_s, out_t

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out_s, g_out_t):
        spec, p, pool = ctx.spec, ctx.p, ctx.spec.pool
        n, h = len(spec.text), p["text"].shape[0]
        zs, zt = ctx.z if ctx.norms is None else (o[:, :h] for o in ctx.saved_tensors)
        take = lambda: pool.take(n, h)  # noqa: E731
        mask = None if spec.id_mask is None else spec.id_mask.unsqueeze(1)
        grads = {}
        gs, gt = take(), take()
        gs.copy_(g_out_s[:, :h])
        gt.copy_(g_out_t[:, :h])
        if p["bias"] is not None:
            w, b = p["bias"]
            g_b = g_out_t[:, h:].contiguous()  # (n, 1)
            gt.addmm_(g_b, w)
            grads["bias.weight"], grads["bias.bias"] = g_b.t() @ zt, g_b.sum(0)
            grads["id_bias"] = g_b if mask is None else g_b * mask
        if ctx.norms is not None:  # the layer mean: every state receives the gradient of the sum
            (inv_s, cl_s), (inv_t, cl_t) = ctx.norms
            unit_rows_backward(gs, zs, inv_s, cl_s, out=gs)
            unit_rows_backward(gt, zt, inv_t, cl_t, out=gt)
        cur_s, cur_t = gs, gt
        layer_grads = []
        for (w, w_self), sv in zip(reversed(p["layers"]), reversed(ctx.saved)):
            prev_s, prev_t = take(), take()
            layer_grads.append(layer_backward(sv, spec.mats, spec.relu, pool, cur_s, cur_t, prev_s, prev_t))
            if cur_s is not gs:
                pool.give(cur_s, cur_t)
            if ctx.norms is not None:
                prev_s.add_(gs)
                prev_t.add_(gt)
            cur_s, cur_t = prev_s, prev_t
        for i, (g_w, g_self) in enumerate(layer_grads[::-1]):
            grads[f"layer.{i}.weight"], grads[f"layer.{i}.self"] = g_w, g_self
        pool.give(*(st for pair in ctx.states[1:] for st in pair))
        # Layer 0: x was both the source and the target state.
        g_x = cur_s.add_(cur_t)
        if cur_s is not gs:
            pool.give(cur_t, gs, gt)
        else:
            pool.give(gt)
        unit_rows_backward(g_x, ctx.x, *ctx.norm0, out=g_x)
        grads["text"] = g_x.t() @ spec.text
        for j, table in enumerate(p["tables"]):
            g_table = torch.zeros_like(table).index_add_(0, spec.categorical[:, j], g_x)
            g_table[0] = 0.0  # padding row (nn.Embedding's padding_idx=0)
            grads[f"table.{j}"] = g_table
        if p["numeric"] is not None:
            grads["numeric.weight"], grads["numeric.bias"] = g_x.t() @ spec.numeric, g_x.sum(0)
        if p["ids"] is not None:
            grads["ids"] = g_x.clone() if mask is None else g_x * mask
        pool.give(g_x, ctx.x)
        ctx.states = ctx.saved = ctx.x = ctx.z = None
        return (None, None, *(grads[name] for name in ctx.names))


def encoder_step(spec: EncoderSpec, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, target) of the whole graph, as ``DualGNN.forward``; ``params`` by name (:func:`_structured`)."""
    return _EncoderStep.apply(spec, tuple(params), *params.values())


__all__ = ["BufferPool", "EncoderSpec", "encoder_step"]
