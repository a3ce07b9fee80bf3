"""A whole-graph training forward pass of the default model (input tower, every layer, layer mean, target bias)
as one autograd function whose (n, h) intermediates all come from the model's :class:`BufferPool`.

Why: with the layers written by hand (dualgnn/model/fused_layer.py) a 1M-product training step still made about 50
fresh (n, h) tensors: the input tower (text projection, one lookup per embedding table, the id mask), the
layer mean and its normalisation, the [s, 1] / [t, b] concatenation, and the gradients of all of these, plus the
sums autograd makes where a layer state feeds both the next layer and the mean. Each is a 256 MB mapping the
kernel faults in and zeroes. Here the function owns every intermediate and the order of the backward pass, so
gradients are summed in place into pooled buffers; only the two outputs and the id table's gradient are new.

It computes exactly :meth:`dualgnn.model.encoder.DualGNN.forward` on a whole graph for the configurations where
:meth:`DualGNN.fused_applies` holds, with the same parameters; a test compares outputs and every gradient with the
autograd composition (tests/test_fused_layer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from dualgnn.model.fused import normalise_rows_, unit_rows_backward
from dualgnn.model.fused_layer import BufferPool, layer_backward, layer_forward


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
    n_tables: int
    numeric_layer: bool
    id_table: bool
    n_layers: int
    mean: bool  # layer_combine == "mean" (else the last layer's output)
    bias: bool  # target_bias: outputs [s, 1] and [t, b], b from the target vector plus a per-product table


def _params(spec: EncoderSpec, params: tuple) -> dict:
    """Name the flat parameter tuple (the order of :meth:`DualGNN.encoder_params`)."""
    it = iter(params)
    out = {"text": next(it), "tables": [next(it) for _ in range(spec.n_tables)]}
    out["numeric"] = (next(it), next(it)) if spec.numeric_layer else None
    out["ids"] = next(it) if spec.id_table else None
    out["layers"] = [(next(it), next(it)) for _ in range(spec.n_layers)]
    out["bias"] = (next(it), next(it)) if spec.bias else None
    out["id_bias"] = next(it) if spec.bias else None
    return out


class _EncoderStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: EncoderSpec, *params):
        p = _params(spec, params)
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
        width = h + 1 if spec.bias else h
        out_s, out_t = torch.empty(n, width), torch.empty(n, width)
        out_s[:, :h] = zs
        out_t[:, :h] = zt
        if spec.bias:
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
        if spec.bias:
            w, b = p["bias"]
            g_b = g_out_t[:, h:].contiguous()  # (n, 1)
            gt.addmm_(g_b, w)
            grads["bias"] = (g_b.t() @ zt, g_b.sum(0))
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
        grads["layers"] = layer_grads[::-1]
        pool.give(*(st for pair in ctx.states[1:] for st in pair))
        # Layer 0: x was both the source and the target state.
        g_x = cur_s.add_(cur_t)
        if cur_s is not gs:
            pool.give(cur_t, gs, gt)
        else:
            pool.give(gt)
        unit_rows_backward(g_x, ctx.x, *ctx.norm0, out=g_x)
        grads["text"] = g_x.t() @ spec.text
        tables = []
        for j, table in enumerate(p["tables"]):
            g_table = torch.zeros_like(table).index_add_(0, spec.categorical[:, j], g_x)
            g_table[0] = 0.0  # padding row (nn.Embedding's padding_idx=0)
            tables.append(g_table)
        grads["tables"] = tables
        if p["numeric"] is not None:
            grads["numeric"] = (g_x.t() @ spec.numeric, g_x.sum(0))
        if p["ids"] is not None:
            grads["ids"] = g_x.clone() if mask is None else g_x * mask
        pool.give(g_x, ctx.x)
        ctx.states = ctx.saved = ctx.x = ctx.z = None
        flat = [grads["text"], *grads["tables"]]
        flat += list(grads["numeric"]) if p["numeric"] is not None else []
        flat += [grads["ids"]] if p["ids"] is not None else []
        flat += [g for pair in grads["layers"] for g in pair]
        flat += [*grads["bias"], grads["id_bias"]] if spec.bias else []
        return (None, *flat)


def encoder_step(spec: EncoderSpec, params: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, target) of the whole graph, as ``DualGNN.forward``; ``params`` in the model's fixed order."""
    return _EncoderStep.apply(spec, *params)


__all__ = ["EncoderSpec", "encoder_step"]
