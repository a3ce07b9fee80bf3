"""Whole-graph tensor operations written to allocate less than their autograd compositions.

Why: a full-graph step at 1M products moves (n, hidden) float32 tensors of 256 MB. glibc serves every allocation
above 32 MB with a fresh ``mmap`` and returns it on free, so each one costs page faults and kernel zeroing of
every page; measured, that kernel time was as large as the arithmetic (``bench/profile_train.py``, README
"Performance"). ``F.normalize``'s autograd backward makes about six (n, h) temporaries per call and a step has
eight calls; :func:`unit_rows` makes one.

>>> import torch
>>> x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True)
>>> unit_rows(x).tolist()
[[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
"""

from __future__ import annotations

import torch

EPS = 1e-12  # as F.normalize


class _UnitRows(torch.autograd.Function):
    """y = x / max(||x||, eps) per row; backward (g - y (g . y)) / max(||x||, eps) with one (n, h) buffer."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        clamped = norm <= EPS
        inv = norm.clamp_min(EPS).reciprocal_()
        y = x * inv
        ctx.save_for_backward(y, inv, clamped)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        y, inv, clamped = ctx.saved_tensors
        return unit_rows_backward(grad, y, inv, clamped, torch.empty_like(grad))


def unit_rows_backward(g: torch.Tensor, y: torch.Tensor, inv: torch.Tensor, clamped: torch.Tensor,
                       out: torch.Tensor) -> torch.Tensor:
    """The gradient through ``y = unit_rows(z)``: (g - y (g . y)) * inv, written into ``out`` (may be ``g``)."""
    dot = torch.einsum("ij,ij->i", g, y).unsqueeze(-1)  # (n, 1), no (n, h) temporary
    dot.masked_fill_(clamped, 0.0)  # below eps the forward was x / eps: a plain scale, no projection
    if out is not g:
        out.copy_(g)
    return out.addcmul_(y, dot, value=-1.0).mul_(inv)


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of a 2-d tensor scaled to unit L2 norm (``F.normalize(x, dim=-1)``, same values and gradients)."""
    if x.dim() != 2:
        raise ValueError(f"unit_rows takes a 2-d tensor, not shape {tuple(x.shape)}")
    return _UnitRows.apply(x)


def unit_rows_(x: torch.Tensor) -> torch.Tensor:
    """In-place :func:`unit_rows` for tensors nothing differentiates through (no-grad inference)."""
    return x.div_(torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min_(EPS))


def sum_of(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Element-wise sum of same-shape tensors into one new buffer (``a + b + c`` makes one per ``+``). A single
    tensor is returned as it is."""
    if len(tensors) == 1:
        return tensors[0]
    total = tensors[0] + tensors[1]
    for x in tensors[2:]:
        total.add_(x)  # in place on our own buffer: add's backward needs neither input
    return total


def sum_into(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Element-wise sum accumulated in the first tensor's buffer: no new tensor. The first must be a fresh result
    whose producer's backward does not read it (a matrix product's output, not a ReLU's or a normalisation's)."""
    owned = tensors[0]
    for x in tensors[1:]:
        owned.add_(x)
    return owned


def mean_of(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Element-wise mean of same-shape tensors without stacking them (a stack is a k-times-larger copy, and so
    is its gradient)."""
    if len(tensors) == 1:
        return tensors[0].clone()
    return sum_of(tensors).div_(len(tensors))


__all__ = ["mean_of", "sum_into", "sum_of", "unit_rows", "unit_rows_"]
