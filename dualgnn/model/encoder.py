"""The dual-embedding GNN encoder: every product gets a source vector (as a query) and a target vector (as a
recommendation). Scoring is elsewhere (:class:`dualgnn.scoring.EmbeddingScorer`: ``source[q] . target[v]``).

One layer (:class:`dualgnn.model.layer.DualLayer`), per product ``u`` (DAEMON; ``W`` applied before aggregating because it is linear, so the sparse step
moves ``hidden_dim``-wide rows)::

    s_u <- act( AGG over copurchase OUT-neighbours v of t_v W ) + act( AGG over coview neighbours v of s_v W ) [+ s_u W_self]
    t_u <- act( AGG over copurchase IN-neighbours  v of s_v W ) + act( AGG over coview neighbours v of t_v W ) [+ t_u W_self]
    then L2-normalise.

With ``reverse_relations`` (DirGNN) a separate ``W_rev`` adds the reverse co-purchase view:
``s_u += act( AGG over copurchase IN-neighbours v of t_v W_rev )`` and ``t_u += act( AGG over OUT-neighbours v
of s_v W_rev )``; the forward and reverse relations keep their own weights, so direction stays learnable.

Departures from the paper, each a TrainConfig switch measured in the README: a self term, weighted symmetric
normalisation, the mean of all layers' outputs, per-product id vectors (warm products only), categorical and
numeric side features, a per-target popularity bias folded into the vectors ([s, 1] . [t, b] = s.t + b), and
the reciprocity blend of the served vectors (:func:`blended`: [s, lam t] . [t, s] = s_u.t_v + lam s_v.t_u).

Inference on a whole graph (``DualGNN.embed_rows``) runs layer by layer over blocks of rows, with the same values
as the whole-graph pass and a fraction of its graph-sized temporaries.

Layers work on a whole graph or on a sampled block (``dgl.create_block`` / ``NeighborSampler``): destination nodes
are the first ``g.num_dst_nodes()`` source nodes in both cases.
"""

from __future__ import annotations

import torch
from torch import nn

from dualgnn.config import TrainConfig
from dualgnn.model.rows import mean_of, unit_rows, unit_rows_
from dualgnn.model.inputs import InputTower, NodeInputs
from dualgnn.model.layer import DualLayer, whole_graph_csr
from dualgnn.model.spmm import ROWS_PER_BLOCK


