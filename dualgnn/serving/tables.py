"""Recommendation tables and their writers (CSV, Parquet, JSON lines, chosen by extension, written atomically).

The long table has one row per (query, rank)::

    product_id  rank  recommended_id  score  title  recommended_title  [reason]

A basket's ``product_id`` is its item ids joined by ",".

>>> df = recommendation_frame(["a"], ["A"], np.array([[1]]), np.array([[0.5]]), products)  # doctest: +SKIP
>>> write_table(df, "recs.parquet")                                                         # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.artifacts import atomic_path
from dualgnn.errors import InputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def titles_of(products: pd.DataFrame) -> np.ndarray:
    """Title per row, the product id where the title is missing. Shape ``(n,)`` object."""
    ids = products["product_id"].astype(str).to_numpy()
    if "title" not in products:
        return ids.astype(object)
    t = products["title"].fillna("").astype(str).to_numpy()
    return np.where(t != "", t, ids).astype(object)


def recommendation_frame(query_labels, query_titles, ids: np.ndarray, scores: np.ndarray, products: pd.DataFrame,
                         reasons: list[str] | None = None) -> pd.DataFrame:
    """Long table for ``ids``/``scores`` of shape ``(b, k)``; ``query_labels``/``query_titles`` have length ``b``.

    Empty slots (id -1: fewer than k products left after filtering) are dropped. ``reasons`` is one string per
    non-empty slot, in row-major order.
    """
    return _frame(query_labels, query_titles, ids, scores, products["product_id"].astype(str).to_numpy(),
                  titles_of(products), reasons)


class Lists:
    """Ranked lists as arrays (as :func:`recommendation_frame` takes them): the long table is built on demand
    (:meth:`frame`) or written part by part (:meth:`write`), so a whole catalog's table is never in memory at once
    (at 1M products its 10M rows took 2.4 GB as one DataFrame)."""

    def __init__(self, query_labels, query_titles, ids: np.ndarray, scores: np.ndarray, products: pd.DataFrame,
                 reasons: list[str] | None = None) -> None:
        self.query_labels = np.asarray(query_labels, dtype=object)
        self.query_titles = np.asarray(query_titles, dtype=object)
        self.ids, self.scores, self.products, self.reasons = ids, scores, products, reasons

    def __len__(self) -> int:
        """Rows of the long table (filled slots)."""
        return int((self.ids >= 0).sum())

    def frame(self) -> pd.DataFrame:
        return recommendation_frame(self.query_labels, self.query_titles, self.ids, self.scores, self.products,
                                    self.reasons)

    def write(self, path: str | Path, queries_per_part: int = 100_000) -> None:
        """The table :func:`write_table` would write for :meth:`frame`, ``queries_per_part`` queries at a time
        (Parquet row groups, CSV / JSON lines appended); readers never see a half-written file."""
        fmt = table_format(path)
        pids, titles = self.products["product_id"].astype(str).to_numpy(), titles_of(self.products)
        slots = np.concatenate([[0], np.cumsum((self.ids >= 0).sum(axis=1))])
        step = max(1, queries_per_part)
        with atomic_path(path) as tmp:
            writer, wrote = None, False
            with open(tmp, "wb") as fh:
                for lo in range(0, max(len(self.ids), 1), step):
                    hi = lo + step
                    reasons = None if self.reasons is None else self.reasons[slots[lo]:slots[min(hi, len(self.ids))]]
                    part = _frame(self.query_labels[lo:hi], self.query_titles[lo:hi], self.ids[lo:hi],
                                  self.scores[lo:hi], pids, titles, reasons)
                    if not len(part) and (wrote or hi < len(self.ids)):
                        continue  # an empty part writes nothing, unless the whole table is empty (its header)
                    if fmt == "parquet":
                        writer = _write_parquet_part(part, fh, writer)
                    elif fmt == "csv":
                        part.to_csv(fh, index=False, header=not wrote)
                    else:
                        text = part.to_json(orient="records", lines=True, force_ascii=False)
                        fh.write(text.encode("utf-8"))
                        if text and not text.endswith("\n"):
                            fh.write(b"\n")
                    wrote = True
                if writer is not None:
                    writer.close()


def _write_parquet_part(part: pd.DataFrame, fh, writer):
    """Append ``part`` to the Parquet file open as ``fh`` (one row group), opening its writer on the first part
    with that part's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(part, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(fh, table.schema)
    writer.write_table(table.cast(writer.schema))
    return writer


def _frame(query_labels, query_titles, ids: np.ndarray, scores: np.ndarray, pids: np.ndarray, titles: np.ndarray,
           reasons: list[str] | None) -> pd.DataFrame:
    """:func:`recommendation_frame` with the catalog's ids and titles given (``pids``, ``titles``)."""
    b, k = ids.shape
    flat = ids.ravel()
    ok = flat >= 0
    df = pd.DataFrame({
        "product_id": np.repeat(np.asarray(query_labels, dtype=object), k)[ok],
        "rank": np.tile(np.arange(1, k + 1), b)[ok].astype(np.int64),
        "recommended_id": pids[flat[ok]],
        "score": scores.ravel()[ok].astype(np.float32),
        "title": np.repeat(np.asarray(query_titles, dtype=object), k)[ok],
        "recommended_title": titles[flat[ok]],
    })
    if reasons is not None:
        df["reason"] = reasons
    return df


def table_format(path: str | Path) -> str:
    """``csv`` / ``parquet`` / ``jsonl`` from the file extension; :class:`InputError` for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot tell the output format of {path}",
                         hint="use an extension among " + ", ".join(FORMATS))
    return FORMATS[suffix]


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` in the format of ``path``'s extension; readers never see a half-written file."""
    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)


#: Columns that mark a table as one :func:`write_table` wrote (lists, or similar brands).
_MARKS = ({"product_id", "rank", "recommended_id", "score"}, {"brand", "rank", "similar_brand", "score"})


def is_recommendation_table(path: str | Path) -> bool:
    """True when ``path`` is a recommendation table dualgnn wrote (its columns say so): only such a file is replaced."""
    fmt = table_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        columns = set(pq.read_schema(path).names)
    elif fmt == "csv":
        with open(path, encoding="utf-8") as fh:
            columns = set(fh.readline().strip().split(","))
    else:
        import json

        with open(path, encoding="utf-8") as fh:
            first = json.loads(fh.readline() or "{}")
        columns = set(first) if isinstance(first, dict) else set()
    return any(mark <= columns for mark in _MARKS)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read back what :func:`write_table` wrote (ids stay strings)."""
    fmt = table_format(path)
    if fmt == "csv":
        return pd.read_csv(path, dtype={"product_id": str, "recommended_id": str, "brand": str,
                                        "similar_brand": str}, keep_default_na=False)
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, orient="records", lines=True, dtype={"product_id": str, "recommended_id": str})
