"""The ranker's pair features, gathered for a batch's candidates from its signals (no per-pair loops).

Per candidate pair ``(q, v)``:

* direction: ``gnn`` (``s_q . t_v``), ``gnn_rev`` (``s_v . t_q``), their difference ``gnn_dir``, ``gnn_sim``
  (``s_q . s_v``) and ``gnn_gap`` (``s_q . t_v`` minus the query's best non-excluded score);
* path counts by type (``AA``, ``ATA``, ``AAT``, ``AC``, ``CA``, ``CC``, ``ATAT``), the direct reverse link ``rev``
  and co-view link ``cv``, their total ``paths``;
* each tuned classic's score (``rp3beta`` today: ``production.RANKER_CLASSICS``);
* popularity: training in-degree of both ends (``pop_q``, ``pop_v``) and out-degree (``out_q``, ``out_v``);
* metadata: ``same_brand``, ``same_category_top``, ``same_category_leaf`` (1 / 0, NaN when either is unknown),
  ``text_cos``, ``log_price_diff`` (NaN when a price is missing);
* ``rank_gnn``, ``rank_paths``, ``rank_<classic>``: the candidate's 0-based rank in each source's row (the GNN's
  capped at the length of its retrieved list; for a query with no edge, ``rank_paths`` is its popularity rank).

A cold product (no training edges) has zero path counts, classic scores and degrees; its GNN vectors come from the
cold-start path and its metadata features are as for any product.
"""

from __future__ import annotations

import numpy as np

from dualgnn.ranking.candidates import LINKS, PATHS, Batch, RankInputs

GNN = ("gnn", "gnn_rev", "gnn_dir", "gnn_sim", "gnn_gap")
GRAPH = (*PATHS, *LINKS, "paths")
POPULARITY = ("pop_q", "pop_v", "out_q", "out_v")
METADATA = ("same_brand", "same_category_top", "same_category_leaf", "text_cos", "log_price_diff")
CATEGORICAL = ("same_brand", "same_category_top", "same_category_leaf")


def feature_names(classics) -> list[str]:
    """Column order of :func:`pair_features` for classics named ``classics`` (the order they were given)."""
    classics = list(classics)
    return [*GNN, *GRAPH, *classics, *POPULARITY, *METADATA, "rank_gnn", "rank_paths",
            *(f"rank_{c}" for c in classics)]


def pair_features(inputs: RankInputs, batch: Batch) -> np.ndarray:
    """``(candidates, features)`` float32 in :func:`feature_names` order for ``batch``'s candidate pairs."""
    r, c = batch.cand_row, batch.cand_col
    q = batch.queries[r]
    cols = dict(batch.signals)
    cols["gnn_dir"] = cols["gnn"] - cols["gnn_rev"]
    cols["gnn_gap"] = cols["gnn"] - batch.best_gnn[r]
    indeg, outdeg = inputs.in_degree(), inputs.out_degree()
    cols.update(pop_q=indeg[q], pop_v=indeg[c], out_q=outdeg[q], out_v=outdeg[c])
    cols.update(_metadata(inputs.features, q, c, inputs.text_norms()))
    names = feature_names(inputs.classics)
    return np.stack([np.asarray(cols[name], np.float32) for name in names], axis=1) if len(r) else \
        np.zeros((0, len(names)), np.float32)


def _metadata(features, q: np.ndarray, v: np.ndarray, text_norms: np.ndarray | None) -> dict[str, np.ndarray]:
    """Category / brand match, text cosine and log-price difference; NaN where the features do not say.
    ``text_norms``: the norm of each product's text vector (:meth:`RankInputs.text_norms`)."""
    nan = np.full(len(q), np.nan, np.float32)
    if features is None:
        return {name: nan for name in METADATA}
    out = {}
    cat = getattr(features, "categorical", None)
    for j, name in enumerate(CATEGORICAL):
        if cat is None or cat.shape[1] <= j:
            out[name] = nan
            continue
        a, b = cat[q, j], cat[v, j]
        out[name] = np.where((a > 0) & (b > 0), (a == b).astype(np.float32), np.nan)
    text = getattr(features, "text", None)
    out["text_cos"] = nan if text is None else _cosine(np.asarray(text), text_norms, q, v)
    num = getattr(features, "numeric", None)
    if num is None or num.shape[1] < 2:
        out["log_price_diff"] = nan
    else:
        known = (num[q, 1] == 0) & (num[v, 1] == 0)
        out["log_price_diff"] = np.where(known, num[v, 0] - num[q, 0], np.nan)
    return out


def _cosine(text: np.ndarray, norms: np.ndarray, q: np.ndarray, v: np.ndarray,
            chunk: int = 1 << 16) -> np.ndarray:
    """Cosine of ``text[q[i]]`` and ``text[v[i]]`` (0 for a zero vector); ``norms`` the rows' norms, computed once
    for the catalog (a batch's pairs touch a few thousand rows: recomputing every row's norm per batch was a fifth
    of the 1M ranked export)."""
    out = np.empty(len(q), np.float32)
    for i in range(0, len(q), chunk):
        a, b = q[i:i + chunk], v[i:i + chunk]
        na, nb = norms[a], norms[b]
        out[i:i + chunk] = np.einsum("ij,ij->i", text[a], text[b]) / (np.where(na > 0, na, 1.0) *
                                                                       np.where(nb > 0, nb, 1.0))
    return out
