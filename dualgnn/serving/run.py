"""One call behind ``dualgnn recommend``: a :class:`RecommendRequest` in, a recommendations table out.

Modes (one per request): related products (``source . target``, default), ``similar`` (``source . source``),
``basket`` (one ranking for several products) and ``brands`` (brand-to-brand similarity). Queries come from
``products`` (command-line ids), ``products_file``, ``all_products`` and/or ``new_products`` (cold start).

>>> req = RecommendRequest(artifacts=Path("art"), model_dir=Path("model"), products=("B01",), k=5)  # doctest: +SKIP
>>> run_recommend(req).frame.head()                                                                  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.errors import InputError, SettingsError, SkipReport
from dualgnn.serving.load import add_new_products, encode_id_file, encode_ids, load_recommender, read_in_stock
from dualgnn.serving.recommender import Filters, Recommender
from dualgnn.serving.tables import Lists, titles_of, write_table

BATCH = 20_000  # queries per index search when serving the whole catalog (bounds the (b, k + extra) buffers)


@dataclass(frozen=True, kw_only=True)
class RecommendRequest:
    """Everything ``dualgnn recommend`` was asked. Ids are external product ids."""

    artifacts: Path
    model_dir: Path
    products: tuple[str, ...] = ()
    products_file: Path | None = None
    all_products: bool = False
    basket: tuple[str, ...] = ()
    similar: bool = False
    brands: bool = False
    new_products: Path | None = None
    new_as_targets: bool = False
    k: int = 10
    exclude_same_category: bool = False
    exclude_linked: bool = False
    in_stock: Path | None = None
    index_kind: str = "auto"
    explain: bool = False
    threads: int = 0
    gnn_only: bool = False

    def __post_init__(self) -> None:
        if self.k < 1:
            raise SettingsError(f"k must be at least 1, not {self.k}")
        if self.index_kind not in ("auto", "exact", "hnsw", "ivf"):
            raise SettingsError(f"index must be auto, exact, hnsw or ivf, not {self.index_kind!r}")
        if self.basket and (self.similar or self.brands or self.products or self.products_file or self.all_products):
            raise SettingsError("--basket is one query: it cannot be combined with --similar, --brands, --product, "
                             "--products-file or --all")
        ignored = {"--similar": self.similar, "--products-file": self.products_file, "--all": self.all_products,
                   "--new-products": self.new_products, "--in-stock": self.in_stock, "--explain": self.explain,
                   "--exclude-same-category": self.exclude_same_category, "--exclude-linked": self.exclude_linked}
        if self.brands and any(ignored.values()):
            raise SettingsError("--brands ranks brands (of --product's brands, or all brands): it cannot be combined "
                                f"with {', '.join(name for name, on in ignored.items() if on)}")


@dataclass
class RecommendResult:
    """The table (see :mod:`dualgnn.serving.tables`; brands mode: brand, rank, similar_brand, score, products)."""

    table: pd.DataFrame | Lists
    mode: str
    index_kind: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def frame(self) -> pd.DataFrame:
        """The table as one DataFrame (built on first use from ranked lists)."""
        if isinstance(self.table, Lists):
            self.table = self.table.frame()
        return self.table

    def rows(self) -> int:
        return len(self.table)

    def write(self, path) -> None:
        """Write the table (the format of ``path``'s extension, atomically); ranked lists part by part."""
        if isinstance(self.table, Lists):
            self.table.write(path)
        else:
            write_table(self.table, path)


@dataclass
class _Queries:
    """What a request ranks: ``rows`` (one query product each), or one ``basket`` of several."""

    rows: list[np.ndarray] = field(default_factory=list)
    basket: np.ndarray | None = None


def run_recommend(req: RecommendRequest, progress: Callable[[int, int], None] | None = None) -> RecommendResult:
    """Load graph and model (fingerprints must match), resolve queries and filters, rank, explain if asked."""
    if not (req.products or req.products_file or req.all_products or req.basket or req.new_products or req.brands):
        raise InputError("no query was given, so there is nothing to recommend for",
                         hint="give --product ID, --products-file FILE, --all, --basket ID,ID, --brands or "
                              "--new-products FILE")
    warnings: list[str] = []
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    graph, rec = load_recommender(req.artifacts, req.model_dir, index_kind=req.index_kind, threads=req.threads,
                                  ranked=not req.gnn_only)
    clock["load"] = time.perf_counter() - t0
    if req.brands:
        return _brands(req, rec)
    file_skips = SkipReport()  # bytes repaired in the id files, warned about with file and line
    queries = _queries(req, rec, graph, file_skips, warnings, clock)
    filters = _filters(req, rec, file_skips, warnings)
    warnings += file_skips.lines()
    t0 = time.perf_counter()
    if queries.basket is not None:
        members, labels, q_titles, ids, scores = _rank_basket(rec, queries.basket, req.k, filters)
    else:
        members, labels, q_titles, ids, scores = _rank_each(req, rec, queries.rows, filters, progress)
    clock["rank"] = time.perf_counter() - t0
    reasons = None
    if req.explain:
        t0 = time.perf_counter()
        reasons = _reasons(graph, rec, members, ids)
        clock["explain"] = time.perf_counter() - t0
    lists = Lists(labels, q_titles, ids, scores, rec.products, reasons)
    mode = "basket" if queries.basket is not None else ("similar" if req.similar else "related")
    return RecommendResult(lists, mode, rec.index_kind, clock, warnings)


def _queries(req: RecommendRequest, rec: Recommender, graph, file_skips: SkipReport, warnings: list[str],
             clock: dict[str, float]) -> _Queries:
    """The request's query products as internal ids; new products (cold start) are added to the index first."""
    out = _Queries()
    if req.products:
        out.rows.append(encode_ids(rec, list(req.products), "--product"))
    if req.products_file is not None:
        out.rows.append(encode_id_file(rec, req.products_file, file_skips))
    if req.all_products:
        out.rows.append(np.arange(len(rec)))
    if req.basket:
        out.basket = encode_ids(rec, list(req.basket), "--basket")
    if req.new_products is None:
        return out
    t0 = time.perf_counter()
    new, read_warnings = add_new_products(rec, graph, req.model_dir, req.artifacts, req.new_products,
                                          as_targets=req.new_as_targets)
    warnings += read_warnings
    clock["cold_start"] = time.perf_counter() - t0
    if out.basket is not None and not req.new_as_targets:
        out.basket = np.concatenate([out.basket, new])  # new products join the basket
    elif not (req.new_as_targets and (out.rows or out.basket is not None)):
        out.rows.append(new)  # new products are the queries unless they were only added as targets
    return out


def _filters(req: RecommendRequest, rec: Recommender, file_skips: SkipReport, warnings: list[str]) -> Filters:
    in_stock = None
    if req.in_stock is not None:
        in_stock, unknown = read_in_stock(rec, req.in_stock, file_skips)
        if not len(in_stock):
            raise InputError(f"none of the {unknown:,} ids in the in-stock list is in the catalog: no product "
                             "may be recommended", path=req.in_stock,
                             hint="one catalog product id per line (the ids of the graph's products file)")
        if unknown:
            warnings.append(f"{req.in_stock}: {unknown:,} in-stock ids are not in the catalog; ignored")
    return Filters(exclude_same_category=req.exclude_same_category, exclude_linked=req.exclude_linked,
                   in_stock=in_stock)


def _rank_basket(rec: Recommender, basket: np.ndarray, k: int, filters: Filters):
    """One ranking for the whole basket: (members, labels, titles, ids, scores) of its one row."""
    rec.plan(1)
    ids, scores = rec.basket(basket, k, filters)
    members = np.unique(basket)
    titles = titles_of(rec.products)
    return [members], [",".join(rec.ids.decode(members))], [" + ".join(titles[members])], ids, scores


def _rank_each(req: RecommendRequest, rec: Recommender, rows: list[np.ndarray], filters: Filters, progress):
    """A ranking per query product, ``BATCH`` queries per index search: (members, labels, titles, ids, scores)."""
    q = np.unique(np.concatenate(rows)) if len(rows) > 1 else rows[0]
    rec.plan(len(q))
    ids, scores = rank_products(rec, q, req.k, filters, similar=req.similar, progress=progress)
    return [np.array([x]) for x in q], rec.ids.decode(q), titles_of(rec.products)[q], ids, scores


def rank_products(rec: Recommender, q: np.ndarray, k: int, filters: Filters, *, similar: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` for every query row ``q`` (b,), ``BATCH`` queries per index search: ``(ids, scores)`` (b, k).
    The whole-catalog export of several processes (dualgnn/distributed/export.py) ranks its ranges with it."""
    method = rec.similar if similar else rec.recommend
    parts = []
    for lo in range(0, len(q), BATCH):
        parts.append(method(q[lo:lo + BATCH], k, filters))
        if progress is not None:
            progress(min(len(q), lo + BATCH), len(q))
    if not parts:
        return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _reasons(graph, rec: Recommender, members: list[np.ndarray], ids: np.ndarray) -> list[str]:
    """One explanation per filled slot (row-major). A basket is explained by its best-supported item."""
    from dualgnn.serving.explain import Explainer

    explainer = Explainer(graph)
    out = []
    for row, m in zip(ids, members):
        v = row[row >= 0]
        if len(m) == 1:
            out.extend(explainer.describe(np.repeat(m, len(v)), v, rec.products))
            continue
        ex = explainer.explain(np.repeat(m, len(v)), np.tile(v, len(m)))
        best = m[ex.strength.reshape(len(m), len(v)).argmax(axis=0)]
        out.extend(explainer.describe(best, v, rec.products))
    return out


def _brands(req: RecommendRequest, rec: Recommender) -> RecommendResult:
    from dualgnn.serving.brands import brand_frame, brand_vectors, similar_brands

    brands = rec.products["brand"].to_numpy() if "brand" in rec.products else np.full(len(rec), "", object)
    bv = brand_vectors(rec.source, brands)
    if req.products:
        wanted = pd.Series(brands[encode_ids(rec, list(req.products), "--product")]).fillna("").astype(str)
        if (wanted == "").any():
            raise InputError(f"product {req.products[int(np.flatnonzero(wanted == '')[0])]!r} has no brand")
        q = bv.encode(list(dict.fromkeys(wanted)))
    else:
        q = np.arange(len(bv.names))
    ids, scores = similar_brands(bv, q, req.k)
    return RecommendResult(brand_frame(bv, q, ids, scores), "brands", "exact")
