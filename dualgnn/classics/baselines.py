"""Baselines that answer the same ``(ids, scores)`` contract as our model: popularity, co-occurrence, text kNN.

All are fitted on training edges only (no leakage: held-out edges never reach them). For a node split (EQ4) a
cold product has no training edges: popularity is unchanged, co-occurrence gives a cold query an all-zero row
(every candidate ties, which is the honest figure), text kNN only needs the product's features.

>>> import numpy as np
>>> from dualgnn.graph import Edges
>>> cp = Edges(np.array([0, 1]), np.array([1, 2]), np.ones(2, np.float32))
>>> CooccurrenceScorer(cp, Edges.empty(), 3).score(np.array([0])).tolist()   # 0->1->2
[[0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dualgnn.graph import Edges
from dualgnn.scoring import Scorer, adjacency


class PopularityScorer(Scorer):
    """Score = training co-purchase in-degree of the target, the same for every query.

    ``weighted=True`` sums edge weights instead of counting edges.
    """

    name = "popularity"

    def __init__(self, train_copurchase: Edges, num_products: int, *, weighted: bool = False) -> None:
        super().__init__(num_products)
        w = train_copurchase.weight.astype(np.float64) if weighted else None
        self.popularity = np.bincount(train_copurchase.dst, weights=w, minlength=num_products).astype(np.float32)

    def score(self, queries: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(queries), self.num_products)).copy()

    def pair_score(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        return self.popularity[np.asarray(dst, np.int64)]


class CooccurrenceScorer(Scorer):
    """Directed two-hop co-occurrence, ``M = A.A + A.C + C.A`` (DESIGN.md); score(q, v) = ``M[q, v]``.

    ``A`` is the training co-purchase adjacency (``A[u, v]`` = 1 for u->v, or its weight if ``weighted``),
    ``C`` the training co-view adjacency (both directions). ``A.A`` counts paths q->x->v, ``A.C`` paths q->x~v,
    ``C.A`` paths q~x->v. Options, each reported as its own row when used:

    * ``coview=False`` drops the ``C`` terms (``M = A.A``);
    * ``reverse=w`` adds ``w * A^T``: the product bought *before* q is a strong guess for "bought with q", because
      many co-purchase pairs are reciprocated. (A direct ``A`` term changes nothing under filtered evaluation:
      training out-neighbours are filtered out of the ranking anyway.)

    ``M`` is computed once as a sparse matrix; ``score`` densifies the requested rows.
    """

    name = "cooccurrence"

    def __init__(self, train_copurchase: Edges, train_coview: Edges, num_products: int, *,
                 weighted: bool = False, coview: bool = True, reverse: float = 0.0) -> None:
        super().__init__(num_products)
        n = num_products
        a = adjacency(train_copurchase.src, train_copurchase.dst, n, train_copurchase.weight if weighted else None)
        if not weighted:
            a.data[:] = 1.0
        m = a @ a
        if coview and len(train_coview):
            c = adjacency(train_coview.src, train_coview.dst, n, train_coview.weight if weighted else None)
            if not weighted:
                c.data[:] = 1.0
            m = m + a @ c + c @ a
        if reverse:
            m = m + reverse * a.T
        self.matrix: sp.csr_matrix = sp.csr_matrix(m, dtype=np.float32)
        self.matrix.sum_duplicates()

    def score(self, queries: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(queries, np.int64)].toarray().astype(np.float32, copy=False)

    def pair_score(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[np.asarray(src, np.int64), np.asarray(dst, np.int64)]).ravel()


class TextKNNScorer(Scorer):
    """Cosine similarity of product text vectors: score(q, v) = ``text[q] . text[v]`` (rows L2-normalised here).

    ``text``: ``(n, d)`` dense array (``Features.text``) or a scipy sparse matrix (raw TF-IDF).

    Symmetric by construction, so its EQ3 direction accuracy is 0.5: the reference point for asymmetry.
    """

    name = "text-knn"

    def __init__(self, text: np.ndarray) -> None:
        super().__init__(text.shape[0])
        if sp.issparse(text):  # e.g. a raw TF-IDF matrix: keep it sparse, normalise rows
            x = sp.csr_matrix(text, dtype=np.float32)
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            self.text = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32) @ x
        else:
            x = np.asarray(text, np.float32)
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            self.text = np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0))

    def score(self, queries: np.ndarray) -> np.ndarray:
        s = self.text[np.asarray(queries, np.int64)] @ self.text.T
        return s.toarray().astype(np.float32, copy=False) if sp.issparse(s) else s

    def pair_score(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        a, b = self.text[np.asarray(src, np.int64)], self.text[np.asarray(dst, np.int64)]
        if sp.issparse(a):
            return np.asarray(a.multiply(b).sum(axis=1)).ravel()
        return np.einsum("ij,ij->i", a, b)
