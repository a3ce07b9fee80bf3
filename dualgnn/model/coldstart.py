"""Cold start (DAEMON): a product with metadata but no edges is linked to its ``k`` nearest warm products in text
space (cosine, Faiss ``IndexFlatIP``), and the forward pass runs on that small subgraph: the new product's own
features plus its linked neighbours' layer inputs (taken from the warm graph, computed once).

How the new product is linked (``link``):

* ``"borrow"`` (default): it inherits its linked products' edges, each weighted 1/k: their copurchase
  out-neighbours become its out-neighbours, their in-neighbours its in-neighbours, their co-view neighbours its
  co-view neighbours. Its layer output is then the mean of the linked products' neighbourhood aggregates plus its
  own self term: where a similar phone's source points to cases, so does the new phone's.
* ``"coview"``: co-view-like links to the k products themselves (``s_new`` aggregates their sources, ``t_new``
  their targets): the literal reading of the paper. Measured worse (a new phone never reads any case's vector).

>>> starter = ColdStarter(model, g_train, inputs, warm_mask)  # doctest: +SKIP
>>> source, target = starter.embed(new_inputs)  # (c, h) each; well under a second per product  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch

from dualgnn._dgl_compat import dgl
from dualgnn.graph import COPURCHASE, COPURCHASED_BY, COVIEW
from dualgnn.model.encoder import DualGNN, add_edge_norms
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.spmm import WholeGraph

LINKS = ("borrow", "coview")


class ColdStarter:
    """Holds the warm products' per-layer states and a text index; :meth:`embed` places new products.

    ``inputs``: node inputs of every graph product; ``warm_mask`` (n,) bool: products that may be linked to (those
    with training edges). Building costs one full forward pass; each :meth:`embed` call costs a k-NN search and
    ``num_layers`` tiny message-passing steps.
    """

    def __init__(self, model: DualGNN, g, inputs: NodeInputs, warm_mask: np.ndarray, link: str = "borrow") -> None:
        import faiss

        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, not {link!r}")
        if not model.config.use_coview and link == "coview":
            link = "borrow"  # a model trained without co-view never learned to read co-view messages
        self.model, self.link = model, link
        if not isinstance(g, WholeGraph):  # a DGL graph of the catalog: its norms and matrices, as training has
            if "norm" not in g.edges[COPURCHASE].data:
                add_edge_norms(g)
            g = WholeGraph.of(g)
        self.warm = np.flatnonzero(np.asarray(warm_mask, bool)).astype(np.int64)
        if len(self.warm) == 0:
            raise ValueError("cold start needs at least one warm product to link to")
        with torch.no_grad():
            model.eval()
            mask = torch.from_numpy(np.asarray(warm_mask, np.float32))
            self.states = model.layer_states(g, inputs, id_mask=mask)
        # Weighted co-view degree of each warm product, for the symmetric normalisation of co-view links.
        w = g.edges[COVIEW].data["weight"].float()
        _, dst = g.edges(etype=COVIEW)
        self.degree = torch.zeros(g.num_nodes()).index_add_(0, dst, w).clamp_min(1.0)
        # Incoming edges per node and edge type (sorted by destination), for borrowing a neighbour's edges.
        self.in_edges = {}
        for etype in (COPURCHASE, COPURCHASED_BY, COVIEW):
            src, dst = (x.numpy() for x in g.edges(etype=etype))
            order = np.argsort(dst, kind="stable")
            indptr = np.searchsorted(dst[order], np.arange(g.num_nodes() + 1))
            self.in_edges[etype] = (src[order], g.edges[etype].data["norm"].squeeze(1).numpy()[order],
                                    g.edges[etype].data["weight"].numpy()[order], indptr)
        text = np.ascontiguousarray(inputs.text.numpy()[self.warm], np.float32)
        self.index = faiss.IndexFlatIP(text.shape[1])
        self.index.add(_unit(text))

    def neighbours(self, text: np.ndarray, k: int) -> np.ndarray:
        """(c, k') graph ids of the nearest warm products by text cosine, k' = min(k, #warm)."""
        _, idx = self.index.search(_unit(np.ascontiguousarray(text, np.float32)), min(k, len(self.warm)))
        return self.warm[idx]

    @torch.no_grad()
    def embed(self, new_inputs: NodeInputs, k_links: int = 10, exclude: np.ndarray | None = None):
        """Served source and target (c, d) float32 for products described by ``new_inputs`` (no id vectors: features
        only). ``exclude`` (c,) graph ids never to link a row to (itself, when re-embedding a graph product)."""
        nbrs = self.neighbours(new_inputs.text.numpy(), k_links + (1 if exclude is not None else 0))
        if exclude is not None:
            keep = nbrs != np.asarray(exclude)[:, None]
            nbrs = np.stack([row[m][: k_links] for row, m in zip(nbrs, keep)])
        block, warm_ids = (self._borrow_block if self.link == "borrow" else self._coview_block)(nbrs)
        s, t = self.model.initial(new_inputs, ids=None)
        states = [(s, t)]
        for layer, (ws, wt) in zip(self.model.layers, self.states[:-1]):
            s, t = layer(block, torch.cat([s, ws[warm_ids]]), torch.cat([t, wt[warm_ids]]))
            states.append((s, t))
        s, t = self.model.combine(states)
        s, t = self.model.serve(*self.model.finish(s, t))  # no id vector, no id bias: features and links only
        return s.numpy().astype(np.float32), t.numpy().astype(np.float32)

    def _coview_block(self, nbrs: np.ndarray):
        """Block: co-view edges linked product -> new product, normalised 1/sqrt(k * deg)."""
        c, k = nbrs.shape
        uniq, local = np.unique(nbrs, return_inverse=True)
        src = c + local.reshape(-1)  # block source rows: [new products..., linked warm]
        dst = np.repeat(np.arange(c), k)
        norm = 1.0 / np.sqrt(k * self.degree.numpy()[uniq[local.reshape(-1)]])
        spec = {COVIEW: (src, dst, norm, np.ones(len(src), np.float32))}
        return self._block(spec, c, uniq), torch.from_numpy(uniq)

    def _borrow_block(self, nbrs: np.ndarray):
        """Block: every edge into a linked product v (per edge type) re-pointed at the new product, norm / k."""
        c, k = nbrs.shape
        parts = {}
        for etype, (src_sorted, norm_sorted, w_sorted, indptr) in self.in_edges.items():
            v = nbrs.reshape(-1)
            counts = indptr[v + 1] - indptr[v]
            rows = np.repeat(np.repeat(np.arange(c), k), counts)
            pos = np.concatenate([np.arange(indptr[x], indptr[x + 1]) for x in v]) if counts.sum() else np.zeros(0, int)
            parts[etype] = (src_sorted[pos], rows, norm_sorted[pos] / k, w_sorted[pos] / k)
        uniq = np.unique(np.concatenate([p[0] for p in parts.values()]))
        spec = {e: (c + np.searchsorted(uniq, src), dst, norm, w) for e, (src, dst, norm, w) in parts.items()}
        return self._block(spec, c, uniq), torch.from_numpy(uniq)

    def _block(self, spec: dict, c: int, uniq: np.ndarray):
        """A DGL block with ``c`` destination rows (the new products) and ``c + len(uniq)`` source rows."""
        block_spec, data = {}, {}
        for etype in (COPURCHASE, COPURCHASED_BY, COVIEW):
            src, dst, norm, w = spec.get(etype, (np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.float32),) * 2)
            block_spec[etype] = (torch.from_numpy(np.asarray(src, np.int64)), torch.from_numpy(np.asarray(dst, np.int64)))
            data[etype] = (torch.from_numpy(np.asarray(norm, np.float32)).unsqueeze(1),
                           torch.from_numpy(np.asarray(w, np.float32)))
        block = dgl.create_block(block_spec, num_src_nodes={"product": c + len(uniq)}, num_dst_nodes={"product": c})
        for etype, (norm, w) in data.items():
            block.edges[etype].data["norm"] = norm
            block.edges[etype].data["weight"] = w
        return block


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cold_start_embeddings(model: DualGNN, config, graph_dgl_train, features_all, cold_nodes: np.ndarray,
                          warm_mask: np.ndarray, k_links: int = 10, link: str = "borrow"):
    """Source and target (c, h) for graph products ``cold_nodes`` that have no training edges, from their own
    features and their ``k_links`` nearest warm products. ``features_all``: Features or NodeInputs of all products."""
    inputs = features_all if isinstance(features_all, NodeInputs) else NodeInputs.from_features(features_all)
    warm = np.asarray(warm_mask, bool).copy()
    cold_nodes = np.asarray(cold_nodes, np.int64)
    warm[cold_nodes] = False
    starter = ColdStarter(model, graph_dgl_train, inputs, warm, link=link)
    return starter.embed(inputs.take(torch.from_numpy(cold_nodes)), k_links)


def embed_new_products(model: DualGNN, config, graph_dgl, features_warm, new_features, k_links: int = 10,
                       link: str = "borrow"):
    """Source and target (c, h) for brand-new products (not in the graph), ``new_features`` from
    ``features.transform_new``. For repeated calls keep one :class:`ColdStarter` instead (it caches the warm side)."""
    new = new_features if isinstance(new_features, NodeInputs) else NodeInputs.from_features(new_features)
    return new_product_starter(model, graph_dgl, features_warm, link=link).embed(new, k_links)


def new_product_starter(model: DualGNN, graph_dgl, features_warm, link: str = "borrow") -> ColdStarter:
    """A :class:`ColdStarter` for products outside the graph: every product with an edge may be linked to.

    Costs one full forward pass; keep it to embed many batches of new products (``dualgnn serve`` does)."""
    inputs = features_warm if isinstance(features_warm, NodeInputs) else NodeInputs.from_features(features_warm)
    g = graph_dgl
    degree = (g.in_degrees(etype=COPURCHASE) + g.out_degrees(etype=COPURCHASE) + g.in_degrees(etype=COVIEW)).numpy()
    return ColdStarter(model, g, inputs, degree > 0, link=link)
