"""Generic tables -> :class:`RawData`: a products table and optional copurchase / coview edge tables.

Formats, chosen by extension (a trailing ``.gz`` is allowed; gzip itself is detected by magic bytes):
``.csv``, ``.tsv``, ``.parquet``, ``.jsonl`` / ``.ndjson`` / ``.json`` (JSON lines). Column names are matched
case-insensitively. Ids are always strings ("007" stays "007").

* products: ``product_id`` plus any of ``title``, ``description``, ``category`` (a path joined by " > ", or a
  list of levels), ``brand``, ``price`` (a number; "$25.00" is understood; anything else becomes NaN).
* copurchase / coview: ``src``, ``dst``, optional ``weight`` (default 1.0; empty cells too).

Every row keeps ``line``, its 1-based line in the file: CSV/TSV data row ``i`` (0-based) is line ``i + 2`` when
nothing is skipped and no value spans lines (the header is line 1; otherwise the physical line where the row
starts); JSON line ``i`` is line ``i + 1``; Parquet row ``i`` is "line" ``i + 1``.

>>> raw = read_tables("products.csv", copurchase="bought_after.csv")   # doctest: +SKIP
>>> raw.copurchase.columns.tolist()                                    # doctest: +SKIP
['src', 'dst', 'weight', 'line']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.errors import InputError, SkipReport
from dualgnn.sources._csv import parse_csv
from dualgnn.sources._open import check_file, parse_jsonl, peek_text, read_utf8
from dualgnn.sources.amazon import BAD_PRICE, missing_price, parse_price, read_amazon, show_value
from dualgnn.sources.base import METADATA_COLUMNS, RawData, empty_edges

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
SUPPORTED = ".csv, .tsv, .parquet, .jsonl, .ndjson or .json (JSON lines), each but Parquet optionally .gz"


def table_format(path: Path) -> str:
    """``csv``, ``tsv``, ``parquet`` or ``jsonl`` from the file name (a final ``.gz`` is ignored)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputError("unknown table format", path=path, hint=f"name the file {SUPPORTED}")
    return fmt


def read_table(path: str | Path, *, skipped: SkipReport | None = None) -> pd.DataFrame:
    """Read a table as it is, plus an int64 ``line`` column (an input column named ``line`` is replaced).

    CSV/TSV columns are all str; JSON lines and Parquet keep their types. Malformed rows, invalid UTF-8 and a
    truncated gzip tail are counted in ``skipped``. Shape: ``(rows, columns + 1)``.
    """
    path = check_file(path)
    skipped = SkipReport() if skipped is None else skipped
    fmt = table_format(path)
    if fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file; all mean "unreadable"
            raise InputError(f"cannot read as Parquet: {exc}", path=path, hint="is the file complete?") from None
        df["line"] = np.arange(1, len(df) + 1, dtype=np.int64)
        return _lower_columns(df, path)
    data = read_utf8(path, skipped, expected=f"a {fmt.upper()} table")
    if fmt == "jsonl":
        df = parse_jsonl(data, path, skipped)
    else:
        df = parse_csv(data, path, "\t" if fmt == "tsv" else ",", skipped)
    return _lower_columns(df, path)