class DualGNN(nn.Module):
    """Input tower + ``num_layers`` :class:`DualLayer` s. ``forward(g, inputs)`` -> (source, target), each (n, h),
    L2-normalised; ``source[q] . target[v]`` is the relevance of ``v`` after ``q``."""

    def __init__(self, config: TrainConfig, text_dim: int, cardinalities: tuple[int, ...], numeric_dim: int,
                 num_nodes: int) -> None:
        super().__init__()
        self.config = config
        self.tower = InputTower(config, text_dim, cardinalities, numeric_dim, num_nodes)
        h = config.hidden_dim
        self.to_target = nn.Linear(h, h, bias=False) if config.separate_inputs else None
        self.layers = nn.ModuleList([DualLayer(config) for _ in range(config.num_layers)])
        if config.target_bias and config.dual:
            # Popularity of a target, from its vector (so cold products get one) plus a per-product correction.
            self.bias = nn.Linear(h, 1)
            self.id_bias = nn.Embedding(num_nodes, 1)
            nn.init.zeros_(self.id_bias.weight)

    def initial(self, inputs: NodeInputs, ids: torch.Tensor | None = None,
                id_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 (s, t): both start from X_u (paper), or from two projections of it (``separate_inputs``)."""
        x = self.tower(inputs, ids, id_mask)
        if self.to_target is None:
            u = unit_rows(x)  # one tensor for both roles (nothing modifies layer states in place)
            return u, u
        return unit_rows(x), unit_rows(self.to_target(x))

    def combine(self, states: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (s, t) from per-layer states (each trimmed to the output nodes): the last, or the mean of all."""
        if self.config.layer_combine == "last" or len(states) == 1:
            return states[-1]
        s = mean_of([st[0] for st in states])
        t = mean_of([st[1] for st in states])
        return unit_rows(s), unit_rows(t)

    def finish(self, s: torch.Tensor, t: torch.Tensor, ids: torch.Tensor | None = None,
               id_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """With ``target_bias``: s -> [s, 1], t -> [t, b] so that source . target = s.t + b_v (shape (m, h + 1))."""
        if not (self.config.target_bias and self.config.dual):  # one embedding per product stays symmetric
            return s, t
        b = self.bias(t)
        if ids is not None:
            idb = self.id_bias(ids)
            b = b + (idb if id_mask is None else idb * id_mask.to(idb.dtype).unsqueeze(1))
        return torch.cat([s, torch.ones_like(b)], 1), torch.cat([t, b], 1)

    def serve(self, s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The vectors every score uses (exported, indexed, cold start): see :func:`blended`."""
        return blended(s, t, self.config.blend)

    def rows_ok(self, g) -> bool:
        """Whether :meth:`embed_rows` can run on ``g`` (else it falls back to the whole-graph forward)."""
        c = self.config
        return (c.aggregation == "weighted" and c.dual and not c.reverse_relations and self.to_target is None
                and whole_graph_csr(g))

    @torch.no_grad()
    def embed_rows(self, g, inputs: NodeInputs, id_mask: torch.Tensor | None = None,
                   chunk: int = ROWS_PER_BLOCK, ids: torch.Tensor | None = None,
                   exchange=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``serve(*forward(g, inputs, id_mask, ids, exchange))`` computed layer by layer over blocks of ``chunk``
        rows (the layer-wise inference of large-graph GNNs). Same values; about a third of the whole-graph
        temporaries, which at 1M products are 256 MB fresh mappings each (README "Performance")."""
        if not self.rows_ok(g):
            return self.serve(*self(g, inputs, id_mask=id_mask, ids=ids, exchange=exchange))
        ids = torch.arange(len(inputs)) if ids is None else ids
        s = unit_rows_(self.tower(inputs, ids, id_mask))
        t = s  # both roles start from X_u (no separate input projection)
        mean = self.config.layer_combine == "mean" and self.layers
        acc_s, acc_t = (s.clone(), s.clone()) if mean else (None, None)
        for layer in self.layers:
            s, t = layer.forward_rows(g, s, t, chunk)
            if exchange is not None:
                s, t = exchange(s, t)
            if mean:
                acc_s += s
                acc_t += t
        if mean:
            s, t = unit_rows_(acc_s), unit_rows_(acc_t)  # the mean's scale does not survive normalising
        return self.serve(*self.finish(s, t, ids, id_mask))

    def layer_states(self, g, inputs: NodeInputs, id_mask: torch.Tensor | None = None,
                     ids: torch.Tensor | None = None, exchange=None):
        """Every layer's (s, t) over the whole graph ``g``: list of ``num_layers + 1`` pairs of (n, h)."""
        ids = torch.arange(len(inputs)) if ids is None else ids
        states = [self.initial(inputs, ids, id_mask)]
        for layer in self.layers:
            s, t = layer(g, *states[-1])
            states.append((s, t) if exchange is None else exchange(s, t))
        return states

    def forward(self, g, inputs: NodeInputs, id_mask: torch.Tensor | None = None, ids: torch.Tensor | None = None,
                exchange=None):
        """Full-graph propagation: (source, target), each (n, hidden_dim) (+1 column with ``target_bias``).

        A part of a bigger catalog (dualgnn/distributed/) passes ``ids`` (n,), the rows of the per-product tables
        that ``g``'s nodes are (default: node i is product i), and ``exchange(s, t) -> (s, t)``, applied to every
        layer's output (the halo exchange between processes)."""
        s, t = self.combine(self.layer_states(g, inputs, id_mask, ids, exchange))
        return self.finish(s, t, torch.arange(len(inputs)) if ids is None else ids, id_mask)

    def forward_blocks(self, blocks, inputs: NodeInputs, input_nodes: torch.Tensor,
                       id_mask: torch.Tensor | None = None):
        """Sampled propagation: ``blocks`` from a NeighborSampler, ``input_nodes`` the first block's source ids.
        Returns (source, target) for the last block's destination nodes."""
        mask = id_mask[input_nodes] if id_mask is not None else None
        s, t = self.initial(inputs.take(input_nodes), input_nodes, mask)
        n_out = blocks[-1].num_dst_nodes()
        states = [(s[:n_out], t[:n_out])]
        for block, layer in zip(blocks, self.layers):
            s, t = layer(block, s, t)
            states.append((s[:n_out], t[:n_out]))
        s, t = self.combine(states)
        return self.finish(s, t, input_nodes[:n_out], mask[:n_out] if mask is not None else None)


def edge_norms(src: torch.Tensor, dst: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    """w_uv / sqrt(W_out(u) W_in(v)) per edge (weighted symmetric normalisation, the weighted-degree analogue of
    GCN's); an edge of weight 0 counts for nothing in the degrees. Computed in float64: with weights near the
    float32 maximum (which the graph builder allows) the product of two degrees would overflow and mute the edge."""
    w = w.double()
    w_out = torch.zeros(n, dtype=torch.float64).index_add_(0, src, w).clamp_min_(1e-12)
    w_in = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, w).clamp_min_(1e-12)
    return (w / torch.sqrt(w_out[src] * w_in[dst])).float()


def add_edge_norms(g) -> None:
    """Store edata ``norm`` (:func:`edge_norms`) per edge type of the DGL graph ``g``, computed once on the training
    graph (:class:`~dualgnn.model.spmm.WholeGraph` then builds the matrices from them)."""
    for etype in g.canonical_etypes:
        src, dst = g.edges(etype=etype)
        g.edges[etype].data["norm"] = edge_norms(src, dst, g.edges[etype].data["weight"].float(),
                                                 g.num_nodes()).unsqueeze(1)


def build_model(config: TrainConfig, inputs: NodeInputs) -> DualGNN:
    return DualGNN(config, inputs.text.shape[1], inputs.cardinalities, inputs.numeric.shape[1], len(inputs))


__all__ = ["DualGNN", "DualLayer", "InputTower", "NodeInputs", "add_edge_norms", "build_model"]


def blended(source: torch.Tensor, target: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, key) = ([s, lam t], [t, s]): query_u . key_v = s_u.t_v + lam s_v.t_u, the reciprocity blend of
    :attr:`TrainConfig.blend` as one inner product (so Faiss still serves it). ``lam == 0`` returns the inputs."""
    if lam == 0:
        return source, target
    return torch.cat([source, lam * target], -1), torch.cat([target, source], -1)
