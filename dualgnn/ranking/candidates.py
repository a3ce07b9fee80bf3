"""The ranker's first stage: per query batch, the dense signal rows and the candidate set they retrieve.

Signals (dense ``(q, n)`` rows for the batch, computed from the split's *training* edges and the trained GNN):

* ``gnn`` = ``s_q . t_v`` (the GNN's forward score), ``gnn_rev`` = ``s_v . t_q`` (the reverse), ``gnn_sim`` =
  ``s_q . s_v`` (similar products);
* path counts by type, from sparse rows of ``A`` (training co-purchase), ``A^T`` and ``C`` (co-view):
  ``AA``, ``ATA``, ``AAT``, ``AC``, ``CA``, ``CC``, ``ATAT`` (two hops) and the direct links ``rev`` (``v -> q``)
  and ``cv`` (``q ~ v``);
* each tuned classic's score row (e.g. RP3beta, personalised PageRank).

Candidates of a query: the union of the GNN's top ``gnn_k``, the first classic's top ``classic_k`` and the
``graph_k`` products with the most 1-2 hop paths (every path type summed), minus the query itself and its training
out-neighbours (the products the protocol filters: ranking them would waste slots). Everything is vectorised per
batch (sparse products, ``argpartition``); nothing loops over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dualgnn.classics.scorers import TrainGraph
from dualgnn.split import Split

#: Two-hop path types: name -> (first hop, second hop) over the training matrices ``a``, ``at``, ``c``.
PATHS = {"AA": ("a", "a"), "ATA": ("at", "a"), "AAT": ("a", "at"), "AC": ("a", "c"), "CA": ("c", "a"),
         "CC": ("c", "c"), "ATAT": ("at", "at")}
LINKS = {"rev": "at", "cv": "c"}


@dataclass(frozen=True)
class CandidateSizes:
    """How many products each retrieval source contributes per query (their union is ranked)."""

    gnn_k: int = 100
    classic_k: int = 100
    graph_k: int = 100

    def to_dict(self) -> dict:
        return {"gnn_k": self.gnn_k, "classic_k": self.classic_k, "graph_k": self.graph_k}


@dataclass
class RankInputs:
    """What the ranker reads, all from one split's training side: the training graph, the GNN's source and target
    vectors, the fitted classics (name -> scorer with ``score``; the first retrieves candidates) and the product
    features (``text``, ``categorical``, ``numeric``; None: no metadata features)."""

    graph: TrainGraph
    source: np.ndarray
    target: np.ndarray
    classics: dict
    features: object = None

    @classmethod
    def from_split(cls, split: Split, num_products: int, source, target, classics: dict, features) -> "RankInputs":
        graph = TrainGraph(split.train_copurchase, split.train_coview, num_products)
        return cls(graph, np.ascontiguousarray(source, np.float32), np.ascontiguousarray(target, np.float32),
                   dict(classics), features)

    @property
    def n(self) -> int:
        return self.graph.n

    def in_degree(self) -> np.ndarray:
        if not hasattr(self, "_indeg"):
            self._indeg = np.asarray(self.graph.a.sum(axis=0)).ravel().astype(np.float32)
            self._outdeg = np.asarray(self.graph.a.sum(axis=1)).ravel().astype(np.float32)
        return self._indeg

    def out_degree(self) -> np.ndarray:
        self.in_degree()
        return self._outdeg


@dataclass
class Batch:
    """One query batch: its signal rows, the excluded cells (self, training out-neighbours) and its candidates as
    (row in batch, product) pairs, sorted by row."""

    queries: np.ndarray
    rows: dict
    excluded: np.ndarray
    cand_row: np.ndarray
    cand_col: np.ndarray

    def group_sizes(self) -> np.ndarray:
        return np.bincount(self.cand_row, minlength=len(self.queries))


def signal_rows(inputs: RankInputs, queries: np.ndarray) -> dict[str, np.ndarray]:
    """Dense ``(q, n)`` float32 rows of every signal (module docstring) for ``queries``."""
    g, q = inputs.graph, np.asarray(queries, np.int64)
    mats = {"a": g.a, "at": g.at, "c": g.c}
    first = {name: m[q] for name, m in mats.items()}
    rows = {"gnn": inputs.source[q] @ inputs.target.T, "gnn_rev": inputs.target[q] @ inputs.source.T,
            "gnn_sim": inputs.source[q] @ inputs.source.T}
    for name, (hop1, hop2) in PATHS.items():
        rows[name] = _dense(first[hop1] @ mats[hop2])
    for name, mat in LINKS.items():
        rows[name] = _dense(first[mat])
    for name, scorer in inputs.classics.items():
        rows[name] = np.asarray(scorer.score(q), np.float32)
    return rows


def path_total(rows: dict) -> np.ndarray:
    """Every 1-2 hop path (and direct link) summed: the graph source's retrieval score."""
    return sum(rows[name] for name in (*PATHS, *LINKS))


def make_batch(inputs: RankInputs, queries: np.ndarray, sizes: CandidateSizes,
               pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Batch:
    """Signals and candidates for ``queries`` (module docstring); ``pairs`` = (row in batch, product), sorted by
    row, replaces the retrieved candidates (features of given pairs)."""
    queries = np.asarray(queries, np.int64)
    rows = signal_rows(inputs, queries)
    excluded = np.asarray(inputs.graph.a[queries].toarray() > 0)
    excluded[np.arange(len(queries)), queries] = True
    rows["paths"] = path_total(rows)
    if pairs is not None:
        return Batch(queries, rows, excluded, np.asarray(pairs[0], np.int64), np.asarray(pairs[1], np.int64))
    chosen = np.zeros_like(excluded)
    _mark_top(chosen, rows["gnn"], excluded, sizes.gnn_k, positive_only=False)
    _mark_top(chosen, rows["paths"], excluded, sizes.graph_k, positive_only=True)
    if inputs.classics:
        _mark_top(chosen, rows[next(iter(inputs.classics))], excluded, sizes.classic_k, positive_only=True)
    cand_row, cand_col = np.nonzero(chosen & ~excluded)
    return Batch(queries, rows, excluded, cand_row.astype(np.int64), cand_col.astype(np.int64))


def _mark_top(chosen: np.ndarray, scores: np.ndarray, excluded: np.ndarray, k: int, *, positive_only: bool) -> None:
    """Set ``chosen`` at each row's ``k`` best non-excluded products (only those scoring > 0 if ``positive_only``)."""
    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        return
    masked = np.where(excluded, -np.inf, scores)
    top = np.argpartition(-masked, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(scores), 1))
    values = np.take_along_axis(masked, top, axis=1)
    keep = (values > 0) if positive_only else np.isfinite(values)
    r = np.repeat(np.arange(len(scores)), top.shape[1])
    chosen[r[keep.ravel()], top.ravel()[keep.ravel()]] = True


def row_ranks(scores: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Per product, how many products of its row score strictly higher (excluded cells score lowest): a rank that
    ties share, so it never encodes product ids. float32 ``(q, n)``."""
    masked = np.where(excluded, -np.inf, scores)
    order = np.argsort(-masked, axis=1, kind="stable")
    ordered = np.take_along_axis(masked, order, axis=1)
    position = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    starts = np.ones(scores.shape, bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1).astype(np.float32)
    ranks = np.empty(scores.shape, np.float32)
    np.put_along_axis(ranks, order, first, axis=1)
    return ranks


def _dense(m) -> np.ndarray:
    return np.asarray(m.toarray() if sp.issparse(m) else m, np.float32)
