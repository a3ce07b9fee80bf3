"""Serving: top-k related products from source vectors against a Faiss index of target vectors.

``score(q, v) = source[q] . target[v]``: after a phone (its source vector) the nearest targets are cases, while
a case's source vector points elsewhere. Everything here works in internal ids (rows of the catalog); external ids
go through :class:`~dualgnn.ids.IdMap` in :meth:`Recommender.encode`. Cold-start products are appended to the
catalog (ids ``n, n+1, ...``) so that one code path serves warm and new queries alike.

>>> import numpy as np, pandas as pd
>>> cat = pd.DataFrame({"product_id": ["phone", "case", "cable"], "title": ["P", "C", "K"]})
>>> s = np.array([[0, 1], [1, 0], [1, 0]], np.float32); t = np.array([[1, 0], [0, 1], [0.5, 0.5]], np.float32)
>>> ids, _ = Recommender(cat, s, t).recommend(np.array([0]), 1); ids.tolist()   # after the phone: the case
[[1]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dualgnn.errors import InputError
from dualgnn.ids import IdMap
from dualgnn.index import Exclusion, TargetIndex

#: In-stock lists whose indexes are kept per role (oldest dropped first): the current list and the one before, so
#: a query still running on the previous list does not rebuild its index.
MAX_STOCK_INDEXES = 2

#: Basket fusion: each item's list is read this far past k.
BASKET_DEPTH = 20


@dataclass(frozen=True, kw_only=True)
class Filters:
    """What may not be recommended. The query itself (and every basket item) is always excluded.

    * ``exclude_same_category``: drop products whose full category path (leaf included) equals the query's.
    * ``exclude_linked``: drop the query's co-purchase out-neighbours (what the shop already shows).
    * ``in_stock``: internal ids that may be recommended; ``None`` = all.
    """

    exclude_same_category: bool = False
    exclude_linked: bool = False
    in_stock: np.ndarray | None = None


class Recommender:
    """Top-k over a catalog ``products`` (row i = internal id i) with ``source``/``target`` of shape ``(n, d)``.

    ``linked`` is the ``(n, n)`` co-purchase adjacency (row q = q's out-neighbours) for ``exclude_linked``;
    ``ids`` the catalog's :class:`IdMap` if one exists already (building one for 1M products takes a second).
    Indexes are built lazily on first use, for the filter set in use; ``index_kind`` and ``num_queries`` choose
    the Faiss index (see :func:`dualgnn.index.choose_kind`).
    """

    def __init__(self, products: pd.DataFrame, source: np.ndarray, target: np.ndarray, *,
                 linked: sp.csr_matrix | None = None, index_kind: str = "auto", num_queries: int | None = None,
                 threads: int = 0, ids: IdMap | None = None) -> None:
        if len(products) == 0:
            raise InputError("the catalog has no products: nothing to recommend")
        if not (len(products) == len(source) == len(target)):
            raise InputError(f"{len(products)} products but {len(source)} source and {len(target)} target vectors",
                             hint="the model was trained on another catalog; retrain it on this graph")
        if source.shape[1] != target.shape[1]:
            raise InputError(f"source vectors are {source.shape[1]}-d but target vectors {target.shape[1]}-d")
        self.products = products.reset_index(drop=True)
        self.source = np.ascontiguousarray(source, dtype=np.float32)
        self.target = np.ascontiguousarray(target, dtype=np.float32)
        self.linked = linked
        self.index_opts = {"kind": index_kind, "num_queries": num_queries, "online": False, "threads": threads}
        self.ids = ids if ids is not None else IdMap(self.products["product_id"].to_numpy())
        self._target_rows = np.arange(len(products))  # products that may be recommended (cold ones opt in)
        self._indexes: dict[tuple, TargetIndex] = {}
        self._last_stock: tuple | None = None
        self.ranker = None
        self._category_codes()

    def _category_codes(self) -> None:
        cats = self.products["category"] if "category" in self.products else pd.Series([""] * len(self.products))
        codes, uniques = pd.factorize(cats.fillna("").astype(str))
        codes[(cats.fillna("").astype(str) == "").to_numpy()] = -1  # no category never matches another
        self.category = codes.astype(np.int64)
        self._category_index = pd.Index(uniques, dtype=object)

    def category_codes(self, categories) -> np.ndarray:
        """Codes of ``self.category`` for category paths of products outside the catalog; -1: matches none."""
        values = pd.Series(categories, dtype=object).fillna("").astype(str).to_numpy()
        return np.where(values == "", -1, self._category_index.get_indexer(values)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.products)

    def plan(self, num_queries: int | None, *, online: bool = False) -> None:
        """Tell ``auto`` how many queries are coming: a handful never justify building an HNSW graph. ``online``:
        one at a time and without end (a server), so per-query latency decides (see :func:`choose_kind`)."""
        self.index_opts.update(num_queries=num_queries, online=online)

    def prepare(self, in_stock: np.ndarray | None = None) -> None:
        """Build the indexes of both roles for ``in_stock`` now, so that no query pays for (or races on) building."""
        for role in ("target", "source"):
            self._index(role, in_stock)

    @property
    def index_kind(self) -> str:
        """Kind of the (first) index built so far, "" before the first search."""
        return next(iter(self._indexes.values())).kind if self._indexes else ""

    def encode(self, product_ids, *, source: str | None = None) -> np.ndarray:
        """Internal ids of external ``product_ids``; :class:`UnknownIdError` names the first unknown one."""
        return self.ids.encode(product_ids, source=source)

    def add_products(self, products: pd.DataFrame, source: np.ndarray, target: np.ndarray, *,
                     as_targets: bool = False) -> np.ndarray:
        """Append new (cold-start) products; returns their internal ids. ``as_targets`` lets warm queries get them."""
        clash = [p for p in products["product_id"].astype(str) if p in self.ids]
        if clash:
            raise InputError(f"new product {clash[0]!r} is already in the catalog ({len(clash)} such ids)",
                             hint="query warm products with --product; --new-products is for unseen products")
        start = len(self)
        self.products = pd.concat([self.products, products], ignore_index=True)
        self.source = np.concatenate([self.source, np.asarray(source, np.float32)])
        self.target = np.concatenate([self.target, np.asarray(target, np.float32)])
        self.ids = IdMap(self.products["product_id"].to_numpy())
        self._category_codes()
        new = np.arange(start, len(self))
        if as_targets:
            self._target_rows = np.concatenate([self._target_rows, new])
        self._indexes.clear()
        self._last_stock = None
        return new

    def index_for(self, role: str = "target") -> TargetIndex:
        """The index of ``role`` vectors over every recommendable product (built on first use)."""
        return self._index(role, None)

    def catalog_index(self) -> TargetIndex | None:
        """The target index when its products are exactly the ranker's catalog rows (no new products recommended),
        else None: the ranker's GNN candidates come from it (:class:`~dualgnn.ranking.candidates.RankInputs`)."""
        n = self.ranker.inputs.n if self.ranker is not None else len(self.products)
        if len(self._target_rows) != n or (n and self._target_rows[-1] != n - 1):
            return None
        return self.index_for("target")

    def adopt(self, index: TargetIndex, role: str = "target") -> None:
        """Search ``index`` (another process's :meth:`index_for`, loaded from its file) instead of building one:
        processes that share a catalog's queries share one index, and so give the lists one process would."""
        if not np.array_equal(index.ids, self._target_rows):
            raise InputError("the shared index does not hold this catalog's recommendable products")
        self._indexes[(role, None)] = index

    def _index(self, role: str, in_stock: np.ndarray | None) -> TargetIndex:
        """The index of ``role`` ("target" or "source") vectors over recommendable products."""
        if in_stock is None:
            rows, stock_key = self._target_rows, None
        else:
            rows, stock_key = self._stock_rows(in_stock)
        if len(rows) == 0:
            raise InputError("no product may be recommended: the in-stock list matches none of the catalog")
        key = (role, stock_key)
        if key not in self._indexes:
            vectors = self.target if role == "target" else self.source
            stock_keys = [key_ for key_ in self._indexes if key_[0] == role and key_[1] is not None]
            for old in stock_keys[:max(0, len(stock_keys) + 1 - MAX_STOCK_INDEXES)]:
                self._indexes.pop(old, None)  # a server replacing its in-stock list must not pile up indexes
            self._indexes[key] = TargetIndex(vectors[rows], ids=rows, **self.index_opts)
        return self._indexes[key]

    def _stock_rows(self, in_stock: np.ndarray) -> tuple[np.ndarray, bytes]:
        """Recommendable rows of an in-stock array and their index key, remembered for the last array object: a
        server passes the same one with every query, and intersecting a long id list each time would cost more
        than the search itself (``python bench/serve_bench.py``)."""
        last = self._last_stock
        if last is not None and last[0] is in_stock:
            return last[1], last[2]
        rows = np.intersect1d(self._target_rows, in_stock)
        self._last_stock = (in_stock, rows, rows.tobytes())  # one assignment: safe with concurrent queries
        return rows, self._last_stock[2]

    def exclusion(self, members: list[np.ndarray], filters: Filters,
                  categories: np.ndarray | None = None) -> Exclusion:
        """The exclusion for query rows whose members (the query, or a basket's items) are ``members[row]``.

        ``categories`` (b,) adds one category code per row (a query outside the catalog: see
        :meth:`category_codes`). Pairs are encoded as ``row * N + id`` int64 keys so one ``np.isin`` tests a whole
        candidate block.
        """
        n_all, lengths = len(self), np.array([len(m) for m in members])
        flat = np.concatenate(members).astype(np.int64) if len(members) else np.zeros(0, np.int64)
        rows = np.repeat(np.arange(len(members)), lengths)
        drop_rows, drop_ids = [rows], [flat]
        if filters.exclude_linked and self.linked is not None:
            warm = flat < self.linked.shape[0]  # cold products have no links
            sub = self.linked[flat[warm]]
            drop_rows.append(np.repeat(rows[warm], np.diff(sub.indptr)))
            drop_ids.append(sub.indices.astype(np.int64))
        id_keys = np.unique(np.concatenate(drop_rows) * n_all + np.concatenate(drop_ids))
        cat_keys, n_cat = None, int(self.category.max()) + 2
        if filters.exclude_same_category:
            c, r = self.category[flat], rows
            if categories is not None:
                c, r = np.concatenate([c, categories]), np.concatenate([r, np.arange(len(members))])
            cat_keys = np.unique(r[c >= 0] * n_cat + c[c >= 0])
        category = self.category

        def exclude(batch_rows: np.ndarray, cand: np.ndarray) -> np.ndarray:
            r = batch_rows[:, None].astype(np.int64)
            drop = np.isin(r * n_all + cand, id_keys)
            if cat_keys is not None:
                cc = np.where(cand >= 0, category[np.maximum(cand, 0)], -1)
                drop |= (cc >= 0) & np.isin(r * n_cat + cc, cat_keys)
            return drop

        return exclude

    def search(self, vectors: np.ndarray, members: list[np.ndarray], k: int, filters: Filters = Filters(), *,
               role: str = "target", categories: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` for query ``vectors (b, d)`` whose own products are ``members``: ``(ids, scores)`` (b, k).

        ``categories``: the rows' own category codes when the queries are not catalog products (cold start)."""
        # A fixed over-fetch (not one sized by the batch's largest exclusion) keeps batch == single also for
        # approximate indexes, whose answer depends on how many results are asked for; re-fetching fills gaps.
        exclude = self.exclusion(members, filters, categories)
        return self._index(role, filters.in_stock).search(vectors, k, exclude=exclude, extra=k + 8)

    def use_ranker(self, ranker) -> None:
        """Rank catalog queries with ``ranker`` (a :class:`~dualgnn.ranking.ranker.RankerScorer` over this
        catalog's graph and vectors) instead of the GNN index alone; None goes back to the index."""
        self.ranker = ranker

    def recommend(self, queries: np.ndarray, k: int, filters: Filters = Filters()) -> tuple[np.ndarray, np.ndarray]:
        """"Customers also bought": top ``k`` per query ``(b,)`` -> ``(b, k)`` ids, scores. With a ranker (the
        default of a trained model), its ranked candidates; else, and for products the ranker does not know (cold
        start), ``source[q] . target[v]`` from the index."""
        queries = np.asarray(queries, dtype=np.int64)
        if self.ranker is None:
            return self.search(self.source[queries], [q[None] for q in queries], k, filters)
        return self._ranked(queries, k, filters)

    def _ranked(self, queries: np.ndarray, k: int, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
        """The ranker's predictions, fused by reciprocal rank with the query's known co-purchases (ordered by the
        GNN's ``source . target``) unless ``exclude_linked``: half proven, half discovered, neither drowning the
        other. The ranker never scores known pairs (it learnt on pairs its graph did not hold), so the two lists are
        fused by rank, not by score. A row still short (a cold query, strict filters) is completed from the index,
        after everything ranked."""
        b = len(queries)
        ids, scores = np.full((b, k), -1, np.int64), np.full((b, k), -np.inf, np.float32)
        warm = np.flatnonzero(queries < self.ranker.inputs.n)
        if len(warm):
            q = queries[warm]
            keep = self.exclusion([x[None] for x in q], filters)
            predicted, predicted_scores = self._allowed(*self.ranker.ranked(q), keep, filters)
            if filters.exclude_linked or self.linked is None:
                got, got_scores = predicted[:, :k], predicted_scores[:, :k]
            else:
                known = self._known(q, k, keep, filters)
                got, got_scores = fuse([known, predicted], k)
            ids[warm, :got.shape[1]], scores[warm, :got.shape[1]] = got, got_scores
        short = np.flatnonzero((ids < 0).any(axis=1))
        if len(short):
            fill, fill_scores = self.search(self.source[queries[short]], [x[None] for x in queries[short]], 2 * k,
                                            filters)
            for row, f, fs in zip(short, fill, fill_scores):
                have = ids[row][ids[row] >= 0]
                take = np.flatnonzero(~np.isin(f, have) & (f >= 0))[:k - len(have)]
                ids[row, len(have):len(have) + len(take)] = f[take]
                below = scores[row, len(have) - 1] - 1.0 - np.arange(len(take)) if len(have) else fs[take]
                scores[row, len(have):len(have) + len(take)] = below
        return ids, scores

    def _known(self, queries: np.ndarray, k: int, exclude: Exclusion, filters: Filters) -> np.ndarray:
        """Each query's first ``k`` co-purchase out-neighbours that ``filters`` allow, by ``source . target`` (best
        first), padded with -1: ``(b, k)``.

        Only these can reach the fused top ``k``: the ranker's list never holds a known pair, so a known product
        ranked below ``k`` allowed ones scores below all of them. The pairs are filtered and sorted flat, so the work
        follows the batch's links, not its longest list times its length (at 1M products one hub's 21,227 links
        padded 20,000 rows to 3.4 GB)."""
        sub = self.linked[queries]
        counts = np.diff(sub.indptr)
        rows = np.repeat(np.arange(len(queries)), counts)
        cols = sub.indices.astype(np.int64)
        drop = self._dropped(rows, cols[:, None], exclude, filters)[:, 0]
        rows, cols = rows[~drop], cols[~drop]
        gnn = np.einsum("ij,ij->i", self.source[queries[rows]], self.target[cols])
        order = np.lexsort((-gnn, rows))
        rows, cols = rows[order], cols[order]
        slot = np.arange(len(rows)) - np.searchsorted(rows, rows)
        keep = slot < k
        out = np.full((len(queries), k), -1, np.int64)
        out[rows[keep], slot[keep]] = cols[keep]
        return out

    def _dropped(self, rows: np.ndarray, ids: np.ndarray, exclude: Exclusion, filters: Filters) -> np.ndarray:
        """Whether the filters drop each of ``ids`` (m, w), row ``i`` being the query row ``rows[i]``."""
        drop = exclude(rows, ids)
        if filters.in_stock is not None:
            drop |= ~np.isin(ids, self._stock_rows(filters.in_stock)[0])
        return drop

    def _allowed(self, ids: np.ndarray, scores: np.ndarray, exclude: Exclusion,
                 filters: Filters) -> tuple[np.ndarray, np.ndarray]:
        """``ids`` (b, m) and their ``scores`` without what the filters drop, the rest moved to the front in order
        (-1 / -inf behind)."""
        drop = (ids < 0) | self._dropped(np.arange(len(ids)), np.maximum(ids, 0), exclude, filters)
        order = np.argsort(drop, axis=1, kind="stable")
        gone = np.take_along_axis(drop, order, axis=1)
        return (np.where(gone, -1, np.take_along_axis(ids, order, axis=1)),
                np.where(gone, -np.inf, np.take_along_axis(scores, order, axis=1)).astype(np.float32))

    def similar(self, queries: np.ndarray, k: int, filters: Filters = Filters()) -> tuple[np.ndarray, np.ndarray]:
        """"Similar items": ``source[q] . source[v]`` (same role, so symmetric), top ``k`` per query."""
        queries = np.asarray(queries, dtype=np.int64)
        return self.search(self.source[queries], [q[None] for q in queries], k, filters, role="source")

    def basket(self, items: np.ndarray, k: int, filters: Filters = Filters()) -> tuple[np.ndarray, np.ndarray]:
        """"Complete the basket": one ranking for several products, basket items excluded. Shapes ``(1, k)``.

        Reciprocal-rank fusion of the items' own lists: each item ranks its top ``k + BASKET_DEPTH`` products
        (:meth:`recommend`, the whole basket excluded), and a product scores ``sum_i 1 / rank_i`` (ranks
        from 1). Every item thus contributes its best suggestions whatever the scale of its scores: a case and a
        camera get a screen protector and a memory card, where a mean query vector would serve whichever item's
        neighbourhood scores higher; a product high in several lists comes first. No damping constant (web
        search's RRF adds 60 to every rank): the lists answer different queries, so each one's head must count
        most. Ties keep the order of first appearance. Filters apply per item: linked to
        any item, or in any item's category, is excluded.
        """
        items = np.unique(np.asarray(items, dtype=np.int64))
        if len(items) == 0:
            raise InputError("the basket is empty")
        depth = k + BASKET_DEPTH
        fetch = min(len(self), depth + len(items))
        while True:
            ids, _ = self.recommend(items, fetch, filters)
            # The filters hold for the whole basket: an item, or what is linked to any item or in any item's
            # category (with those filters), is never suggested.
            wide = self.exclusion([items] * len(items), filters)(np.arange(len(items)), np.maximum(ids, 0))
            ids = np.where(wide | (ids < 0), -1, ids)
            # A list the basket-wide filters thinned (a phone's cases, with a case in the basket and
            # exclude_same_category) is fetched deeper, until each item has its depth or the catalog ends.
            if (ids >= 0).sum(axis=1).min() >= depth or fetch >= len(self):
                break
            fetch = min(len(self), 4 * fetch)
        ids = np.take_along_axis(ids, np.argsort(ids < 0, axis=1, kind="stable"), axis=1)[:, :depth]
        return fuse([row[None] for row in ids], k)


def fuse(lists: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion, row by row: ``lists`` are ``(b, m_i)`` id arrays (best first, -1 = empty); a product
    scores ``sum over lists of 1 / rank`` (ranks from 1) and the best ``k`` per row come back as ``(ids, scores)``
    ``(b, k)``. Ties keep the order of first appearance (rank, then list)."""
    b = len(lists[0])
    parts = []
    for i, ids in enumerate(lists):
        r, pos = np.nonzero(ids >= 0)
        parts.append((r, ids[r, pos], pos, np.full(len(r), i)))
    rows, cols, ranks, which = (np.concatenate(x) for x in zip(*parts))
    width = np.int64(int(cols.max()) + 1 if len(cols) else 1)
    keys, first_at, inverse = np.unique(rows * width + cols, return_index=True, return_inverse=True)
    fused = np.zeros(len(keys))
    np.add.at(fused, inverse, 1.0 / (1.0 + ranks))
    first = np.full(len(keys), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, ranks * len(lists) + which)
    u_rows, u_cols = rows[first_at], cols[first_at]
    order = np.lexsort((first, -fused, u_rows))
    u_rows, u_cols, fused = u_rows[order], u_cols[order], fused[order]
    counts = np.bincount(u_rows, minlength=b)
    slot = np.arange(len(u_rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = slot < k
    out_ids, out_scores = np.full((b, k), -1, np.int64), np.full((b, k), -np.inf, np.float32)
    out_ids[u_rows[keep], slot[keep]] = u_cols[keep]
    out_scores[u_rows[keep], slot[keep]] = fused[keep]
    return out_ids, out_scores
