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
from dualgnn.serving.tables import recommendation_frame, titles_of

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

    def __post_init__(self) -> None:
        if self.k < 1:
            raise SettingsError(f"k must be at least 1, not {self.k}")
        if self.index_kind not in ("auto", "exact", "hnsw", "ivf"):
            raise SettingsError(f"index must be auto, exact, hnsw or ivf, not {self.index_kind!r}")
        if self.basket and (self.similar or self.brands or self.products or self.products_file or self.all_products):
            raise SettingsError("--basket is one query: it cannot be combined with --similar, --brands, --product, "
                             "--products-file or --all")


@dataclass
class RecommendResult:
    """The table (see :mod:`dualgnn.serving.tables`; brands mode: brand, rank, similar_brand, score, products)."""

    frame: pd.DataFrame
    mode: str
    index_kind: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def run_recommend(req: RecommendRequest, progress: Callable[[int, int], None] | None = None) -> RecommendResult:
    """Load graph and model (fingerprints must match), resolve queries and filters, rank, explain if asked."""
    warnings: list[str] = []
    if not (req.products or req.products_file or req.all_products or req.basket or req.new_products or req.brands):
        raise InputError("nothing to recommend for",
                         hint="give --product ID, --products-file FILE, --all, --basket ID,ID or --new-products FILE")
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    graph, rec = load_recommender(req.artifacts, req.model_dir, index_kind=req.index_kind, threads=req.threads)
    clock["load"] = time.perf_counter() - t0
    if req.brands:
        return _brands(req, rec)

    queries = [encode_ids(rec, list(req.products), "--product")] if req.products else []
    file_skips = SkipReport()  # bytes repaired in the id files, warned about with file and line
    if req.products_file is not None:
        queries.append(encode_id_file(rec, req.products_file, file_skips))
    if req.all_products:
        queries.append(np.arange(len(rec)))
    basket = encode_ids(rec, list(req.basket), "--basket") if req.basket else None
    if req.new_products is not None:
        t0 = time.perf_counter()
        new, read_warnings = add_new_products(rec, graph, req.model_dir, req.artifacts, req.new_products,
                                              as_targets=req.new_as_targets)
        warnings += read_warnings
        clock["cold_start"] = time.perf_counter() - t0
        if basket is not None and not req.new_as_targets:
            basket = np.concatenate([basket, new])  # new products join the basket
        elif not (req.new_as_targets and (queries or basket is not None)):
            queries.append(new)  # new products are the queries unless they were only added as targets

    in_stock = None
    if req.in_stock is not None:
        in_stock, unknown = read_in_stock(rec, req.in_stock, file_skips)
        if unknown:
            warnings.append(f"{req.in_stock}: {unknown:,} in-stock ids are not in the catalog; ignored")
    warnings += file_skips.lines()
    filters = Filters(exclude_same_category=req.exclude_same_category, exclude_linked=req.exclude_linked,
                      in_stock=in_stock)
    titles = titles_of(rec.products)
    t0 = time.perf_counter()
    if basket is not None:
        rec.plan(1)
        ids, scores = rec.basket(basket, req.k, filters)
        q_members = [np.unique(basket)]
        labels, q_titles = [",".join(rec.ids.decode(q_members[0]))], [" + ".join(titles[q_members[0]])]
    else:
        q = np.unique(np.concatenate(queries)) if len(queries) > 1 else queries[0]
        rec.plan(len(q))
        method = rec.similar if req.similar else rec.recommend
        parts = []
        for lo in range(0, len(q), BATCH):
            parts.append(method(q[lo:lo + BATCH], req.k, filters))
            if progress is not None:
                progress(min(len(q), lo + BATCH), len(q))
        ids, scores = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        q_members = [np.array([x]) for x in q]
        labels, q_titles = rec.ids.decode(q), titles[q]
    clock["rank"] = time.perf_counter() - t0
    reasons = None
    if req.explain:
        t0 = time.perf_counter()
        reasons = _reasons(graph, rec, q_members, ids)
        clock["explain"] = time.perf_counter() - t0
    frame = recommendation_frame(labels, q_titles, ids, scores, rec.products, reasons)
    mode = "basket" if basket is not None else ("similar" if req.similar else "related")
    return RecommendResult(frame, mode, rec.index_kind, clock, warnings)


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
