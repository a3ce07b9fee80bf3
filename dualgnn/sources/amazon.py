"""Amazon product metadata (McAuley et al., 2014 and 2018 releases) -> :class:`RawData`.

One record per line. The 2014 files use Python-literal quoting (``{'asin': '0001', ...}``) with the related
products in a ``related`` dict; the 2018 files are strict JSON with top-level ``also_buy`` / ``also_view``. The
format is detected per line, so a file mixing both reads fine. gzip is detected by magic bytes. A line nested
more than 100 levels deep is skipped and counted like a malformed one (:mod:`dualgnn.sources._nesting`).

Edges point from the record's owner to each listed product::

    also_bought, bought_together (2014), also_buy (2018)      -> copurchase
    also_viewed, buy_after_viewing (2014), also_view (2018)   -> coview

Amazon lists the strongest related products first, so the product at 0-based position ``pos`` of a list gets
weight ``1 / log2(2 + pos)`` (1.0, 0.63, 0.5, 0.43, ...; the DCG discount). A pair listed in two lists keeps one
row per list; the graph builder adds their weights. Edge rows carry ``line`` and ``path``: the owner's 1-based
line number and file.

>>> raw = read_amazon(["meta_Digital_Music.partial.jsonl.gz"])    # doctest: +SKIP
>>> len(raw.products), list(raw.copurchase.columns)               # doctest: +SKIP
(7419, ['src', 'dst', 'weight', 'line', 'path'])
"""

from __future__ import annotations

import ast
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.errors import InputError, SkipReport
from dualgnn.sources._nesting import blank_deep_lines
from dualgnn.sources._open import read_utf8
from dualgnn.sources.base import RawData, place, unplace

EXPECTED = "Amazon product metadata: one JSON (or Python-literal) object per line with an 'asin' field"

# (key inside ``related`` or None for a top-level key, list name) per edge kind.
COPURCHASE_LISTS = (("related", "also_bought"), ("related", "bought_together"), (None, "also_buy"))
COVIEW_LISTS = (("related", "also_viewed"), ("related", "buy_after_viewing"), (None, "also_view"))

BAD_PRICE = "prices that are not a non-negative number (set to missing)"

_TAG = re.compile(r"<[^>]*>")
# A price, optionally a range: "$25.00", "25", "$1,250.00", "$10.00 - $20.00". Commas only as thousands separators
# (groups of three): a decimal comma ("12,99") is no price here rather than 1299.
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_PRICE = re.compile(rf"\s*\$?\s*({_NUMBER})\s*(?:-\s*\$?\s*({_NUMBER}))?\s*")


def position_weights(n: int) -> list[float]:
    """Weights of list positions ``0..n-1``: ``1 / log2(2 + pos)``."""
    return (1.0 / np.log2(2.0 + np.arange(n))).tolist()


_WEIGHTS = position_weights(1024)


def clean_text(value) -> str:
    """Text without HTML tags, entities or runs of whitespace; lists are joined with spaces; None -> ""."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = " ".join(clean_text(v) for v in value)
    text = str(value)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split())


def parse_price(value) -> float:
    """A price as a float: numbers pass, "$25.00" -> 25.0, a range "$10.00 - $20.00" -> 10.0 (its lower bound,
    what the cheapest variant costs), anything else (empty, HTML, text) -> NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) and value >= 0 else math.nan
    if not isinstance(value, str):
        return math.nan
    match = _PRICE.fullmatch(value)
    return float(match.group(1).replace(",", "")) if match else math.nan


_NO_PRICE = {"", "n/a", "na", "nan", "null", "none", "-", "#n/a"}


def missing_price(value) -> bool:
    """True if no price was given: None, NaN, blank text or a usual "not available" marker ("n/a", "null", ...)."""
    if isinstance(value, str):
        return value.strip().lower() in _NO_PRICE
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_bad_price(value, price: float) -> bool:
    """True if a price ``value`` was given (see :func:`missing_price`) but its parse ``price`` is missing."""
    return math.isnan(price) and not missing_price(value)


def show_value(value) -> str:
    """A value for a warning: text quoted, numbers plain (``'abc'``, ``-2``), at most 60 characters."""
    return (repr(value) if isinstance(value, str) else str(value))[:60]


def category_path(record: dict) -> str:
    """The category path joined by " > ": the first of the 2014 ``categories`` paths, or the 2018 ``category`` list.

    Consecutive repeated levels are collapsed (2018 gift cards list ["Gift Cards", "Gift Cards"]).
    """
    cats = record.get("categories")
    if isinstance(cats, list) and cats:
        path = cats[0] if isinstance(cats[0], list) else cats
    else:
        path = record.get("category")
    if not isinstance(path, list):
        return clean_text(path)
    levels: list[str] = []
    for level in path:
        text = clean_text(level)
        if text and (not levels or levels[-1] != text):
            levels.append(text)
    return " > ".join(levels)


