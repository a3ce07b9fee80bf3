"""The ranker's first stage: per query batch, the candidate set and its signals, all from sparse rows.

Signals of a candidate pair ``(q, v)`` (computed from one graph's edges and the GNN vectors propagated over them):

* ``gnn`` = ``s_q . t_v`` (the GNN's forward score), ``gnn_rev`` = ``s_v . t_q`` (the reverse), ``gnn_sim`` =
  ``s_q . s_v`` (similar products), as row-wise dot products of the pair's vectors;
* path counts by type, from sparse rows of ``A`` (co-purchase), ``A^T`` and ``C`` (co-view): ``AA``, ``ATA``, ``AAT``,
  ``AC``, ``CA``, ``CC``, ``ATAT`` (two hops, the second through at most :data:`HUB_KEEP` of the middle product's
  links) and the direct links ``rev`` (``v -> q``) and ``cv`` (``q ~ v``);
* each tuned classic's score (RP3beta today), from its sparse score rows;
* ranks: the candidate's rank in the path total's row and each classic's row (how many products score strictly
  higher: exact, since everything outside a sparse row scores 0) and its position in the GNN's top list (capped at
  its length: the GNN scores every product, and only its head is retrieved). A query with no edge at all has no
  path row; its path rank is the candidate's popularity rank (how many products have more co-purchase in-edges).

Candidates of a query: the union of the GNN's top ``gnn_k`` (a maximum-inner-product search of the target index,
:class:`dualgnn.index.TargetIndex`), the first classic's top ``classic_k``, the ``graph_k`` products with the most
1-2 hop paths and, for a query the graph holds no edge of (a cold product, which has no path or classic
candidates), the ``popular_k`` most bought products; minus the query itself and its out-neighbours in the
graph (the products the protocol filters; a shop's known co-purchases are served apart). Nothing is a dense
``(queries, products)`` row, so a batch costs what its queries' neighbourhoods cost, not the catalog's size; and
those are bounded: a query's path row holds at most ``HUB_KEEP`` products per link of its own, and a classic's row
at most ``CLASSIC_KEEP`` per profile product (``dualgnn.ranking.production``), however big the catalog's hubs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from dualgnn.classics.scorers import RowKeys, TrainGraph, entry_keys, find_sorted, top_per_row
from dualgnn.split import Split

#: Two-hop path types: name -> (first hop, second hop) over the matrices ``a``, ``at``, ``c``.
PATHS = {"AA": ("a", "a"), "ATA": ("at", "a"), "AAT": ("a", "at"), "AC": ("a", "c"), "CA": ("c", "a"),
         "CC": ("c", "c"), "ATAT": ("at", "at")}
LINKS = {"rev": "at", "cv": "c"}
#: A path's second hop runs through at most this many of the middle product's links (its best-connected ones,
#: :meth:`RankInputs.hops`). Whole rows made a query's path row grow with the hubs: 4,824 entries on average
#: on the generated 100k catalog and 32,553 on the 1M one (512 random queries), 852 and 902 with 100. Music's and
#: gift cards' graphs have 59 of 22,257 and 40 of 4,641 rows longer than 100.
HUB_KEEP = 100


@dataclass(frozen=True)
class CandidateSizes:
    """How many products each retrieval source contributes per query (their union is ranked). 50 each: on music's
    validation pairs (out of fold, seeds 0 and 1) the ranker scored HR@10 / MRR@10 0.622 / 0.330 and 0.656 / 0.336
    with 50 a source, 0.615 / 0.322 and 0.648 / 0.323 with 100, for half the rows to fit and score.
    ``popular_k`` applies to cold queries only: their list would otherwise hold the GNN's 50 alone (music's
    node-split validation HR@10 / MRR@10, seeds 0 and 1: 0.166 / 0.072 and 0.182 / 0.075 without them, 0.178 /
    0.075 and 0.180 / 0.071 with the 50 most bought)."""

    gnn_k: int = 50
    classic_k: int = 50
    graph_k: int = 50
    popular_k: int = 50

    def to_dict(self) -> dict:
        return {"gnn_k": self.gnn_k, "classic_k": self.classic_k, "graph_k": self.graph_k,
                "popular_k": self.popular_k}


@dataclass
class RankInputs:
    """What the ranker reads, all from one graph's side (a split's training edges, or a shop's whole graph): its
    matrices, the GNN's source and target vectors, the fitted classics (name -> scorer with ``sparse_score``; the
    first retrieves candidates) and the product features (``text``, ``categorical``, ``numeric``; None: none)."""

    graph: TrainGraph
    source: np.ndarray
    target: np.ndarray
    classics: dict
    features: object = None
    index_kind: str = "auto"
    #: Where the GNN's candidates are retrieved: a callable giving a TargetIndex over ``target`` (a served model
    #: passes its recommender's own, so one index serves both and follows its plan and threads) or None, and then
    #: (or with no callable) one is built here on first use.
    index: object = None
    threads: int = 0
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_split(cls, split: Split, num_products: int, source, target, classics: dict, features,
                   **kw) -> "RankInputs":
        graph = TrainGraph(split.train_copurchase, split.train_coview, num_products)
        return cls(graph, np.ascontiguousarray(source, np.float32), np.ascontiguousarray(target, np.float32),
                   dict(classics), features, **kw)

    @property
    def n(self) -> int:
        return self.graph.n

    def warm(self, sizes: "CandidateSizes") -> None:
        """Build every lazily cached table now (degrees, the GNN's index, the popular list, the text norms): threads
        then only read."""
        self.in_degree(), self.out_degree(), self.paths_matrix()
        if self.n:
            self.gnn_top(np.zeros(1, np.int64), 1)
        if sizes.popular_k:
            self.popular(sizes.popular_k), self.isolated(np.zeros(0, np.int64)), self.popularity_rank()
        self.text_norms()

    def in_degree(self) -> np.ndarray:
        if "indeg" not in self._cache:
            self._cache["indeg"] = np.asarray(self.graph.a.sum(axis=0)).ravel().astype(np.float32)
        return self._cache["indeg"]

    def out_degree(self) -> np.ndarray:
        if "outdeg" not in self._cache:
            self._cache["outdeg"] = np.asarray(self.graph.a.sum(axis=1)).ravel().astype(np.float32)
        return self._cache["outdeg"]

    def linked(self, queries: np.ndarray, products: np.ndarray) -> np.ndarray:
        """``products`` (same shape as ``queries``, or ``(b, m)`` against ``(b,)``) that are the query itself or
        one of its out-neighbours: what the ranker never ranks."""
        q = np.asarray(queries, np.int64)
        q = q[:, None] if np.ndim(products) == 2 else q
        # The keys of these queries only: a batch's few thousand, searched in cache, where the whole graph's keys
        # made each lookup a walk through memory (half an export's time at 100k products).
        own = np.unique(q)
        position = np.searchsorted(own, q)
        return find_sorted(self.excluded(own), position * self.n + np.asarray(products, np.int64))[1]

    def excluded(self, queries: np.ndarray) -> np.ndarray:
        """Sorted ``row * n + product`` keys of what each query (``row``: its position in ``queries``) may not be
        recommended: itself and its out-neighbours."""
        queries = np.asarray(queries, np.int64)
        rows = self.graph.a[queries]
        row = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(rows.indptr))
        keys = np.concatenate([row * self.n + rows.indices, np.arange(len(queries)) * np.int64(self.n) + queries])
        return np.unique(keys)

    def hops(self) -> dict[str, sp.csr_matrix]:
        """The second hop of every path type: ``a``, ``at`` and ``c`` with each row cut to its :data:`HUB_KEEP`
        best-connected products (most edges of any kind; ties by lower id). A path ``q -> w -> v`` through a hub
        ``w`` is weak evidence for each of its thousands of ``v`` (why RP3beta divides by degrees), and those
        rows made a query's path row grow with the catalog (module docstring); the query's own lists, its first
        hop, stay whole."""
        if "hops" not in self._cache:
            g = self.graph
            degree = np.diff(g.a.indptr) + np.diff(g.at.indptr) + np.diff(g.c.indptr)
            self._cache["hops"] = {name: _best_connected(m, degree, HUB_KEEP)
                                   for name, m in (("a", g.a), ("at", g.at), ("c", g.c))}
        return self._cache["hops"]

    def paths_matrix(self) -> sp.csr_matrix:
        """``(3n, n)``: ``[A + A^T + C; A + A^T + I; A + C + I]`` over :meth:`hops`, so that ``[A_q, A^T_q, C_q]``
        times it is the query rows' total over every two-hop path type and both direct links (``PATHS``,
        ``LINKS``): one sparse product instead of nine summed. The counts are integers, exact in float32 whatever
        the order."""
        if "paths" not in self._cache:
            h, eye = self.hops(), sp.identity(self.n, np.float32, format="csr")
            self._cache["paths"] = sp.csr_matrix(sp.vstack([h["a"] + h["at"] + h["c"], h["a"] + h["at"] + eye,
                                                            h["a"] + h["c"] + eye]), dtype=np.float32)
        return self._cache["paths"]

    def gnn_top(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The GNN's top ``k`` per query among products it may rank: ``(ids, scores)`` ``(b, k)``, -1 / -inf in
        empty slots."""
        from dualgnn.index import TargetIndex

        if "index" not in self._cache:
            served = self.index() if self.index is not None else None
            self._cache["index"] = served if served is not None else \
                TargetIndex(self.target, kind=self.index_kind, threads=self.threads)
        queries = np.asarray(queries, np.int64)
        return self._cache["index"].search(self.source[queries], min(k, self.n), extra=k // 4 + 8,
                                           exclude=lambda rows, cand: self.linked(queries[rows], cand))

    def isolated(self, queries: np.ndarray) -> np.ndarray:
        """Whether each query has no edge at all in the graph read (no co-purchase either way, no co-view)."""
        if "degree" not in self._cache:
            self._cache["degree"] = self.in_degree() + self.out_degree() + np.diff(self.graph.c.indptr)
        return self._cache["degree"][np.asarray(queries, np.int64)] == 0

    def text_norms(self) -> np.ndarray | None:
        """The Euclidean norm of each product's text vector (None without text features), computed once."""
        text = getattr(self.features, "text", None)
        if text is None:
            return None
        if "text_norms" not in self._cache:
            self._cache["text_norms"] = np.linalg.norm(np.asarray(text), axis=1)
        return self._cache["text_norms"]

    def popularity_rank(self) -> np.ndarray:
        """Each product's rank by co-purchase in-edges: how many products have strictly more (0 = the most bought;
        ties share a rank), float32."""
        if "poprank" not in self._cache:
            indeg = self.in_degree()
            self._cache["poprank"] = (self.n - np.searchsorted(np.sort(indeg), indeg, side="right")).astype(np.float32)
        return self._cache["poprank"]

    def popular(self, k: int) -> np.ndarray:
        """The ``k`` products with the most co-purchase in-edges (those with none never)."""
        if ("popular", k) not in self._cache:
            indeg = self.in_degree()
            top = np.argsort(-indeg, kind="stable")[:k]
            self._cache[("popular", k)] = top[indeg[top] > 0]
        return self._cache[("popular", k)]


