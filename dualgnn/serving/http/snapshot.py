"""One served model, loaded once and never changed: graph, vectors, Faiss indexes, explainer, cold-start pass.

Answers are plain dicts (JSON-ready), so the HTTP layer only translates. A new in-stock list makes a new
snapshot sharing everything else (:meth:`Snapshot.with_in_stock`); a reload makes a whole new one.

>>> snap = Snapshot.load("artifacts/", "model/")                              # doctest: +SKIP
>>> snap.related(["P01"], Query(k=3))[0]["recommendations"][0]["product_id"]  # doctest: +SKIP
'P07'
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.artifacts import MANIFEST, file_checksum
from dualgnn.errors import ArtifactError, DualGNNError, InputError, UnknownIdError
from dualgnn.serving.explain import Explainer, ProductText
from dualgnn.serving.load import load_cold_start, load_recommender
from dualgnn.serving.recommender import Filters, Recommender
from dualgnn.serving.tables import titles_of


class UnknownProductsError(UnknownIdError):
    """Query ids that are not in the served catalog; ``product_ids`` lists them all."""

    def __init__(self, product_ids: list[str]) -> None:
        self.product_ids = product_ids
        more = f" (and {len(product_ids) - 1:,} more)" if len(product_ids) > 1 else ""
        super().__init__(f"unknown product id {product_ids[0]!r}{more}",
                         hint="check the id against the catalog the served model was trained on")


class ConflictError(DualGNNError):
    """A request this server's state cannot answer (no in-stock list, no cold-start weights, an id in use)."""


@dataclass(frozen=True, kw_only=True)
class Query:
    """Options every list request shares (the HTTP layer has validated the bounds)."""

    k: int = 10
    exclude_same_category: bool = False
    exclude_linked: bool = False
    in_stock_only: bool = False
    explain: bool = False


