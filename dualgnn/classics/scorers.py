"""Tuned classic recommenders: personalised PageRank, RP3beta, EASE^R, item kNN, co-occurrence with reverse edges.

DESIGN.md: "the bar is the strongest classic, tuned". Each is a :class:`ComboScorer`: its score rows are a weighted
sum of a few *terms* (sparse ``(q, n)`` rows; dense where a caller wants the whole row). Structural hyperparameters (RP3beta's beta, EASE^R's lambda, the
co-view weight inside the item matrix, ...) fix the fitted matrices; *knobs* only reweight terms, so
:func:`dualgnn.classics.tuning.tune` searches them on cached rows. Everything is fitted on training edges only.

An item-item method ``S`` (RP3beta, EASE^R, item kNN) has the terms of the *directed profile*: ``S`` propagated from
the query itself (``self``), its training out-neighbours (``out``), in-neighbours (``in``) and co-view neighbours
(``coview``), plus the direct reverse link (``rev``: ``v -> q`` in training) and co-view link (``cv``). Each term's
row is scaled to maximum 1 so the knob weights are comparable. The ``-plain`` variants keep the textbook profile
(out- plus weighted co-view neighbours). A cold product (no training edges) gets an all-zero row: every candidate
ties, the honest figure.

>>> import numpy as np
>>> from dualgnn.graph import Edges
>>> a = Edges(np.array([0, 1]), np.array([1, 2]), np.ones(2, np.float32))
>>> parts = TrainGraph(a, Edges.empty(), 3)
>>> PageRankScorer(parts, {"rev": 0.0, "cv": 0.0}, {"alpha": 0.5, "steps": 2}).score(np.array([0])).round(2).tolist()
[[0.0, 0.5, 0.25]]
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from dualgnn.classics.baselines import CooccurrenceScorer
from dualgnn.errors import DualGNNError
from dualgnn.graph import Edges
from dualgnn.scoring import Scorer, adjacency

#: EASE^R keeps a dense ``n x n`` matrix (and inverts one): above this many products it is skipped.
EASE_MAX_PRODUCTS = 20_000
PROFILE_TERMS = ("self", "out", "in", "coview", "rev", "cv")


class MethodSkipped(DualGNNError):
    """A method that cannot run on this input (e.g. EASE^R on too many products); evaluate records the reason."""


class TrainGraph:
    """The training graph as binary CSR matrices: ``a`` (co-purchase u->v), ``at`` (its reverse), ``c`` (co-view)."""

    def __init__(self, copurchase: Edges, coview: Edges, num_products: int) -> None:
        self.n = num_products
        self.copurchase, self.coview = copurchase, coview
        self.a = _binary(adjacency(copurchase.src, copurchase.dst, num_products))
        self.at = self.a.T.tocsr()
        self.c = _binary(adjacency(coview.src, coview.dst, num_products))

    def lists(self, coview_weight: float) -> sp.csr_matrix:
        """``X = A + w C``: each product's out-list (plus weighted co-view list) as one "user" row."""
        return (self.a + coview_weight * self.c).tocsr() if coview_weight else self.a


