"""The dual-embedding GNN encoder: every product gets a source vector (as a query) and a target vector (as a
recommendation). Scoring is elsewhere (:class:`dualgnn.scoring.EmbeddingScorer`: ``source[q] . target[v]``).

One layer, per product ``u`` (DAEMON; ``W`` applied before aggregating because it is linear, so the sparse step
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

DGL direction: ``update_all(..., etype=e)`` sends messages src -> dst along ``e``. To give ``u`` the targets of
its copurchase out-neighbours we pull along ``copurchased_by`` (edges v -> u); to give ``v`` the sources of its
in-neighbours we pull along ``copurchase`` (edges u -> v).

Inference on a whole graph (``DualGNN.embed_rows``) runs layer by layer over blocks of rows, with the same values
as the whole-graph pass and a fraction of its graph-sized temporaries.

Layers work on a whole graph or on a sampled block (``dgl.create_block`` / ``NeighborSampler``): destination nodes
are the first ``g.num_dst_nodes()`` source nodes in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dualgnn._dgl_compat import fn
from dualgnn.config import TrainConfig
from dualgnn.model.fused import mean_of, sum_into, sum_of, unit_rows, unit_rows_
from dualgnn.training.losses import blended
from dualgnn.model.fused_encoder import EncoderSpec, encoder_step
from dualgnn.model.fused_layer import BufferPool, dual_layer_step
from dualgnn.model.spmm import ROWS_PER_BLOCK, attach_csr, has_csr, matrices, weighted_sum, weighted_sum_rows

CP, CP_BY, CV = "copurchase", "copurchased_by", "coview"


def whole_graph_csr(g) -> bool:
    """``g`` is a whole graph with CSR matrices for all three relations (dualgnn/model/spmm.py)."""
    return all(has_csr(g, e) for e in (CP, CP_BY, CV))


def layer_matrices(g) -> tuple:
    """``((A, A^T), (A_by, A_by^T), (C, C^T))`` of a :func:`whole_graph_csr` graph, as the fused steps read them."""
    return tuple(matrices(g)[e] for e in (CP, CP_BY, CV))


@dataclass
class NodeInputs:
    """Node input features as tensors: ``text`` (n, d_text) float32, ``categorical`` (n, c) int64 (0 = missing),
    ``numeric`` (n, p) float32, ``cardinalities`` one table size per categorical column."""

    text: torch.Tensor
    categorical: torch.Tensor
    numeric: torch.Tensor
    cardinalities: tuple[int, ...]

    @classmethod
    def from_features(cls, features) -> "NodeInputs":
        """From a :class:`dualgnn.features.build.Features` (or anything with the same four attributes)."""
        n = len(features.text)
        cat = getattr(features, "categorical", None)
        num = getattr(features, "numeric", None)
        cat = np.zeros((n, 0), np.int64) if cat is None else np.asarray(cat, np.int64)
        num = np.zeros((n, 0), np.float32) if num is None else np.asarray(num, np.float32)
        cards = tuple(int(c) for c in (getattr(features, "cardinalities", None) or ()))
        return cls(torch.from_numpy(np.ascontiguousarray(features.text, np.float32)),
                   torch.from_numpy(np.ascontiguousarray(cat)), torch.from_numpy(np.ascontiguousarray(num)), cards)

    def __len__(self) -> int:
        return len(self.text)

    def take(self, idx: torch.Tensor) -> "NodeInputs":
        return NodeInputs(self.text[idx], self.categorical[idx], self.numeric[idx], self.cardinalities)


class InputTower(nn.Module):
    """X_u = text W_text + sum of categorical embeddings + numeric W_num [+ learned id vector], shape (n, hidden)."""

    def __init__(self, config: TrainConfig, text_dim: int, cardinalities: tuple[int, ...], numeric_dim: int,
                 num_nodes: int) -> None:
        super().__init__()
        h = config.hidden_dim
        self.text = nn.Linear(text_dim, h, bias=False)
        self.categorical = nn.ModuleList(
            [nn.Embedding(max(int(c), 1), h, padding_idx=0) for c in cardinalities] if config.use_categorical else [])
        self.numeric = nn.Linear(numeric_dim, h) if config.use_numeric and numeric_dim > 0 else None
        # Id vectors help warm products; cold / new products get a zero id vector and rely on their features.
        self.ids = nn.Embedding(num_nodes, h) if config.id_embeddings else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.1)
        for emb in self.categorical:
            nn.init.normal_(emb.weight, std=0.1)

    def forward(self, inputs: NodeInputs, ids: torch.Tensor | None = None,
                id_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` (m,) graph node ids of the rows of ``inputs`` (None: no id vectors, e.g. brand-new products);
        ``id_mask`` (m,) float/bool, 0 where the id vector must not be used (cold products, dropout)."""
        # In-place sums on the projection's own output (its backward needs neither): no (n, h) copy per term.
        x = self.text(inputs.text)
        for j, emb in enumerate(self.categorical):
            x.add_(emb(inputs.categorical[:, j]))
        if self.numeric is not None:
            x.add_(self.numeric(inputs.numeric))
        if self.ids is not None and ids is not None:
            idv = self.ids(ids)
            if id_mask is not None:
                idv = idv * id_mask.to(idv.dtype).unsqueeze(1)
            x.add_(idv)
        return x


