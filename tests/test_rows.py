"""The allocation-lean whole-graph operations equal their plain torch compositions, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dualgnn.model.rows import mean_of, sum_of, unit_rows


def test_unit_rows_matches_normalize_values_and_gradients():
    torch.manual_seed(0)
    x = torch.randn(50, 7, dtype=torch.float64)
    x[3] = 0.0  # a zero row: F.normalize divides by eps there
    x[4] = 1e-14  # below eps too
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    g = torch.randn(50, 7, dtype=torch.float64)
    (unit_rows(a) * g).sum().backward()
    (F.normalize(b, dim=-1) * g).sum().backward()
    assert torch.allclose(unit_rows(x), F.normalize(x, dim=-1))
    assert torch.allclose(a.grad, b.grad)
    assert torch.autograd.gradcheck(unit_rows, (torch.randn(6, 4, dtype=torch.float64, requires_grad=True),))


def test_unit_rows_rejects_other_shapes():
    with pytest.raises(ValueError, match="2-d"):
        unit_rows(torch.ones(3))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_mean_of_matches_stack_mean_and_leaves_inputs_alone(k):
    torch.manual_seed(1)
    xs = [torch.randn(5, 3, dtype=torch.float64, requires_grad=True) for _ in range(k)]
    before = [x.detach().clone() for x in xs]
    out = mean_of([x * 1.0 for x in xs])
    assert torch.allclose(out, torch.stack(xs).mean(0))
    assert all(torch.equal(x, b) for x, b in zip(xs, before))
    out.pow(2).sum().backward()
    expected = [torch.autograd.grad(torch.stack(xs).mean(0).pow(2).sum(), x)[0] for x in xs]
    assert all(torch.allclose(x.grad, e) for x, e in zip(xs, expected))


def test_sum_of_equals_plain_sum_with_gradients():
    xs = [torch.randn(4, 2, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    assert sum_of(xs[:1]) is xs[0]
    out = sum_of([x * 2.0 for x in xs])
    assert torch.allclose(out, 2 * (xs[0] + xs[1] + xs[2] + xs[3]))
    out.sum().backward()
    assert all(torch.allclose(x.grad, torch.full_like(x, 2.0)) for x in xs)