class ComboScorer(Scorer):
    """``score(q) = sum_t weight_t * term_t(q)``; ``structure`` fixed the fit, ``knobs`` give the weights."""

    normalise = True  # scale each term row to max 1 before weighting

    def __init__(self, num_products: int, structure: dict, knobs: dict) -> None:
        super().__init__(num_products)
        self.structure, self.knobs = dict(structure), dict(knobs)

    @abstractmethod
    def sparse_terms(self, queries: np.ndarray, names: set[str] | None) -> dict[str, sp.csr_matrix]:
        """Term rows for ``queries`` as sparse ``(q, n)`` matrices; ``names`` (None: all) may skip unneeded terms."""

    def terms(self, queries: np.ndarray, names: set[str] | None) -> dict[str, np.ndarray]:
        """The same rows dense (what the tuning caches)."""
        return {t: _dense(m) for t, m in self.sparse_terms(queries, names).items()}

    def sparse_score(self, queries: np.ndarray) -> sp.csr_matrix:
        """:meth:`score` as a sparse ``(q, n)`` matrix: on a big catalog a query's row has a few thousand non-zero
        entries, which is what the second stage reads (never a dense row per query)."""
        queries = np.asarray(queries, np.int64)
        weights = {t: w for t, w in self.term_weights(self.knobs).items() if w}
        terms = []
        for t, m in self.sparse_terms(queries, set(weights)).items():
            if t not in weights:
                continue
            scale = np.full(m.shape[0], weights[t], np.float64)
            if self.normalise:
                scale *= peak_scale(m)
            terms.append((scale, m))
        return sparse_sum(terms, (len(queries), self.num_products))

    def term_weights(self, knobs: dict) -> dict[str, float]:
        return {t: float(w) for t, w in knobs.items()}

    def term_rows(self, queries: np.ndarray, names: set[str] | None = None) -> dict[str, np.ndarray]:
        rows = self.terms(np.asarray(queries, np.int64), names)
        if self.normalise:
            for block in rows.values():
                peak = block.max(axis=1, keepdims=True) if block.size else block
                np.divide(block, np.where(peak > 0, peak, 1.0), out=block)
        return rows

    def combine(self, rows: dict[str, np.ndarray], knobs: dict) -> np.ndarray:
        out = None
        for t, w in self.term_weights(knobs).items():
            if w and t in rows:
                out = w * rows[t] if out is None else out + w * rows[t]
        if out is None:  # every weight zero
            return np.zeros((len(next(iter(rows.values()), ())), self.num_products), np.float32)
        return out.astype(np.float32, copy=False)

    def score(self, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.int64)
        step = max(1, (1 << 22) // max(self.num_products, 1))  # bounds the per-term dense blocks
        names = {t for t, w in self.term_weights(self.knobs).items() if w}
        parts = [self.combine(self.term_rows(queries[i:i + step], names), self.knobs)
                 for i in range(0, len(queries), step)]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_products), np.float32)

    def pair_score(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        uniq, inverse = np.unique(src, return_inverse=True)
        out = np.empty(len(src), np.float32)
        step = max(1, (1 << 24) // max(self.num_products, 1))
        for i in range(0, len(uniq), step):
            sel = (inverse >= i) & (inverse < i + step)
            out[sel] = self.score(uniq[i:i + step])[inverse[sel] - i, dst[sel]]
        return out


class ProfileScorer(ComboScorer):
    """An item-item matrix ``S`` (sparse, dense or :class:`Factored`) read through the directed profile (module
    docstring)."""

    def __init__(self, graph: TrainGraph, structure: dict, knobs: dict, item_item) -> None:
        super().__init__(graph.n, structure, knobs)
        self.graph, self.item_item = graph, item_item

    def sparse_terms(self, queries: np.ndarray, names: set[str] | None) -> dict[str, sp.csr_matrix]:
        g = self.graph
        one_hot = sp.csr_matrix((np.ones(len(queries), np.float32), (np.arange(len(queries)), queries)),
                                shape=(len(queries), g.n))
        rows = {"self": lambda: self.propagate(one_hot), "out": lambda: self.propagate(g.a[queries]),
                "in": lambda: self.propagate(g.at[queries]), "coview": lambda: self.propagate(g.c[queries]),
                "rev": lambda: g.at[queries], "cv": lambda: g.c[queries]}
        return {t: sp.csr_matrix(make(), dtype=np.float32) for t, make in rows.items() if names is None or t in names}

    def propagate(self, x: sp.csr_matrix):
        """``x S`` for a sparse block of profile rows ``x``."""
        s = self.item_item
        return s.propagate(x) if isinstance(s, Factored) else x @ s


class Factored:
    """An item-item matrix ``W = L R diag(scale)`` with its diagonal zeroed, kept as its sparse factors. A block of
    rows ``x W`` costs two sparse products; the ``n x n`` product is never formed (RP3beta over co-purchase and
    co-view lists has about 2,500 entries a row on the generated 100k catalog, 255M in all: 86 s and 3 GB to
    form, and ten times that at a million products). The zeroed diagonal is subtracted (``x diag(d)``); what the
    subtraction leaves of an entry it cancels (rounding, at most 1e-9 of the term) is set to exactly zero."""

    def __init__(self, left: sp.csr_matrix, right: sp.csr_matrix, scale: np.ndarray) -> None:
        self.left, self.right = sp.csr_matrix(left, dtype=np.float64), sp.csr_matrix(right, dtype=np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.diagonal = np.asarray(self.left.multiply(self.right.T).sum(axis=1)).ravel() * self.scale
        self.shape = (left.shape[0], right.shape[1])

    def propagate(self, x: sp.csr_matrix) -> sp.csr_matrix:
        x = sp.csr_matrix(x, dtype=np.float64)
        y = sp.csr_matrix((x @ self.left) @ self.right)
        y.data *= self.scale[y.indices]
        cancel = sp.csr_matrix(x @ sp.diags(self.diagonal))
        cancel.eliminate_zeros()
        out = sp.csr_matrix(y - cancel)
        if cancel.nnz:  # entries the diagonal alone made: rounding residue -> exactly 0
            keys, ckeys = entry_keys(out), entry_keys(cancel)
            pos = np.searchsorted(keys, ckeys)
            hit = pos < len(keys)
            pos, ckeys, cdata = pos[hit], ckeys[hit], cancel.data[hit]
            same = keys[pos] == ckeys
            residue = np.abs(out.data[pos[same]]) <= 1e-9 * np.abs(cdata[same])
            out.data[pos[same][residue]] = 0.0
            out.eliminate_zeros()
        return sp.csr_matrix(out, dtype=np.float32)

    def toarray(self) -> np.ndarray:
        return self.propagate(sp.identity(self.shape[0], format="csr")).toarray()

    def kept(self, keep: int, block: int = 4096, workers: int | None = None) -> sp.csr_matrix:
        """``W`` with each row cut to its ``keep`` largest entries (:func:`keep_best`), formed a row block at a
        time: the sparse item-item model of the classic recipe (RP3beta's top-k neighbours). Blocks run on
        ``workers`` threads (None: every core): their sparse products run outside the GIL (on the
        generated 100k catalog 15.8 s on one thread, 9.0 s on two); the matrix does not depend on them."""
        from concurrent.futures import ThreadPoolExecutor

        n = self.shape[0]
        blocks = [(i, min(i + block, n)) for i in range(0, n, block)]
        workers = min(len(blocks), workers or os.cpu_count() or 1)
        cut = lambda b: keep_best(self.rows(*b), keep)  # noqa: E731
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(cut, blocks))
        else:
            parts = [cut(b) for b in blocks]
        return sp.csr_matrix(sp.vstack(parts) if parts else sp.csr_matrix((0, n)), dtype=np.float32)

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop`` of ``W``: :meth:`propagate` of those one-hot rows, where the zeroed diagonal is
        just the entry ``(i, i)`` (set to zero, not subtracted: the same matrix, a tenth of the time)."""
        y = sp.csr_matrix(self.left[start:stop] @ self.right)
        y.data *= self.scale[y.indices]
        row = np.repeat(np.arange(start, stop), np.diff(y.indptr))
        y.data[y.indices == row] = 0.0
        y.eliminate_zeros()
        return sp.csr_matrix(y, dtype=np.float32)


class PageRankScorer(ComboScorer):
    """Truncated personalised PageRank on ``A + rev A^T + cv C`` (row-stochastic): terms are ``e_q T^t``, t >= 1,
    weighted ``(1 - alpha)^t`` up to ``steps`` (restart ``alpha``; the common factor ``alpha`` is dropped). With
    ``structure["keep"]`` each step keeps a row's ``keep`` largest entries before the next (:func:`keep_best`): the
    four-step rows of a big catalog are otherwise nearly whole (51k of 100k products, 16 ms a query)."""

    normalise = False
    MAX_STEPS = 4

    def __init__(self, graph: TrainGraph, structure: dict, knobs: dict) -> None:
        super().__init__(graph.n, structure, knobs)
        m = (graph.a + structure["rev"] * graph.at + structure["cv"] * graph.c).tocsr()
        self.transition = _row_normalised(m)

    def sparse_terms(self, queries: np.ndarray, names: set[str] | None) -> dict[str, sp.csr_matrix]:
        x = sp.csr_matrix((np.ones(len(queries), np.float32), (np.arange(len(queries)), queries)),
                          shape=(len(queries), self.num_products))
        out = {}
        last = self.MAX_STEPS if names is None else max((int(t[4:]) for t in names), default=0)
        keep = self.structure.get("keep")
        for t in range(1, last + 1):
            x = sp.csr_matrix(x @ self.transition, dtype=np.float32)
            x = keep_best(x, keep) if keep else x
            out[f"step{t}"] = x
        return out

    def term_weights(self, knobs: dict) -> dict[str, float]:
        a, steps = float(knobs["alpha"]), int(knobs["steps"])
        return {f"step{t}": (1 - a) ** t for t in range(1, steps + 1)}


class CooccurrenceRevScorer(ComboScorer):
    """DESIGN.md's co-occurrence ``A.A + A.C + C.A`` plus ``rev * A^T`` (raw counts, as :class:`CooccurrenceScorer`)."""

    normalise = False

    def __init__(self, graph: TrainGraph, structure: dict, knobs: dict) -> None:
        super().__init__(graph.n, structure, knobs)
        self.graph = graph
        self.matrix = CooccurrenceScorer(graph.copurchase, graph.coview, graph.n).matrix

    def sparse_terms(self, queries: np.ndarray, names: set[str] | None) -> dict[str, sp.csr_matrix]:
        return {"cooc": sp.csr_matrix(self.matrix[queries], dtype=np.float32),
                "rev": sp.csr_matrix(self.graph.at[queries], dtype=np.float32)}

    def term_weights(self, knobs: dict) -> dict[str, float]:
        return {"cooc": 1.0, "rev": float(knobs["rev"])}


def rp3beta_matrix(graph: TrainGraph, structure: dict) -> Factored | sp.csr_matrix:
    """RP3beta (Paudel et al. 2016): ``W = P_iu P_ui`` over the lists ``X = A + cv C`` (item -> a product listing it
    -> another item it lists), columns divided by the target's list count ``^ beta``, diagonal zero; kept as its
    factors (:class:`Factored`), or with ``structure["keep"]`` as each row's ``keep`` best entries."""
    x = graph.lists(structure["cv"])
    pop = np.asarray(x.sum(axis=0)).ravel()
    scale = np.where(pop > 0, pop, 1.0) ** -float(structure["beta"])
    w = Factored(_row_normalised(x.T.tocsr()), _row_normalised(x), scale)
    return w.kept(int(structure["keep"])) if structure.get("keep") else w


def ease_matrix(graph: TrainGraph, structure: dict) -> np.ndarray:
    """EASE^R (Steck 2019): ``P = (X^T X + lambda I)^-1``, ``B = I - P / diag(P)`` (``B_ij = -P_ij / P_jj``),
    ``diag(B) = 0``, over ``X = A + cv C``. Dense ``n x n`` float32; one Cholesky inverse."""
    if graph.n > EASE_MAX_PRODUCTS:
        raise MethodSkipped(f"EASE^R skipped: {graph.n:,} products is above its {EASE_MAX_PRODUCTS:,}-product limit "
                            f"(a dense {graph.n:,}^2 matrix and its inverse)", hint="use rp3beta or item-knn")
    x = graph.lists(structure["cv"])
    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += float(structure["lam"])
    chol, info = lapack.spotrf(gram, lower=1, overwrite_a=1)
    inv, info2 = lapack.spotri(chol, lower=1, overwrite_c=1) if info == 0 else (None, info)
    if info2 != 0:
        raise MethodSkipped(f"EASE^R: X^T X + {structure['lam']} I is not positive definite in float32")
    p = np.tril(inv) + np.tril(inv, -1).T
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return np.ascontiguousarray(b, np.float32)


def item_knn_matrix(graph: TrainGraph, structure: dict) -> sp.csr_matrix:
    """Item kNN (Sarwar et al. 2001): cosine of item columns of ``X = A + cv C`` with shrinkage,
    ``S_ij = x_i . x_j / (|x_i| |x_j| + shrink)``, keeping each item's ``k`` most similar items."""
    x = graph.lists(structure["cv"]).tocsc()
    gram = (x.T @ x).tocsr()
    norms = np.sqrt(np.maximum(gram.diagonal(), 0))
    coo = _zero_diagonal(gram).tocoo()
    sims = coo.data / (norms[coo.row] * norms[coo.col] + float(structure["shrink"]) + 1e-12)
    return top_per_row(sp.csr_matrix((sims, (coo.row, coo.col)), shape=gram.shape), int(structure["k"]))


_PLAIN = {"out": (1.0,), "coview": (0.0, 0.25, 0.5, 1.0)}
_DIRECTED = {t: (0.0, 0.25, 0.5, 1.0, 2.0, 4.0) for t in PROFILE_TERMS} | {"out": (1.0, 0.0, 0.25, 0.5, 2.0, 4.0)}


def _profile(matrix: Callable) -> Callable:
    return lambda graph, structure, knobs: ProfileScorer(graph, structure, knobs, matrix(graph, structure))


#: name -> (builder(graph, structure, knobs), structural grid, knob grid: first value is the start).
CLASSICS: dict[str, tuple[Callable, list[dict], dict[str, tuple]]] = {
    "cooccurrence-rev": (CooccurrenceRevScorer, [{}], {"rev": (1.0, 0.0, 0.25, 0.5, 2.0, 4.0, 8.0, 16.0, 64.0)}),
    "pagerank": (PageRankScorer, [{"rev": r, "cv": c} for r in (0.5, 1.0, 0.0) for c in (0.5, 0.0, 1.0)],
                 {"alpha": (0.3, 0.05, 0.1, 0.2, 0.5, 0.7), "steps": (3, 2, 4)}),
    "rp3beta": (_profile(rp3beta_matrix), [{"beta": b, "cv": c} for b in (0.5, 0.0, 0.25, 0.75) for c in (0.5, 0.0)],
                _DIRECTED),
    "ease": (_profile(ease_matrix), [{"lam": lam, "cv": c} for lam in (100.0, 20.0, 500.0, 2000.0)
                                     for c in (0.5, 0.0)], _DIRECTED),
    "item-knn": (_profile(item_knn_matrix), [{"k": k, "shrink": h, "cv": c} for k in (100, 20, 400)
                                             for h in (10.0, 0.0) for c in (0.5, 0.0)], _DIRECTED),
}
for _name in ("rp3beta", "ease", "item-knn"):
    CLASSICS[f"{_name}-plain"] = (*CLASSICS[_name][:2], _PLAIN)


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    m = m.tocsr()
    m.data[:] = 1.0
    return m


def _row_normalised(m: sp.csr_matrix) -> sp.csr_matrix:
    deg = np.asarray(m.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.where(deg > 0, deg, 1.0)) @ m, dtype=np.float32)


def _zero_diagonal(m: sp.csr_matrix) -> sp.csr_matrix:
    m = m.tocsr(copy=True)
    m.setdiag(0)
    m.eliminate_zeros()
    return m


def top_per_row(m: sp.csr_matrix, k: int, keys: "RowKeys | None" = None) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (ties by lower column). ``keys``: ``m``'s :class:`RowKeys`
    when the caller has them (``m`` canonical)."""
    keys = keys or RowKeys(m)
    start = m.indptr[:-1].astype(np.int64)
    long = np.flatnonzero(np.diff(m.indptr) > k)
    # Each long row's k-th key (its k-th largest value): entries with a smaller key are kept, and of those equal to
    # it the first few in storage order (the lowest columns), as many as the row still needs.
    threshold = np.full(m.shape[0], np.iinfo(np.int64).max)
    threshold[long] = keys.sorted[start[long] + k - 1]
    need = np.zeros(m.shape[0], np.int64)
    need[long] = k - (np.searchsorted(keys.sorted, threshold[long]) - start[long])
    row_threshold = threshold[keys.rows]
    keep = keys.keys < row_threshold
    tie = np.flatnonzero(keys.keys == row_threshold)  # in storage order, rows ascending
    tie_row = keys.rows[tie]
    keep[tie[np.arange(len(tie)) - np.searchsorted(tie_row, tie_row) < need[tie_row]]] = True
    counts = np.bincount(keys.rows[keep], minlength=m.shape[0])
    return sp.csr_matrix((m.data[keep].astype(np.float32), m.indices[keep], np.concatenate([[0], np.cumsum(counts)])),
                         shape=m.shape)


class RowKeys:
    """A sparse matrix's entries as int64 keys ``row << 32 | descending value order``: sorted, a row's entries
    are contiguous and best first, so one sort gives each row's top entries (:func:`top_per_row`) and how many
    entries of a row beat a value (:meth:`above`). Puts ``m`` in canonical form (the storage order is then the
    column order that breaks ties)."""

    def __init__(self, m: sp.csr_matrix) -> None:
        m.sum_duplicates()
        self.indptr = m.indptr
        self.rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        self.keys = self.key(self.rows, m.data)
        self.sorted = np.sort(self.keys)

    @staticmethod
    def key(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        return (np.asarray(rows, np.int64) << 32) | (np.int64(0xFFFFFFFF) - value_order(values))

    def above(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """How many entries of row ``rows[i]`` are strictly above ``values[i]``."""
        rows = np.asarray(rows, np.int64)
        return np.searchsorted(self.sorted, self.key(rows, values)) - self.indptr[rows]


def sparse_sum(terms, shape: tuple[int, int]) -> sp.csr_matrix:
    """``sum_t diag(scale_t) m_t`` of sparse ``(scale, m)`` terms (``scale``: a weight per row, None for 1; a
    float32 term with None is put in canonical form in place) as one float32 CSR matrix in canonical form. Each
    term is put in canonical form once (scipy would sort a product's rows again for every addition it takes part
    in) and the terms are added pairwise, as a tree: a sum of nine terms merges each entry about three times, not
    nine."""
    parts = []
    for scale, m in terms:
        m = sp.csr_matrix(m, dtype=np.float32, copy=scale is not None)
        m.sum_duplicates()
        if scale is not None:
            m.data *= np.repeat(np.asarray(scale, np.float32), np.diff(m.indptr))
        parts.append(m)
    if not parts:
        return sp.csr_matrix(shape, dtype=np.float32)
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    out = sp.csr_matrix(parts[0], dtype=np.float32)
    out.sum_duplicates()
    return out


def value_order(values: np.ndarray) -> np.ndarray:
    """float32 ``values`` as non-negative int64 in the same order (equal values equal, -0.0 as 0.0): one integer
    sort key for (row, value) pairs, ``row << 32 | value_order``. NaN is not ordered."""
    bits = (np.asarray(values, np.float32) + np.float32(0.0)).view(np.int32)
    bits = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))  # negatives: reverse their magnitude's order
    return bits.view(np.uint32).astype(np.int64) ^ np.int64(1 << 31)


def peak_scale(m: sp.csr_matrix) -> np.ndarray:
    """``1 / max`` of each row of ``m`` (1 for a row without a positive entry): what scales each row to max 1."""
    if not m.nnz:
        return np.ones(m.shape[0])
    peak = np.asarray(m.max(axis=1).todense()).ravel()
    return 1.0 / np.where(peak > 0, peak, 1.0)


def find_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pos, found)``: where each of ``keys`` is in ``sorted_keys`` (a valid index even when absent) and whether
    it is there; one binary search per key."""
    if not len(sorted_keys):
        return np.zeros(np.shape(keys), np.int64), np.zeros(np.shape(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return pos, sorted_keys[pos] == keys


def entry_keys(m: sp.csr_matrix) -> np.ndarray:
    """``row * columns + column`` of ``m``'s stored entries, sorted (rows in order, columns sorted within each;
    sorts ``m``'s indices in place)."""
    m.sort_indices()
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr)) * np.int64(m.shape[1]) + m.indices


def keep_best(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """``m`` with each row cut to its ``k`` largest entries and every entry tied with the ``k``-th (no arbitrary
    pick among ties); rows of at most ``k`` entries stay whole."""
    m = sp.csr_matrix(m)
    lengths = np.diff(m.indptr)
    long_rows = np.flatnonzero(lengths > k)
    if not len(long_rows):
        return m
    keep = np.ones(m.nnz, bool)
    for r in long_rows:
        a, b = m.indptr[r], m.indptr[r + 1]
        kth = np.partition(m.data[a:b], b - a - k)[b - a - k]
        keep[a:b] = m.data[a:b] >= kth
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def _dense(m) -> np.ndarray:
    return np.asarray(m.toarray() if sp.issparse(m) else m, np.float32).copy()