class DualLayer(nn.Module):
    """One propagation step on a graph or block: (s_src, t_src) (n_src, h) -> (s_dst, t_dst) (n_dst, h)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        h = config.hidden_dim
        self.config = config
        self.weight = nn.Linear(h, h, bias=False)  # the paper's single W_l
        self.self_weight = nn.Linear(h, h, bias=False) if config.self_term else None
        # DirGNN: the reverse co-purchase relation gets its own weight, so direction is not washed out.
        self.reverse_weight = nn.Linear(h, h, bias=False) if config.reverse_relations else None
        self.pool: BufferPool | None = None  # set by DualGNN: buffers shared by its layers' fused steps
        if config.aggregation == "attention":
            # One attention vector pair per message relation: s<-t (copurchase), t<-s, s<-s (coview), t<-t,
            # then the reverse relations s<-t (in-neighbours), t<-s (out-neighbours).
            rels = 6 if config.reverse_relations else 4
            self.attn_src = nn.Parameter(torch.randn(rels, h) * 0.1)
            self.attn_dst = nn.Parameter(torch.randn(rels, h) * 0.1)

    def _propagate(self, g, etype: str, msg_src: torch.Tensor, query_dst: torch.Tensor, rel: int) -> torch.Tensor:
        """The activation of AGG over ``etype`` edges (src -> dst) of ``msg_src`` rows: (n_dst, h)."""
        if self.config.aggregation == "weighted" and has_csr(g, etype):
            # Whole graph: torch CSR products, several times faster than DGL's kernel, with the ReLU fused in
            # (dualgnn/model/spmm.py).
            return weighted_sum(g, etype, msg_src, relu=self.config.activation == "relu")
        return self._act(self._aggregate(g, etype, msg_src, query_dst, rel))

    def _aggregate(self, g, etype: str, msg_src: torch.Tensor, query_dst: torch.Tensor, rel: int) -> torch.Tensor:
        """AGG over ``etype`` edges (src -> dst) of ``msg_src`` rows with DGL; (n_dst, h), zeros without edges."""
        agg = self.config.aggregation
        with g.local_scope():
            g.srcdata["m"] = msg_src
            if agg == "sum":
                g.update_all(fn.copy_u("m", "x"), fn.sum("x", "h"), etype=etype)
            elif agg == "mean":
                g.update_all(fn.copy_u("m", "x"), fn.mean("x", "h"), etype=etype)
            elif agg == "weighted":
                g.update_all(fn.u_mul_e("m", "norm", "x"), fn.sum("x", "h"), etype=etype)
            else:
                from dgl.nn.functional import edge_softmax

                sub = g[etype]
                sub.srcdata["el"] = (msg_src * self.attn_src[rel]).sum(-1, keepdim=True)
                sub.dstdata["er"] = (query_dst * self.attn_dst[rel]).sum(-1, keepdim=True)
                sub.apply_edges(fn.u_add_v("el", "er", "e"))
                # Interaction strength enters as a prior on the logits: heavier edges get more attention.
                logits = F.leaky_relu(sub.edata["e"], 0.2) + torch.log(sub.edata["weight"].clamp_min(1e-6)).unsqueeze(1)
                sub.edata["a"] = edge_softmax(sub, logits)
                sub.update_all(fn.u_mul_e("m", "a", "x"), fn.sum("x", "h"))
                return sub.dstdata["h"]
            return g.dstdata["h"]

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) if self.config.activation == "relu" else x

    def _reverse(self, g, s, t, qs, qt) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse co-purchase view (W_rev): s_u from targets of u's IN-neighbours (w -> u: u is often bought
        before w too), t_v from sources of v's OUT-neighbours."""
        rs, rt = self.reverse_weight(s), self.reverse_weight(t)
        s_rev = self._propagate(g, CP, rt, qs, 4)  # pull along u' -> u: in-neighbours' targets
        t_rev = self._propagate(g, CP_BY, rs, qt, 5)  # pull along w -> v reversed: out-neighbours' sources
        return s_rev, t_rev

    def fused_ok(self, g) -> bool:
        """Whether a whole-graph training step can use :func:`dualgnn.model.fused_layer.dual_layer_step` (same values
        and gradients, a fraction of the (n, h) allocations)."""
        c = self.config
        return (self.pool is not None and torch.is_grad_enabled() and c.aggregation == "weighted" and c.dual
                and c.use_coview and self.self_weight is not None and self.reverse_weight is None
                and whole_graph_csr(g))

    def forward(self, g, s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fused_ok(g):
            return dual_layer_step(s, t, self.weight.weight, self.self_weight.weight, layer_matrices(g),
                                   self.config.activation == "relu", self.pool)
        n_dst = g.num_dst_nodes()
        ms, mt = self.weight(s), self.weight(t)
        qs, qt = ms[:n_dst], mt[:n_dst]
        s_terms = [self._propagate(g, CP_BY, mt, qs, 0)]  # targets of out-neighbours
        t_terms = [self._propagate(g, CP, ms, qt, 1)]  # sources of in-neighbours
        if self.config.use_coview:
            s_terms.append(self._propagate(g, CV, ms, qs, 2))
            t_terms.append(self._propagate(g, CV, mt, qt, 3))
        if self.reverse_weight is not None:
            s_rev, t_rev = self._reverse(g, s, t, qs, qt)
            s_terms.append(s_rev)
            t_terms.append(t_rev)
        total = sum_of
        if self.self_weight is not None:
            # A whole graph's s[:n] is a view whose backward makes a zero-filled (n, h) copy: skip it.
            own_s, own_t = (s, t) if n_dst == len(s) else (s[:n_dst], t[:n_dst])
            s_terms.insert(0, self.self_weight(own_s))
            t_terms.insert(0, self.self_weight(own_t))
            total = sum_into  # the self terms are fresh matrix products: the others are added into them
        if not self.config.dual:
            # One vector per product: both roles merge into the same embedding.
            both = total(s_terms + t_terms)
            return unit_rows(both), unit_rows(both)
        s_out, t_out = total(s_terms), total(t_terms)
        return unit_rows(s_out), unit_rows(t_out)

    @torch.no_grad()
    def forward_rows(self, g, s: torch.Tensor, t: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` on a whole graph with weighted CSR aggregation, ``chunk`` destination rows at a time
        into two preallocated outputs (no autograd): the temporaries are chunk-sized, not graph-sized."""
        n = g.num_dst_nodes()
        ms, mt = self.weight(s), self.weight(t)
        out_s, out_t = torch.empty_like(s[:n]), torch.empty_like(t[:n])
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            for out, (main, main_msg), (own, own_msg), prev in (
                    (out_s, (CP_BY, mt), (CV, ms), s), (out_t, (CP, ms), (CV, mt), t)):
                acc = self._act(weighted_sum_rows(g, main, main_msg, start, stop))
                if self.config.use_coview:
                    acc += self._act(weighted_sum_rows(g, own, own_msg, start, stop))
                if self.self_weight is not None:
                    acc += self.self_weight(prev[start:stop])
                out[start:stop] = unit_rows_(acc)
        return out_s, out_t


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
        self.pool = BufferPool()
        for layer in self.layers:
            layer.pool = self.pool
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

    def clear_buffers(self) -> None:
        """Free the buffers the fused training steps keep between steps."""
        self.pool.clear()

    def rows_ok(self, g) -> bool:
        """Whether :meth:`embed_rows` can run on ``g`` (else it falls back to the whole-graph forward)."""
        c = self.config
        return (c.aggregation == "weighted" and c.dual and not c.reverse_relations and self.to_target is None
                and whole_graph_csr(g))

    @torch.no_grad()
    def embed_rows(self, g, inputs: NodeInputs, id_mask: torch.Tensor | None = None,
                   chunk: int = ROWS_PER_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
        """``serve(*forward(g, inputs, id_mask))`` computed layer by layer over blocks of ``chunk`` rows (the
        layer-wise inference of large-graph GNNs). Same values; about a third of the whole-graph temporaries,
        which at 1M products are 256 MB fresh mappings each (README "Performance")."""
        if not self.rows_ok(g):
            return self.serve(*self(g, inputs, id_mask=id_mask))
        ids = torch.arange(len(inputs))
        s = unit_rows_(self.tower(inputs, ids, id_mask))
        t = s  # both roles start from X_u (no separate input projection)
        mean = self.config.layer_combine == "mean" and self.layers
        acc_s, acc_t = (s.clone(), s.clone()) if mean else (None, None)
        for layer in self.layers:
            s, t = layer.forward_rows(g, s, t, chunk)
            if mean:
                acc_s += s
                acc_t += t
        if mean:
            s, t = unit_rows_(acc_s), unit_rows_(acc_t)  # the mean's scale does not survive normalising
        return self.serve(*self.finish(s, t, ids, id_mask))

    def layer_states(self, g, inputs: NodeInputs, id_mask: torch.Tensor | None = None):
        """Every layer's (s, t) over the whole graph ``g``: list of ``num_layers + 1`` pairs of (n, h)."""
        ids = torch.arange(len(inputs))
        states = [self.initial(inputs, ids, id_mask)]
        for layer in self.layers:
            states.append(layer(g, *states[-1]))
        return states

    def encoder_ok(self, g) -> bool:
        """Whether :meth:`forward` on ``g`` can run as one :func:`dualgnn.model.fused_encoder.encoder_step` (a whole-graph
        training step of a model whose every layer takes the fused route, with both roles starting from X_u)."""
        return self.to_target is None and bool(self.layers) and all(layer.fused_ok(g) for layer in self.layers)

    def encoder_params(self) -> tuple:
        """The parameters in the order :func:`encoder_step` reads them."""
        tower = self.tower
        out = [tower.text.weight, *(emb.weight for emb in tower.categorical)]
        if tower.numeric is not None:
            out += [tower.numeric.weight, tower.numeric.bias]
        if tower.ids is not None:
            out.append(tower.ids.weight)
        for layer in self.layers:
            out += [layer.weight.weight, layer.self_weight.weight]
        if self.config.target_bias and self.config.dual:
            out += [self.bias.weight, self.bias.bias, self.id_bias.weight]
        return tuple(out)

    def forward(self, g, inputs: NodeInputs, id_mask: torch.Tensor | None = None):
        """Full-graph propagation: (source, target), each (n, hidden_dim) (+1 column with ``target_bias``)."""
        if self.encoder_ok(g):
            c = self.config
            spec = EncoderSpec(
                text=inputs.text, categorical=inputs.categorical, numeric=inputs.numeric,
                id_mask=None if id_mask is None else id_mask.to(torch.float32),
                mats=layer_matrices(g), relu=c.activation == "relu", pool=self.pool,
                n_tables=len(self.tower.categorical), numeric_layer=self.tower.numeric is not None,
                id_table=self.tower.ids is not None, n_layers=len(self.layers), mean=c.layer_combine == "mean",
                bias=c.target_bias and c.dual)
            return encoder_step(spec, self.encoder_params())
        s, t = self.combine(self.layer_states(g, inputs, id_mask))
        return self.finish(s, t, torch.arange(len(inputs)), id_mask)

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
    """Store edata ``norm`` (:func:`edge_norms`) per edge type, computed once on the training graph."""
    for etype in g.canonical_etypes:
        src, dst = g.edges(etype=etype)
        g.edges[etype].data["norm"] = edge_norms(src, dst, g.edges[etype].data["weight"].float(),
                                                 g.num_nodes()).unsqueeze(1)
    attach_csr(g)


def build_model(config: TrainConfig, inputs: NodeInputs) -> DualGNN:
    return DualGNN(config, inputs.text.shape[1], inputs.cardinalities, inputs.numeric.shape[1], len(inputs))


__all__ = ["DualGNN", "DualLayer", "InputTower", "NodeInputs", "add_edge_norms", "build_model"]
