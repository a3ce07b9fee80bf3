"""One propagation step of the dual encoder (:class:`DualLayer`), on a whole graph or a sampled block.

Per product ``u`` (DAEMON; ``W`` applied before aggregating because it is linear)::

    s_u <- act( AGG over copurchase OUT-neighbours v of t_v W ) + act( AGG over coview neighbours v of s_v W ) [+ s_u W_self]
    t_u <- act( AGG over copurchase IN-neighbours  v of s_v W ) + act( AGG over coview neighbours v of t_v W ) [+ t_u W_self]
    then L2-normalise.

DGL direction: ``update_all(..., etype=e)`` sends messages src -> dst along ``e``. To give ``u`` the targets of
its copurchase out-neighbours we pull along ``copurchased_by`` (edges v -> u); to give ``v`` the sources of its
in-neighbours we pull along ``copurchase`` (edges u -> v).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dualgnn._dgl_compat import fn
from dualgnn.config import TrainConfig
from dualgnn.model.rows import sum_into, sum_of, unit_rows, unit_rows_
from dualgnn.model.spmm import dgl_graph, has_csr, weighted_sum, weighted_sum_rows

CP, CP_BY, CV = "copurchase", "copurchased_by", "coview"


def whole_graph_csr(g) -> bool:
    """``g`` is a :class:`~dualgnn.model.spmm.WholeGraph` with CSR matrices for all three relations."""
    return all(has_csr(g, e) for e in (CP, CP_BY, CV))


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
        g = dgl_graph(g)
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

    def forward(self, g, s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
