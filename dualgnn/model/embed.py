"""Served vectors of a whole catalog: the message-passing graph of a split, and every product's (source, target).

Used by training (validation each epoch, the final vectors) and by the nightly refresh (trained weights over a
changed graph); cold products go through the cold-start pass (:mod:`dualgnn.model.coldstart`).
"""

from __future__ import annotations

import numpy as np
import torch

from dualgnn.config import TrainConfig
from dualgnn.graph import Edges, ProductGraph, symmetrise
from dualgnn.model.encoder import DualGNN, add_edge_norms
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.spmm import WholeGraph
from dualgnn.split import Split


def training_graph(graph: ProductGraph, split: Split, config: TrainConfig) -> WholeGraph:
    """The graph message passing runs on (DGL graph and CSR matrices). No leakage: built from ``split.train_copurchase`` and
    ``split.train_coview`` only, so held-out edges never feed message passing (nor, below, negatives)."""
    n = graph.num_products
    cp = split.train_copurchase if config.directed else symmetrise(split.train_copurchase, n)
    cv = split.train_coview if config.use_coview else Edges.empty()
    g = graph.to_dgl(copurchase=cp, coview=cv)
    add_edge_norms(g)
    return WholeGraph.of(g)


@torch.no_grad()
def embed_all(model: DualGNN, g, inputs: NodeInputs, cold: np.ndarray | None = None,
              known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Served source and target vectors for every product (n, d) float32 (d = hidden_dim [+1 with target_bias],
    doubled by the reciprocity blend: :meth:`DualGNN.serve`). ``cold`` products (no training edges) take the
    paper's cold-start path instead of their isolated-node vectors. ``known`` (n,) bool: products with learned
    per-product rows (default all; a refreshed catalog's new products have none)."""
    model.eval()
    n = len(inputs)
    warm = torch.ones(n)
    if cold is not None and len(cold):
        warm[torch.from_numpy(cold)] = 0.0
    id_mask = warm if known is None else warm * torch.from_numpy(np.asarray(known, np.float32))
    s, t = model.embed_rows(g, inputs, id_mask=id_mask)  # = model.serve(*model(g, ...)), in row blocks
    s, t = s.numpy(), t.numpy()  # fresh buffers of this call: no copy needed
    if cold is not None and len(cold):
        from dualgnn.model.coldstart import cold_start_embeddings

        cs, ct = cold_start_embeddings(model, model.config, g, inputs, cold, warm.numpy() > 0)
        s[cold], t[cold] = cs, ct
    return s, t
