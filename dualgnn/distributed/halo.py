"""The halo exchange between layers: every process propagates over its part (own products + a one-hop halo), then
replaces its halo rows with their owners' rows, so every layer starts from the whole graph's states.

A layer's output for a product needs the previous layer's states of its neighbours only, so with the exchange
after every layer a one-hop halo keeps every own product (and every halo product, the far end of an own edge)
exact, for any number of layers; without it, an L-layer model would need an (L + 1)-hop halo, which on catalogs
like the shared music data is most of the graph in every part (README "More than one machine").

Forward: own rows that other parts hold as halo go to them, halo rows come from their owners
(``all_to_all_single``). Backward: the gradients that arrived at the halo rows go back to their owners and are
added to the own rows they came from, so each process's parameter gradients are its share of the gradient of
the sum of all processes' losses (tests/test_distributed.py compares both with the whole graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class HaloPlan:
    """Rows of this part to send (``send_rows``, grouped by destination process, ``send_counts`` per process) and
    halo rows to fill (``recv_rows``, grouped by owner, ``recv_counts``); both ends list a product in the order
    of catalog ids, so the i-th row sent from p to q is the i-th row q receives from p."""

    send_rows: torch.Tensor
    send_counts: list[int]
    recv_rows: torch.Tensor
    recv_counts: list[int]
    group: object = None  # the process group the exchange runs on (None: the default group)

    def exchange(self, s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s, t) with their halo rows replaced by the owners' rows; differentiable."""
        return _Exchange.apply(s, self), _Exchange.apply(t, self)

    def move(self, rows: torch.Tensor, forward: bool) -> torch.Tensor:
        """One all-to-all: own rows to their holders (``forward``) or halo gradients back to the owners."""
        import torch.distributed as dist

        sizes = (self.recv_counts, self.send_counts) if forward else (self.send_counts, self.recv_counts)
        out = rows.new_empty(sum(sizes[0]), rows.shape[1])
        dist.all_to_all_single(out, rows.contiguous(), output_split_sizes=sizes[0], input_split_sizes=sizes[1],
                               group=self.group)
        return out


class _Exchange(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, plan: HaloPlan) -> torch.Tensor:
        ctx.plan = plan
        y = x.clone()
        y[plan.recv_rows] = plan.move(x[plan.send_rows], forward=True)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        plan = ctx.plan
        back = plan.move(grad[plan.recv_rows], forward=False)
        g = grad.clone()
        g[plan.recv_rows] = 0.0  # a halo row's value came from its owner: its gradient goes there
        g.index_add_(0, plan.send_rows, back)
        return g, None
