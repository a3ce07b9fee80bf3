"""Brand-to-brand similarity from pooled product vectors (the Faire brand page: "shoppers also like").

A brand's vector is the mean of its products' L2-normalised source vectors, normalised again; two brands are
similar when the cosine of their vectors is high. Source vectors are pooled (not targets) because a brand page
asks "which brands do people who shop this brand go on to" -- the query role. Products without a brand are left
out. Brands are few (thousands), so the search is exact.

>>> import numpy as np
>>> s = np.array([[1, 0], [1, 0.1], [0, 1]], np.float32)
>>> b = brand_vectors(s, np.array(["acme", "acme", "zeta"], dtype=object))
>>> b.names.tolist(), b.counts.tolist()
(['acme', 'zeta'], [2, 1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dualgnn.errors import InputError, UnknownIdError
from dualgnn.scoring import top_k


@dataclass
class BrandVectors:
    """``names (b,)``, unit ``vectors (b, d)`` and product ``counts (b,)``, sorted by name."""

    names: np.ndarray
    vectors: np.ndarray
    counts: np.ndarray

    def encode(self, brands, *, source: str | None = None) -> np.ndarray:
        idx = pd.Index(self.names).get_indexer(list(brands))
        if (idx < 0).any():
            bad = list(brands)[int(np.flatnonzero(idx < 0)[0])]
            raise UnknownIdError(f"unknown brand {bad!r}", path=source,
                                 hint="brands come from the catalog's brand column")
        return idx.astype(np.int64)


def brand_vectors(source: np.ndarray, brands: np.ndarray) -> BrandVectors:
    """Pool ``source (n, d)`` by ``brands (n,)`` (str; "" or NaN = no brand)."""
    labels = pd.Series(brands, dtype=object).fillna("").astype(str).str.strip().to_numpy()
    keep = labels != ""
    if not keep.any():
        raise InputError("no product has a brand: brand similarity needs the catalog's brand column")
    names, inverse = np.unique(labels[keep], return_inverse=True)
    s = np.asarray(source, np.float32)[keep]
    s = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)
    pooled = np.zeros((len(names), s.shape[1]), np.float64)
    np.add.at(pooled, inverse, s)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return BrandVectors(names.astype(object), pooled.astype(np.float32), np.bincount(inverse, minlength=len(names)))


def similar_brands(bv: BrandVectors, queries: np.ndarray, k: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` brands by cosine for brand indices ``queries (q,)``, itself excluded: ``(ids, scores)`` (q, k)."""
    queries = np.asarray(queries, np.int64)
    ids, scores = [], []
    for lo in range(0, len(queries), chunk):
        qs = queries[lo:lo + chunk]
        sim = bv.vectors[qs] @ bv.vectors.T
        sim[np.arange(len(qs)), qs] = -np.inf
        i, s = top_k(sim, k)
        ids.append(i), scores.append(s)
    return np.concatenate(ids), np.concatenate(scores)


def brand_frame(bv: BrandVectors, queries: np.ndarray, ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Long table: brand, rank, similar_brand, score, products (of the similar brand)."""
    q, k = ids.shape
    ok = ids.ravel() >= 0
    return pd.DataFrame({
        "brand": np.repeat(bv.names[queries], k)[ok],
        "rank": np.tile(np.arange(1, k + 1), q)[ok],
        "similar_brand": bv.names[np.maximum(ids.ravel(), 0)][ok],
        "score": scores.ravel()[ok],
        "products": bv.counts[np.maximum(ids.ravel(), 0)][ok],
    })