@dataclass
class Batch:
    """One query batch: its candidates as (row in batch, product) pairs, sorted by row, and their signals
    (name -> ``(m,)`` float32, the module docstring's names, ``paths`` their total, ``rank_<source>``) and each
    query's best GNN score among the products it may rank (``best_gnn``, ``(b,)``)."""

    queries: np.ndarray
    cand_row: np.ndarray
    cand_col: np.ndarray
    signals: dict
    best_gnn: np.ndarray

    def group_sizes(self) -> np.ndarray:
        return np.bincount(self.cand_row, minlength=len(self.queries))


def make_batch(inputs: RankInputs, queries: np.ndarray, sizes: CandidateSizes,
               pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Batch:
    """Candidates and signals for ``queries`` (module docstring); ``pairs`` = (row in batch, product), sorted by
    row, replaces the retrieved candidates (features of given pairs)."""
    queries = np.asarray(queries, np.int64)
    g = inputs.graph
    first = {name: m[queries] for name, m in (("a", g.a), ("at", g.at), ("c", g.c))}
    hops = inputs.hops()
    raw = {name: first[h1] @ hops[h2] for name, (h1, h2) in PATHS.items()}
    raw.update({name: first[mat] for name, mat in LINKS.items()})
    raw = {name: sp.csr_matrix(m, dtype=np.float32) for name, m in raw.items()}
    raw["paths"] = sp.csr_matrix(sp.hstack([first["a"], first["at"], first["c"]], format="csr") @
                                 inputs.paths_matrix(), dtype=np.float32)
    raw.update({name: scorer.sparse_score(queries) for name, scorer in inputs.classics.items()})
    for m in raw.values():  # canonical form (sorted columns): :func:`_gather` looks pairs up by binary search
        m.sum_duplicates()
    # Retrieval and ranks see only what a query may be recommended; a pair's own value is read from ``raw``.
    excluded = inputs.excluded(queries)
    allowed = {name: _allowed(excluded, raw[name].copy()) for name in ("paths", *inputs.classics)}
    # Each allowed row's entries sorted best first, once: the source's top products and each candidate's rank.
    order = {name: RowKeys(m) for name, m in allowed.items()}
    gnn_ids, gnn_scores = inputs.gnn_top(queries, max(sizes.gnn_k, 1))
    if pairs is not None:
        cand_row, cand_col = np.asarray(pairs[0], np.int64), np.asarray(pairs[1], np.int64)
    else:
        cand_row, cand_col = _candidates(inputs, queries, allowed, order, gnn_ids[:, :sizes.gnn_k], sizes)
    signals = {name: _gather(m, cand_row, cand_col) for name, m in raw.items()}
    signals.update(_gnn_signals(inputs, queries, cand_row, cand_col))
    for name in ("paths", *inputs.classics):
        # Exact: every product missing from a sparse row scores 0, below any entry (the values are non-negative).
        signals[f"rank_{name}"] = order[name].above(cand_row, signals[name]).astype(np.float32)
    # A query with no edge has no path row: its graph list is the catalog's best sellers (as for the popularity
    # baseline), so its rank there is the candidate's popularity rank, and the ranker's prior starts from it.
    cold = inputs.isolated(queries)[cand_row]
    if cold.any():
        signals["rank_paths"][cold] = inputs.popularity_rank()[cand_col[cold]]
    signals["rank_gnn"] = _position(gnn_ids, cand_row, cand_col)
    return Batch(queries, cand_row, cand_col, signals, gnn_scores[:, 0])


def _best_connected(m: sp.csr_matrix, degree: np.ndarray, k: int) -> sp.csr_matrix:
    """Binary ``m`` with each row cut to the ``k`` columns of highest ``degree`` (ties by lower column)."""
    by_degree = sp.csr_matrix(m, dtype=np.float32, copy=True)
    by_degree.sum_duplicates()
    by_degree.data = degree[by_degree.indices].astype(np.float32) + 1.0  # > 0: no entry is dropped as a zero
    kept = top_per_row(by_degree, k)
    kept.data[:] = 1.0
    return kept


def _allowed(excluded: np.ndarray, m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` (canonical) without the cells of products a query may not be recommended (``excluded``:
    :meth:`RankInputs.excluded`'s keys, a few per query, each searched among ``m``'s entries)."""
    pos, found = find_sorted(entry_keys(m), excluded)
    if found.any():
        m.data[pos[found]] = 0.0
        m.eliminate_zeros()
    return m


def _candidates(inputs: RankInputs, queries: np.ndarray, rows: dict, order: dict, gnn_ids: np.ndarray,
                sizes: CandidateSizes) -> tuple[np.ndarray, np.ndarray]:
    """The union of every source's top products per query, as sorted (row, product) pairs."""
    parts_r, parts_c = [np.repeat(np.arange(len(queries)), gnn_ids.shape[1])], [gnn_ids.ravel()]
    tops = [("paths", sizes.graph_k)]
    if inputs.classics:
        tops.append((next(iter(inputs.classics)), sizes.classic_k))
    for name, k in tops:
        top = top_per_row(rows[name], k, order[name]).tocoo()
        parts_r.append(top.row.astype(np.int64))
        parts_c.append(top.col.astype(np.int64))
    cold = np.flatnonzero(inputs.isolated(queries)) if sizes.popular_k else np.zeros(0, np.int64)
    if len(cold):
        popular = inputs.popular(sizes.popular_k)
        r = np.repeat(cold, len(popular))
        c = np.tile(popular, len(cold))
        keep = ~inputs.linked(queries[r], c)
        parts_r.append(r[keep])
        parts_c.append(c[keep])
    r, c = np.concatenate(parts_r), np.concatenate(parts_c)
    ok = c >= 0
    keys = np.unique(r[ok] * np.int64(inputs.n) + c[ok])
    return keys // inputs.n, keys % inputs.n


def _gather(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``m[rows[i], cols[i]]`` for every pair, 0 where ``m`` has no entry (``m`` in canonical form: a binary search
    of its sorted ``row * n + column`` keys, where scipy would scan a long row for each of a few pairs)."""
    if len(rows) == 0 or m.nnz == 0:
        return np.zeros(len(rows), np.float32)
    pos, found = find_sorted(entry_keys(m), np.asarray(rows, np.int64) * np.int64(m.shape[1]) + cols)
    return np.where(found, m.data[pos], 0.0).astype(np.float32)


def _gnn_signals(inputs: RankInputs, queries: np.ndarray, cand_row: np.ndarray, cand_col: np.ndarray,
                 chunk: int = 1 << 15) -> dict[str, np.ndarray]:
    """``gnn``, ``gnn_rev`` and ``gnn_sim`` of each pair: row-wise dot products. Each candidate's two vectors are
    gathered from the catalog's arrays once; the queries' come from the batch's own small copies."""
    out = {name: np.empty(len(cand_row), np.float32) for name in ("gnn", "gnn_rev", "gnn_sim")}
    q_source, q_target = inputs.source[queries], inputs.target[queries]
    for s in range(0, len(cand_row), chunk):
        r, v = cand_row[s:s + chunk], cand_col[s:s + chunk]
        v_source, v_target, qs = inputs.source[v], inputs.target[v], q_source[r]
        out["gnn"][s:s + chunk] = np.einsum("ij,ij->i", qs, v_target)
        out["gnn_rev"][s:s + chunk] = np.einsum("ij,ij->i", q_target[r], v_source)
        out["gnn_sim"][s:s + chunk] = np.einsum("ij,ij->i", qs, v_source)
    return out


def _position(ids: np.ndarray, cand_row: np.ndarray, cand_col: np.ndarray) -> np.ndarray:
    """Each candidate's 0-based position in its query's list ``ids`` (b, k); ``k`` when it is not in it."""
    b, k = ids.shape
    keys = np.where(ids >= 0, np.arange(b)[:, None] * np.int64(1 << 40) + ids, -1).ravel()
    order = np.argsort(keys, kind="stable")
    look = cand_row * np.int64(1 << 40) + cand_col
    pos = np.minimum(np.searchsorted(keys[order], look), len(keys) - 1)
    found = keys[order][pos] == look
    return np.where(found, order[pos] % k, k).astype(np.float32)
