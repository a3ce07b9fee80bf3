"""One recommendation contract for every method: score all products for a batch of queries, or take the top k.

Our model and every baseline subclass :class:`Scorer`. Evaluation uses :meth:`Scorer.score` (full ranking);
serving uses :meth:`Scorer.recommend`, whose batch call equals the single call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp


class Scorer(ABC):
    """A recommender over ``num_products`` products: higher score = more relevant target for the query."""

    name: str = "scorer"

    def __init__(self, num_products: int) -> None:
        self.num_products = num_products

    @abstractmethod
    def score(self, queries: np.ndarray) -> np.ndarray:
        """Scores of every product for each query. ``queries`` shape ``(B,)`` int64 -> ``(B, num_products)`` float32."""

    def recommend(self, queries: np.ndarray, k: int, *, exclude: sp.csr_matrix | None = None,
                  exclude_self: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` products per query, best first: ``(ids (B, k) int64, scores (B, k) float32)``.

        ``exclude`` is a ``(num_products, num_products)`` sparse matrix whose row ``q`` lists products never to
        recommend for ``q`` (e.g. its training out-neighbours). Slots past the available products hold id -1.
        """
        queries = np.asarray(queries, dtype=np.int64)
        scores = np.asarray(self.score(queries), dtype=np.float32).copy()
        mask_scores(scores, queries, exclude=exclude, exclude_self=exclude_self)
        return top_k(scores, k)


def mask_scores(scores: np.ndarray, queries: np.ndarray, *, exclude: sp.csr_matrix | None,
                exclude_self: bool) -> None:
    """Set excluded products' scores to -inf in place."""
    rows = np.arange(len(queries))
    if exclude_self:
        scores[rows, queries] = -np.inf
    if exclude is not None:
        sub = exclude[queries]
        r, c = sub.nonzero()
        scores[r, c] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` of a score matrix, sorted best first; ties broken by lower product id."""
    b, n = scores.shape
    k_eff = min(k, n)
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n else np.tile(np.arange(n), (b, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    ids[~np.isfinite(vals)] = -1
    if k_eff < k:
        ids = np.pad(ids, ((0, 0), (0, k - k_eff)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return ids, vals


class EmbeddingScorer(Scorer):
    """``score(q, v) = source[q] . target[v]``: the dual-embedding model (or any two-tower model)."""

    def __init__(self, source: np.ndarray, target: np.ndarray, name: str = "dualgnn") -> None:
        super().__init__(len(target))
        self.source = np.ascontiguousarray(source, dtype=np.float32)
        self.target = np.ascontiguousarray(target, dtype=np.float32)
        self.name = name

    def score(self, queries: np.ndarray) -> np.ndarray:
        return self.source[np.asarray(queries, dtype=np.int64)] @ self.target.T


def adjacency(src: np.ndarray, dst: np.ndarray, n: int, weight: np.ndarray | None = None) -> sp.csr_matrix:
    """``(n, n)`` CSR matrix with entry (src, dst) = weight (or 1), duplicates summed."""
    data = np.ones(len(src), np.float32) if weight is None else weight.astype(np.float32)
    return sp.csr_matrix((data, (src, dst)), shape=(n, n))
