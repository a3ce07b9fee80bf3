"""Hide a training step's own positive edges (and, optionally, a random share of the others) from message passing.

Why: a training edge u -> v is both a positive of the loss and an edge of the graph the GNN propagates on, so
during training s_u already aggregates v's own input through that very edge, while at evaluation and in
production the pair to predict is never an edge of the graph. Hiding each step's positives from that step's
propagation makes training look like use (the target-edge removal of link-prediction GNNs); a further random
share (DropEdge) varies the graph from step to step. The held-out edges are still never read; the hidden edges
are back in the graph for the next step, for validation and for the exported vectors.

An option (``TrainConfig.hide_positives``), off by default: on amazon-digital-music (EQ1 75/5/20) it raised
validation HR@10 at two seeds but test HR@10 only within the seed spread, and gift cards lost 0.03 (README
"Differences from the paper").

Whole graphs with weighted CSR aggregation (the default) get per-step copies of the co-purchase matrices with
the hidden edges' weights set to zero and every norm recomputed from the remaining weighted degrees (a few
vectorised passes over the edge list); other whole-graph aggregations get a DGL graph without the edges; neighbour sampling excludes them (:meth:`EdgeHider.exclude`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from dualgnn.graph import COPURCHASE, COPURCHASED_BY
from dualgnn.model.encoder import edge_norms
from dualgnn.model.spmm import csr_from_parts, has_csr

CP, CP_BY = COPURCHASE[1], COPURCHASED_BY[1]
# At most this share of the training edges is hidden for a step's positives. On small catalogs one batch can be
# most of the graph (gift cards: 4,096 of 4,800 edges); hiding all of it trained on a far sparser graph than the
# one used afterwards, and EQ1 HR@10 fell from 0.663 to 0.608. Music's batches are 11.9% of its edges, 1M's 6.25%.
MAX_HIDDEN_SHARE = 0.125


class EdgeHider:
    """Per-step views of the training graph ``g`` without some co-purchase edges.

    Edge ids are positions in the training co-purchase list, which are also the ids of ``g``'s ``copurchase``
    and ``copurchased_by`` edges (``ProductGraph.to_dgl`` keeps the order).
    """

    def __init__(self, g, dropout: float, weighted: bool) -> None:
        """``weighted``: the model aggregates with the weighted CSR products (``aggregation="weighted"``)."""
        self.g = g
        self.dropout = dropout
        self.num_edges = g.num_edges(CP)
        self._csr = None
        self._whole = has_csr(g, CP)
        if weighted and has_csr(g, CP) and has_csr(g, CP_BY):
            src, dst = g.edges(etype=CP)
            n = g.num_nodes()
            # CSR position of every edge in A (rows dst, cols src) and in A^T (rows src, cols dst): both are
            # sorted by (row, col) and hold each (row, col) once, so the positions are a lexicographic order.
            order_a = torch.from_numpy(np.argsort(dst.numpy() * np.int64(n) + src.numpy(), kind="stable"))
            order_at = torch.from_numpy(np.argsort(src.numpy() * np.int64(n) + dst.numpy(), kind="stable"))
            a, at = g.csr[CP]
            if a._nnz() == self.num_edges:  # else repeated pairs were summed into one entry: use the DGL path
                weight = g.edges[CP].data["weight"].float().reshape(-1)
                self._csr = (src, dst, weight, order_a, order_at, a, at)

    def hidden(self, batch_ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Ids to hide this step: the batch's own edges (a random subset of them where the batch is more than
        ``MAX_HIDDEN_SHARE`` of all edges) plus a ``dropout`` share of all edges."""
        cap = max(1, int(MAX_HIDDEN_SHARE * self.num_edges))
        if len(batch_ids) > cap:
            batch_ids = batch_ids[torch.randperm(len(batch_ids), generator=generator)[:cap]]
        if self.dropout <= 0:
            return batch_ids
        extra = torch.nonzero(torch.rand(self.num_edges, generator=generator) < self.dropout).ravel()
        return torch.cat([batch_ids, extra])

    @contextlib.contextmanager
    def without(self, ids: torch.Tensor) -> Iterator[object]:
        """A whole graph equal to ``g`` minus the co-purchase edges ``ids`` (both directions of the relation),
        valid inside the ``with`` block (autograd keeps what its backward needs)."""
        if self._csr is None:
            from dualgnn._dgl_compat import dgl

            sub = dgl.remove_edges(self.g.dgl if self._whole else self.g, ids, etype=CP)
            yield dgl.remove_edges(sub, ids, etype=CP_BY)
            return
        src, dst, weight, order_a, order_at, a, at = self._csr
        w = weight.clone()
        w[ids] = 0.0
        n = self.g.num_nodes()
        norm = edge_norms(src, dst, w, n)  # as the training graph's norms, on the remaining edges
        a_step = csr_from_parts(a, norm[order_a])
        at_step = csr_from_parts(at, norm[order_at])
        yield self.g.with_relations({CP: (a_step, at_step), CP_BY: (at_step, a_step)})

    def exclude(self, ids: torch.Tensor) -> dict:
        """``exclude_eids`` for DGL's neighbour samplers: the same edges in both directions."""
        return {COPURCHASE: ids, COPURCHASED_BY: ids}


__all__ = ["EdgeHider"]