def _parse_line(text: str):
    """A record from one line: strict JSON first (fast), Python literal second (2014 files). None if neither."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _related_lists(record: dict, spec) -> list[list]:
    related = record.get("related")
    out = []
    for parent, key in spec:
        holder = related if parent else record
        lst = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(lst, list) and lst:
            out.append(lst)
    return out


class _Collector:
    """Python lists filled record by record, turned into DataFrames once at the end (no per-record pandas)."""

    def __init__(self) -> None:
        self.products = {k: [] for k in ("product_id", "title", "description", "category", "brand", "price")}
        self.edges = {kind: {"src": [], "dst": [], "weight": [], "line": []} for kind in ("copurchase", "coview")}
        self.lines: dict[str, tuple[str, int]] = {}  # asin -> (path, line) of its first record
        self.file = 0  # index of the file being read: edges keep their place (file, line)

    def add(self, asin: str, record: dict, line: int, price: float) -> None:
        p = self.products
        p["product_id"].append(asin)
        p["title"].append(clean_text(record.get("title")))
        p["description"].append(clean_text(record.get("description")))
        p["category"].append(category_path(record))
        p["brand"].append(clean_text(record.get("brand")))
        p["price"].append(price)
        for kind, spec in (("copurchase", COPURCHASE_LISTS), ("coview", COVIEW_LISTS)):
            e = self.edges[kind]
            for lst in _related_lists(record, spec):
                n = len(lst)
                weights = _WEIGHTS[:n] if n <= len(_WEIGHTS) else position_weights(n)
                e["src"].extend([asin] * n)
                e["dst"].extend(str(v) for v in lst)
                e["weight"].extend(weights)
                e["line"].extend([place(line, self.file)] * n)

    def frames(self, paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        products = pd.DataFrame(self.products)
        products["price"] = products["price"].astype(np.float64)
        edges = []
        for kind in ("copurchase", "coview"):
            e = self.edges[kind]
            edges.append(unplace(pd.DataFrame({"src": pd.Series(e["src"], dtype=object),
                                               "dst": pd.Series(e["dst"], dtype=object),
                                               "weight": np.asarray(e["weight"], np.float32),
                                               "line": np.asarray(e["line"], np.int64)}), paths))
        return products, edges[0], edges[1]


def _read_file(path: Path, out: _Collector, skipped: SkipReport) -> int:
    """Parse one file into ``out``; returns the number of records kept from it."""
    text = blank_deep_lines(read_utf8(path, skipped, expected=EXPECTED), path, skipped).decode("utf-8")
    kept = 0
    # split("\n"), not splitlines(): the latter also splits on \x85 and \u2028 inside strings and shifts line numbers.
    for number, line_text in enumerate(text.split("\n"), start=1):
        if not line_text.strip():
            continue
        record = _parse_line(line_text)
        if record is None:
            skipped.add("malformed lines (neither JSON nor a Python literal)", path, number, example=line_text[:60])
            continue
        if not isinstance(record, dict):
            skipped.add("lines that are not an object", path, number, example=line_text[:60])
            continue
        asin = str(record.get("asin") or "").strip()
        if not asin:
            skipped.add("records without an asin", path, number, example=line_text[:60])
            continue
        if asin in out.lines:
            first_path, first_line = out.lines[asin]
            skipped.add("duplicate asin (kept the first record)", path, number,
                        example=f"{asin!r}, first at {first_path} line {first_line}")
            continue
        out.lines[asin] = (str(path), number)
        price = parse_price(record.get("price"))
        if is_bad_price(record.get("price"), price):
            skipped.add(BAD_PRICE, path, number, example=show_value(record.get("price")))
        out.add(asin, record, number, price)
        kept += 1
    return kept


def read_amazon(paths: Sequence[str | Path]) -> RawData:
    """Read Amazon metadata files (2014 or 2018 lines, gzip or plain) into products and directed edges.

    A record whose asin was already seen (in this or an earlier file) is skipped. Malformed lines, invalid UTF-8
    and a truncated gzip tail are counted in ``skipped``; a missing file, an empty file or a file without one
    usable record raises :class:`InputError`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise InputError("no Amazon metadata file given", hint="pass at least one meta_*.json(.gz) file")
    out, skipped, inputs = _Collector(), SkipReport(), []
    for index, raw_path in enumerate(paths):
        path, out.file = Path(raw_path), index
        file_skips = SkipReport()
        if _read_file(path, out, file_skips) == 0:
            reasons = "; ".join(file_skips.lines()) or "no records"
            raise InputError(f"no usable record ({reasons})", path=path, hint=f"expected {EXPECTED}")
        skipped.merge(file_skips)
        inputs.append(path)
    products, copurchase, coview = out.frames(inputs)
    return RawData(products=products, copurchase=copurchase, coview=coview, skipped=skipped, inputs=inputs)