class ColdStart:
    """The cold-start forward pass of one model with its warm side computed once (a full forward pass)."""

    def __init__(self, graph, model_dir: Path, artifacts: Path, k_links: int = 10) -> None:
        from dualgnn.model.coldstart import new_product_starter

        loaded, self.features = load_cold_start(graph, model_dir, artifacts)
        self.starter = new_product_starter(loaded.model, graph.to_dgl(), self.features)
        self.k_links = k_links
        self._lock = threading.Lock()  # transform_new caches encoders in the features: one pass at a time

    def embed(self, products: pd.DataFrame) -> np.ndarray:
        """Served source vectors ``(c, d)`` of products outside the catalog (metadata only)."""
        from dualgnn.features.build import transform_new
        from dualgnn.model.inputs import NodeInputs

        with self._lock:
            new = NodeInputs.from_features(transform_new(products, self.features))
            source, _ = self.starter.embed(new, self.k_links)
        return source


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One model's catalog, indexes (``rec``), product text for titles and reasons, explainer, cold-start pass,
    identity (``info``) and in-stock internal ids (``None``: no list). Never changed once built."""

    rec: Recommender
    text: ProductText
    explainer: Explainer
    cold: ColdStart | None
    info: dict
    in_stock: np.ndarray | None = None

    @classmethod
    def load(cls, artifacts: str | Path, model_dir: str | Path, *, index_kind: str = "auto",
             threads: int = 1, ranked: bool = True) -> "Snapshot":
        """Everything a query needs, built now (indexes of both roles too): the first request pays nothing."""
        artifacts, model_dir = Path(artifacts).absolute(), Path(model_dir).absolute()
        identity = _model_identity(model_dir)
        graph, rec = load_recommender(artifacts, model_dir, index_kind=index_kind, threads=threads, ranked=ranked)
        rec.plan(None, online=True)  # single queries without end: "auto" weighs per-query latency
        rec.prepare()
        rec.ids.lookup([""])  # builds the id hash table that every query's lookup uses
        if rec.ranker is not None and len(rec):
            rec.recommend(np.zeros(1, np.int64), 1)  # the ranker's lazy parts (classic rows, keys, degrees) now
        # A model directory without weights (vectors only) serves warm products; cold start then answers 409.
        cold = ColdStart(graph, model_dir, artifacts) if (model_dir / "weights.pt").exists() else None
        info = {**identity, "model_dir": str(model_dir), "artifacts": str(artifacts), "products": len(rec),
                "vector_dim": int(rec.source.shape[1]), "index": rec.index_kind, "cold_start": cold is not None,
                "ranker": rec.ranker is not None,
                "loaded_at": utc_now()}
        return cls(rec, ProductText(rec.products), Explainer(graph), cold, info)

    def with_in_stock(self, product_ids: list[str]) -> tuple["Snapshot", dict]:
        """This snapshot with another in-stock list (its indexes built now) and ``{known, unknown}`` counts."""
        idx = self.rec.ids.lookup(product_ids)
        known = np.unique(idx[idx >= 0])
        counts = {"known": int(len(known)), "unknown": int((idx < 0).sum())}
        if len(known) == 0:
            raise InputError(f"none of the {len(product_ids):,} in-stock ids is in the served catalog",
                             hint="the previous in-stock list stays in use")
        self.rec.prepare(known)
        return replace(self, in_stock=known, info={**self.info, "in_stock": counts}), counts

    def without_in_stock(self) -> "Snapshot":
        return replace(self, in_stock=None, info={k: v for k, v in self.info.items() if k != "in_stock"})

    # -------------------------------------------------------------------------------------------- queries

    def encode(self, product_ids: list[str]) -> np.ndarray:
        idx = self.rec.ids.lookup(product_ids)
        if (idx < 0).any():
            raise UnknownProductsError([product_ids[i] for i in np.flatnonzero(idx < 0)])
        return idx

    def related(self, product_ids: list[str], query: Query, *, similar: bool = False) -> list[dict]:
        """One answer per id: ``source . target`` (``similar``: ``source . source``) top ``k`` with filters."""
        q = self.encode(product_ids)
        method = self.rec.similar if similar else self.rec.recommend
        ids, scores = method(q, query.k, self._filters(query))
        return self._answers(q, product_ids, ids, scores, query.explain)

    def cold_start(self, records: list[dict], query: Query) -> list[dict]:
        """Lists for products given by their metadata (fields of the products table); they join nothing."""
        if self.cold is None:
            raise ConflictError(f"{self.info['model_dir']} has no weights.pt: cold start needs the trained network",
                                hint="serve a model directory written by `dualgnn train`")
        products = records_frame(records)
        pids = products["product_id"].tolist()
        dup = next((p for p in pids if pids.count(p) > 1), None)
        if dup is not None:
            raise InputError(f"product {dup!r} is given twice")
        known = [p for p, i in zip(pids, self.rec.ids.lookup(pids)) if i >= 0]
        if known:
            raise ConflictError(f"product {known[0]!r} is already in the catalog",
                                hint=f"ask GET /v1/related/{known[0]} for its list")
        source = self.cold.embed(products)
        categories = self.rec.category_codes(products["category"]) if "category" in products else None
        members = [np.zeros(0, np.int64)] * len(products)
        ids, scores = self.rec.search(source, members, query.k, self._filters(query), categories=categories)
        q = len(self.rec) + np.arange(len(products))  # rows the products would have if they were appended
        text = self.text.extended(products) if query.explain else self.text
        titles = titles_of(products)
        return self._answers(q, pids, ids, scores, query.explain, text=text, titles=titles)

    def _filters(self, query: Query) -> Filters:
        if query.in_stock_only and self.in_stock is None:
            raise ConflictError("in_stock_only was asked but no in-stock list is set",
                                hint="start with --in-stock FILE or PUT /admin/in-stock")
        return Filters(exclude_same_category=query.exclude_same_category, exclude_linked=query.exclude_linked,
                       in_stock=self.in_stock if query.in_stock_only else None)

    def _answers(self, q: np.ndarray, labels: list[str], ids: np.ndarray, scores: np.ndarray, explain: bool, *,
                 text: ProductText | None = None, titles=None) -> list[dict]:
        text = text or self.text
        titles = self.text.names[q] if titles is None else titles
        out = []
        for qi, label, title, row, row_scores in zip(q, labels, titles, ids, scores):
            keep = row >= 0
            row, row_scores = row[keep], row_scores[keep]
            items = [{"product_id": pid, "title": name, "score": round(float(s), 6)}
                     for pid, name, s in zip(self.rec.ids.decode(row), self.text.names[row], row_scores)]
            if explain:
                for item, reason in zip(items, self.explainer.describe(np.repeat(qi, len(row)), row, text)):
                    item["reason"] = reason
            out.append({"product_id": label, "title": title, "recommendations": items})
        return out


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Products given as records (``product_id`` and any of title, description, category as a path or its levels,
    brand, price) in the catalog's form: text as str ("" when missing), category levels joined by " > ", price
    float (NaN when missing). Plain Python: for one product pandas' per-column passes cost more than the whole cold-start pass."""
    def text(value, joiner: str) -> str:
        if value is None:
            return ""
        return joiner.join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    columns = {name: [text(r.get(name), " > " if name == "category" else " ") for r in records]
               for name in ("title", "description", "category", "brand")}
    price = np.array([np.nan if r.get("price") is None else float(r["price"]) for r in records], np.float64)
    return pd.DataFrame({"product_id": [str(r["product_id"]) for r in records], **columns, "price": price})


def _model_identity(model_dir: Path) -> dict:
    """``model_id`` (hash of the manifest and the served vectors), ``created`` (manifest time) of a model dir."""
    from dualgnn.artifacts import read_manifest

    manifest = read_manifest(model_dir, kind="model")
    try:
        h = hashlib.sha256((model_dir / MANIFEST).read_bytes())
        h.update(file_checksum(model_dir / "embeddings.npz").encode())
        created = datetime.fromtimestamp((model_dir / MANIFEST).stat().st_mtime, timezone.utc)
    except OSError as exc:
        raise ArtifactError(f"cannot read {exc.filename or model_dir}: {exc.strerror or exc}",
                            hint="retrain: dualgnn train ARTIFACTS") from exc
    return {"model_id": h.hexdigest()[:16], "created": created.isoformat(timespec="seconds"),
            "graph_fingerprint": manifest.get("graph_fingerprint")}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