def _lower_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Column names stripped and lower-cased (the parser's ``line`` column wins over an input one)."""
    line = df.pop("line")
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "line" in df.columns:
        df = df.drop(columns="line")
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise InputError(f"column {dup!r} appears twice (names are compared ignoring case)", path=path,
                         hint="rename or drop one of them")
    df["line"] = line.to_numpy(np.int64)
    return df


def require_columns(df: pd.DataFrame, path: Path, required: tuple[str, ...], hint: str) -> None:
    """Raise :class:`InputError` naming the file, the missing and the found columns."""
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return
    found = [c[:40] for c in df.columns if c != "line"]
    if len(found) == 1 and any(d in found[0] for d in (";", "\t", "|")):
        hint += "; the header was read as one column: is the delimiter right (.csv = comma, .tsv = tab)?"
    shown = ", ".join(found[:20]) + (", ..." if len(found) > 20 else "")
    raise InputError(f"missing required column {', '.join(map(repr, missing))} (found: {shown or 'none'})",
                     path=path, hint=hint)


def id_strings(values: pd.Series) -> pd.Series:
    """Ids as stripped str, "" where missing. Integral floats (a JSON int column with gaps) lose their ".0"."""
    if pd.api.types.is_string_dtype(values) and values.dtype != object:  # CSV columns: already str
        return values.fillna("").str.strip()
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and (finite % 1 == 0).all():
            values = values.astype("Int64")
    out = values.astype(object).where(values.notna(), "")
    return out.astype(str).str.strip()


def drop_compound_ids(df: pd.DataFrame, columns: tuple[str, ...], path: Path, skipped: SkipReport) -> pd.DataFrame:
    """``df`` without the rows whose id in one of ``columns`` is a list, an object or a boolean (JSON lines,
    Parquet), counted: made into text they would be ids like ``['a']`` that name no product."""
    def compound(v) -> bool:
        return isinstance(v, (list, tuple, dict, np.ndarray, bool, np.bool_))

    present = [c for c in columns if c in df]
    bad = pd.Series(False, index=df.index)
    for col in (c for c in present if df[c].dtype == object):
        bad |= df[col].map(compound)
    if not bad.any():
        return df
    return drop_rows(df, bad, f"rows whose {' or '.join(present)} is a list, an object or a boolean, not a string "
                     "or number", path, skipped,
                     example=lambda r: show_value(next(r[c] for c in present if compound(r[c]))))


def _text(values: pd.Series, joiner: str) -> pd.Series:
    """Text column: lists (JSON / Parquet) joined with ``joiner``, missing -> ""."""
    if values.dtype == object:
        values = values.map(lambda v: joiner.join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    return values.astype(object).where(values.notna(), "").astype(str)


def _price(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Prices as float (NaN missing) and the mask of given prices that are not a non-negative number."""
    number = pd.to_numeric(values, errors="coerce").astype(np.float64)
    leftover = number.isna() & values.notna()
    if leftover.any():  # "$25.00", "$10 - $20": the Amazon rules
        number[leftover] = values[leftover].map(lambda v: parse_price(str(v)))
    number = number.where(np.isfinite(number) & (number >= 0))  # -3, inf: not a price
    bad = number.isna()
    if bad.any():
        bad[bad] = ~values[bad].map(missing_price).astype(bool)
    return number, bad


def count_rows(df: pd.DataFrame, mask: pd.Series, reason: str, path: Path, skipped: SkipReport, example=None) -> None:
    """Count rows where ``mask`` with the line of the first (``example(row)`` describes it)."""
    if mask.any():
        first = df.loc[mask].iloc[0]
        skipped.add(reason, path, int(first["line"]), int(mask.sum()), example=example(first) if example else None)


def drop_rows(df: pd.DataFrame, mask: pd.Series, reason: str, path: Path, skipped: SkipReport,
              example=None) -> pd.DataFrame:
    """Drop rows where ``mask``, counting them with the line of the first (``example(row)`` describes it)."""
    count_rows(df, mask, reason, path, skipped, example)
    return df.loc[~mask]


def read_products(path: str | Path) -> tuple[pd.DataFrame, SkipReport]:
    """A products table (any :func:`read_table` format, or Amazon metadata) -> (products, what was skipped).

    Amazon metadata (records with an ``asin``) is handed to :func:`~dualgnn.sources.amazon.read_amazon` and its
    related-product lists are ignored. Duplicate ids keep the first row.
    """
    path = check_file(path)
    if looks_like_amazon(path):
        raw = read_amazon([path])
        return raw.products, raw.skipped
    skipped = SkipReport()
    df = read_table(path, skipped=skipped)
    require_columns(df, path, ("product_id",),
                    hint="a products table needs product_id plus any of " + ", ".join(METADATA_COLUMNS))
    if len(df) == 0:
        raise InputError("no product rows", path=path, hint="expected a header line and one row per product")
    df = drop_compound_ids(df, ("product_id",), path, skipped)
    df = df.assign(product_id=id_strings(df["product_id"]))
    df = drop_rows(df, df["product_id"] == "", "products without a product_id", path, skipped)
    first_line = df.drop_duplicates("product_id").set_index("product_id")["line"]
    df = drop_rows(df, df["product_id"].duplicated(), "duplicate product ids (kept the first row)", path, skipped,
                   example=lambda r: f"{r['product_id']!r}, first at line {first_line[r['product_id']]}")
    if len(df) == 0:
        raise InputError("no usable product row", path=path, hint="; ".join(skipped.lines()))
    out = pd.DataFrame({"product_id": df["product_id"].to_numpy()})
    for col in METADATA_COLUMNS:
        if col == "price" and col in df:
            price, bad = _price(df[col])
            count_rows(df, bad, BAD_PRICE, path, skipped, example=lambda r: show_value(r["price"]))
            out[col] = price.to_numpy()
        elif col in df:
            out[col] = _text(df[col], " > " if col == "category" else " ").to_numpy()
    return out, skipped


def looks_like_amazon(path: Path) -> bool:
    """True if the first non-blank line is an object with an ``asin`` key and no ``product_id`` (not for Parquet)."""
    if _format_or_none(path) == "parquet":
        return False
    head = peek_text(path, 1 << 20).lstrip()  # 2018 records put asin last, after long text
    first = head.split("\n", 1)[0]
    return first.startswith("{") and ("'asin'" in first or '"asin"' in first) and "product_id" not in first


def _format_or_none(path: Path) -> str | None:
    """Like :func:`table_format` but None for an unknown extension (sniffing must not raise)."""
    try:
        return table_format(path)
    except InputError:
        return None


def read_edges(path: str | Path, kind: str, skipped: SkipReport) -> pd.DataFrame:
    """An edge table -> columns ``src``, ``dst`` (str), ``weight`` (float32), ``line`` (int64)."""
    path = check_file(path)
    df = read_table(path, skipped=skipped)
    require_columns(df, path, ("src", "dst"),
                    hint=f"a {kind} table needs src and dst (product ids) and may have weight")
    if len(df) == 0:
        raise InputError(f"no {kind} rows", path=path, hint="expected a header line and one row per edge")
    df = drop_compound_ids(df, ("src", "dst"), path, skipped)
    df = df.assign(src=id_strings(df["src"]), dst=id_strings(df["dst"]))
    df = drop_rows(df, (df["src"] == "") | (df["dst"] == ""), f"{kind} rows with an empty src or dst", path, skipped)
    if "weight" in df:
        raw = df["weight"].astype(object)
        blank = raw.isna() | (raw.astype(str).str.strip() == "")
        weight = pd.to_numeric(raw.where(~blank, 1.0), errors="coerce")
        df = df.assign(weight=weight)
        df = drop_rows(df, weight.isna(), f"{kind} rows with a non-numeric weight", path, skipped,
                       example=lambda r: repr(raw[r.name]))
    else:
        df = df.assign(weight=1.0)
    if len(df) == 0:
        raise InputError(f"no usable {kind} row", path=path, hint="; ".join(skipped.lines()))
    return pd.DataFrame({"src": df["src"].to_numpy(object), "dst": df["dst"].to_numpy(object),
                         "weight": df["weight"].to_numpy(np.float32), "line": df["line"].to_numpy(np.int64)})


def read_tables(products: str | Path, copurchase: str | Path | None = None,
                coview: str | Path | None = None) -> RawData:
    """Products plus optional edge tables -> :class:`RawData` (a missing edge table gives no edges of that kind)."""
    catalog, skipped = read_products(products)
    inputs = [Path(products)]
    edges = {}
    for kind, path in (("copurchase", copurchase), ("coview", coview)):
        if path is None:
            edges[kind] = empty_edges().assign(line=np.zeros(0, np.int64))
        else:
            edges[kind] = read_edges(path, kind, skipped)
            inputs.append(Path(path))
    return RawData(products=catalog, copurchase=edges["copurchase"], coview=edges["coview"], skipped=skipped,
                   inputs=inputs)
