"""Maximum-inner-product search over target vectors (Faiss), with exclusions that never cost results.

Relevance of product ``v`` for query ``q`` is ``source[q] . target[v]``, so serving is a maximum-inner-product
search of the query's source vector among all target vectors. :class:`TargetIndex` wraps one Faiss index:

* ``exact``  ``IndexFlatIP``: brute force, always correct, cost ``O(n d)`` per query.
* ``hnsw``   ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``: a graph index; builds in ``O(n log n)``, answers
  in roughly ``O(ef log n)``. Our vectors are L2-normalised by the model, so inner product is cosine and HNSW's
  greedy walk is well behaved (on un-normalised inner-product data its recall can drop).
* ``ivf``    ``IndexIVFFlat``: k-means cells, ``nprobe`` cells scanned per query; less memory than HNSW's links
  (M*8 bytes per vector). An override only: ``auto`` never picks it.

``auto`` chooses by work, not by size alone (see :func:`choose_kind`): exact search for small catalogs or few
queries, HNSW (M=32, efConstruction=80, efSearch=96) when the whole catalog is queried against a big one. The
measurements behind those numbers (queries/s, build time, recall@20 by M and efSearch, the break-even in query x
target pairs) are in bench/PERFORMANCE.md and come from ``python bench/topk.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

#: Below this many targets the exact index is always used: even every product as a query is 1e10 pairs
#: (about 45 s on 2 cores), nothing needs building, and the results are exact.
EXACT_MAX_TARGETS = 100_000
#: Above this many query x target pairs building HNSW and searching it beats exact search (break-even measured
#: at about 2.5e10 pairs for 1M targets, see the module docstring).
EXACT_MAX_PAIRS = 2e10

#: ``exclude(rows, candidates) -> drop``: ``rows`` (b,) positions in the query batch, ``candidates`` (b, m)
#: internal product ids (-1 = empty slot); returns a (b, m) boolean mask, True where the candidate must go.
Exclusion = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: A server answers one query at a time, where exact search costs O(n d) per query and HNSW about O(log n): above
#: this many targets ``online`` picks HNSW (measured figures: README "Serving").
ONLINE_EXACT_MAX_TARGETS = 20_000


def choose_kind(num_targets: int, num_queries: int | None = None, *, online: bool = False) -> str:
    """The index kind ``auto`` resolves to; ``online``: for a server's single queries, with no end to them.

    >>> choose_kind(5_000), choose_kind(1_000_000, num_queries=1), choose_kind(1_000_000)
    ('exact', 'exact', 'hnsw')
    >>> choose_kind(100_000), choose_kind(100_000, online=True)
    ('exact', 'hnsw')
    """
    if online:
        return "exact" if num_targets <= ONLINE_EXACT_MAX_TARGETS else "hnsw"
    if num_targets <= EXACT_MAX_TARGETS:
        return "exact"
    if num_queries is not None and num_queries * num_targets <= EXACT_MAX_PAIRS:
        return "exact"
    return "hnsw"


def set_threads(threads: int = 0) -> int:
    """Let Faiss use ``threads`` OpenMP threads (0 = every core). Returns the number set."""
    n = threads if threads > 0 else (os.cpu_count() or 1)
    faiss.omp_set_num_threads(n)
    return n


class TargetIndex:
    """A Faiss inner-product index over ``vectors (n, d)``; position ``i`` is product ``ids[i]``.

    >>> t = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5]], dtype=np.float32)
    >>> idx = TargetIndex(t, kind="exact")
    >>> idx.search(t[[0]], 2, exclude=lambda rows, cand: cand == 0)[0].tolist()   # itself excluded
    [[1, 2]]
    """

    def __init__(self, vectors: np.ndarray, *, ids: np.ndarray | None = None, kind: str = "auto",
                 num_queries: int | None = None, online: bool = False, hnsw_m: int = 32, ef_construction: int = 80,
                 ef_search: int = 96, nlist: int | None = None, nprobe: int = 32, threads: int = 0,
                 built: faiss.Index | None = None) -> None:
        """``built``: a Faiss index already holding ``vectors`` (:meth:`load`); ``kind`` must then be its kind."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"need a non-empty (n, d) array of target vectors, got shape {vectors.shape}")
        if kind not in ("auto", "exact", "hnsw", "ivf"):
            raise ValueError(f"index kind must be auto, exact, hnsw or ivf, not {kind!r}")
        set_threads(threads)
        n, d = vectors.shape
        self.kind = choose_kind(n, num_queries, online=online) if kind == "auto" else kind
        self.ef_search, self.nprobe = ef_search, nprobe
        # Kept for the exact fall-back when exclusions force a huge over-fetch.
        self.vectors = vectors
        self.ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if built is not None:
            if built.ntotal != n or built.d != d:
                raise ValueError(f"the index holds {built.ntotal} vectors of {built.d} dims, not {n} of {d}")
            self.index = built
            return
        if self.kind == "exact":
            self.index = faiss.IndexFlatIP(d)
        elif self.kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
        else:
            # sqrt(n)-ish cells keeps both the coarse search and each cell scan small; 39 points per cell
            # is the least k-means needs to train without Faiss warnings.
            nlist = nlist or int(max(1, min(4 * np.sqrt(n), n // 39)))
            quantizer = faiss.IndexFlatIP(d)
            self.index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            sample = vectors if n <= 256 * nlist else vectors[rng.choice(n, 256 * nlist, replace=False)]
            self.index.train(sample)
        self.index.add(vectors)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def save(self, path: str | Path) -> None:
        """Faiss's own file format (no pickle), for processes that share this index (:meth:`load`)."""
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: str | Path, vectors: np.ndarray, *, ids: np.ndarray | None, kind: str,
             threads: int = 0) -> "TargetIndex":
        """The index :meth:`save` wrote, over the same ``vectors`` and ``ids`` (memory-mapped where Faiss can)."""
        try:
            built = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:  # index types Faiss cannot map
            built = faiss.read_index(str(path))
        return cls(vectors, ids=ids, kind=kind, threads=threads, built=built)

    def _raw_search(self, queries: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Faiss top ``m`` as (product ids, scores); -1 / -inf in empty slots."""
        if self.kind == "hnsw":
            # HNSW returns at most ef results, so ef must cover the over-fetch.
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, m))
            scores, pos = self.index.search(queries, m, params=params)
        elif self.kind == "ivf":
            scores, pos = self.index.search(queries, m, params=faiss.SearchParametersIVF(nprobe=self.nprobe))
        else:
            scores, pos = self.index.search(queries, m)
        ids = np.where(pos >= 0, self.ids[np.maximum(pos, 0)], -1)
        return ids, np.where(pos >= 0, scores, -np.inf).astype(np.float32)

    def _exact_rows(self, queries: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``m`` with numpy, for rows whose exclusions ate an over-fetch too large for the index."""
        chunk = max(1, 20_000_000 // len(self.vectors))  # bounds the (chunk, n) score block to ~80 MB
        ids, scores = [], []
        for lo in range(0, len(queries), chunk):
            s = queries[lo:lo + chunk] @ self.vectors.T
            if m < s.shape[1]:
                top = np.argpartition(-s, m - 1, axis=1)[:, :m]
            else:
                top = np.broadcast_to(np.arange(s.shape[1]), s.shape)
            top_s = np.take_along_axis(s, top, axis=1)
            order = np.argsort(-top_s, axis=1, kind="stable")
            ids.append(self.ids[np.take_along_axis(top, order, axis=1)])
            scores.append(np.take_along_axis(top_s, order, axis=1))
        return np.concatenate(ids), np.concatenate(scores)

    def search(self, queries: np.ndarray, k: int, *, exclude: Exclusion | None = None,
               extra: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query after exclusions: ``(ids (b, k) int64, scores (b, k) float32)``, best first.

        ``queries`` has shape ``(b, d)``. The index is asked for ``k + extra`` results; rows that still have
        fewer than ``k`` after ``exclude`` are asked again with four times as many, until they are full or the
        catalog is exhausted (then the tail holds id -1 and score -inf). Very large re-fetches switch to exact
        search for those rows so a big excluded category cannot blow up the HNSW beam.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        b, n = len(queries), len(self)
        out_ids = np.full((b, k), -1, np.int64)
        out_scores = np.full((b, k), -np.inf, np.float32)
        rows = np.arange(b)
        m = min(n, k + (extra if exclude is not None else 0))
        while len(rows):
            if m > 4096 and m > k + extra:
                ids, scores = self._exact_rows(queries[rows], m)
            else:
                ids, scores = self._raw_search(queries[rows], m)
            keep = ids >= 0
            if exclude is not None:
                keep &= ~exclude(rows, ids)
            # Stable sort on "not kept" moves the kept candidates to the front in score order.
            order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
            got = np.take_along_axis(keep, order, axis=1)
            width = order.shape[1]
            out_ids[rows, :width] = np.where(got, np.take_along_axis(ids, order, axis=1), -1)
            out_scores[rows, :width] = np.where(got, np.take_along_axis(scores, order, axis=1), -np.inf)
            full = keep.sum(axis=1) >= k
            if m >= n:
                break
            rows = rows[~full]
            m = min(n, 4 * m)
        return out_ids, out_scores
