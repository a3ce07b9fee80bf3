"""Raw event logs -> :class:`RawData`: co-purchase from purchase order, co-view from shared sessions.

Input: CSV/TSV/Parquet/JSON-lines tables (see :func:`~dualgnn.sources.tables.read_table`) with ``product_id``,
``event`` (view / cart / purchase, any case; other values are counted and skipped), ``timestamp`` (epoch seconds,
ISO 8601, or a Parquet/JSON timestamp; numbers above 1e11 are read as epoch milliseconds) and ``customer_id``
and/or ``session_id``.

Co-purchase ``u -> v``: one customer bought ``v`` after ``u``, at most ``window`` seconds later. ``weight`` is the
number of distinct customers doing so; pairs below ``min_support`` are dropped. Purchases with the *same*
timestamp (one basket) have no order: each such pair counts in both directions with ``same_time_weight`` (0.5 by
default; 0 ignores baskets). Only a customer's first purchase of each product counts (a repeat purchase would
turn "razor, blades, razor" into blades -> razor), so a customer supports a pair at most once. Without
``customer_id``, the session is the customer.

Co-view ``u ~ v``: both viewed in one session; ``weight`` = number of sessions, kept from
``coview_min_support``. Sessions are ``session_id`` (per customer when both are given); rows without one are cut
into sessions at ``session_gap`` seconds (30 min) of inactivity per customer. Only ``view`` events count.

Cost: pairs come from sorted arrays shifted by ``k = 1..max_lookahead`` (each purchase or view meets at most the
next ``max_lookahead`` ones of the same customer or session), so work is O(events x max_lookahead) instead of
quadratic in a heavy user's history. Edge ``line`` and ``path`` locate the event that completes the pair (the
first one, in file order).
Without a ``products`` file the catalog is every product id seen in valid events, with no metadata.

>>> raw = read_events(["events.csv"], EventSettings(window=7 * 86400))     # doctest: +SKIP
>>> raw.copurchase.columns.tolist()                                        # doctest: +SKIP
['src', 'dst', 'weight', 'line', 'path']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dualgnn.errors import InputError, SettingsError, SkipReport
from dualgnn.sources.base import RawData, place, unplace
from dualgnn.sources.tables import drop_compound_ids, drop_rows, id_strings, read_products, read_table, require_columns

EVENT_CODES = {"view": 0, "cart": 1, "purchase": 2}
VIEW, CART, PURCHASE = 0, 1, 2


@dataclass(frozen=True, kw_only=True)
class EventSettings:
    """How events become edges (see the module docstring). Times in seconds."""

    window: float = 30 * 86400.0
    min_support: int = 2
    coview_min_support: int = 2
    max_lookahead: int = 20
    session_gap: float = 1800.0
    same_time_weight: float = 0.5
    include_cart_as_purchase: bool = False

    def __post_init__(self) -> None:
        for name in ("window", "session_gap"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")):
                raise SettingsError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("min_support", "coview_min_support", "max_lookahead"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise SettingsError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.same_time_weight, (int, float)) and 0 <= self.same_time_weight <= 1):
            raise SettingsError(f"same_time_weight must be in [0, 1], got {self.same_time_weight!r}")
        if not isinstance(self.include_cart_as_purchase, bool):
            raise SettingsError(f"include_cart_as_purchase must be True or False, got {self.include_cart_as_purchase!r}")


def parse_timestamps(values: pd.Series) -> np.ndarray:
    """Seconds since the epoch (UTC), float64, NaN where unparseable. Naive ISO times are taken as UTC."""
    epoch = pd.Timestamp(0, tz="UTC")
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        return ((stamps - epoch) / pd.Timedelta(1, "s")).to_numpy(np.float64, na_value=np.nan)
    try:  # a clean numeric column: one pyarrow cast (pd.to_numeric on 1 M strings takes a second)
        seconds = pc.cast(pa.array(values, from_pandas=True), pa.float64()).to_numpy(zero_copy_only=False)
        seconds = np.array(seconds, dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        stamps = pd.to_datetime(values.astype(str), utc=True, errors="coerce", format="ISO8601")
        seconds = ((stamps - epoch) / pd.Timedelta(1, "s")).to_numpy(np.float64, na_value=np.nan, copy=True)
        rest = np.isnan(seconds) & values.notna().to_numpy()
        if rest.any():  # a mixed column: epoch numbers among ISO strings
            seconds[rest] = pd.to_numeric(values[rest], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    seconds[~np.isfinite(seconds)] = np.nan
    return np.where(seconds > 1e11, seconds / 1000.0, seconds)  # 1e11 s is the year 5138: these are ms


def event_codes(values: pd.Series) -> np.ndarray:
    """``EVENT_CODES`` of each value (case and surrounding spaces ignored), -1 for anything else."""
    try:
        codes, uniques = pd.factorize(values)  # a handful of distinct values: normalise those, not 1 M strings
    except TypeError:  # lists or dicts from JSON lines: unhashable, and no event type anyway
        codes, uniques = pd.factorize(values.map(lambda v: v if isinstance(v, str) else repr(v)))
    table = np.array([EVENT_CODES.get(str(u).strip().lower(), -1) for u in uniques] + [-1], np.int64)
    return table[codes]  # code -1 (missing) picks the trailing -1


def _load(path: Path, skipped: SkipReport) -> pd.DataFrame:
    """One event file -> valid rows: ``who``, ``session``, ``product`` (str), ``kind`` (0-2), ``time``, ``line``."""
    df = read_table(path, skipped=skipped)
    hint = "an event log needs customer_id and/or session_id, product_id, event (view/cart/purchase), timestamp"
    require_columns(df, path, ("product_id", "event", "timestamp"), hint)
    if "customer_id" not in df and "session_id" not in df:
        require_columns(df, path, ("customer_id",), hint)
    if len(df) == 0:
        raise InputError("no events", path=path, hint=hint)
    df = drop_compound_ids(df, ("customer_id", "session_id", "product_id"), path, skipped)
    blank = pd.Series("", index=df.index, dtype=object)
    customer = id_strings(df["customer_id"]) if "customer_id" in df else blank
    session = id_strings(df["session_id"]) if "session_id" in df else blank
    # Purchases are grouped by customer; a log with sessions only treats the session as the customer.
    who = customer.where(customer != "", "session:" + session)
    out = pd.DataFrame({"who": who.where(who != "session:", ""), "session": session,
                        "product": id_strings(df["product_id"]),
                        "kind": event_codes(df["event"]),
                        "time": parse_timestamps(df["timestamp"]), "line": df["line"]})
    raw_event = df["event"]
    out = drop_rows(out, out["kind"] < 0, "events of an unknown type (expected view, cart or purchase)", path,
                    skipped, example=lambda r: repr(raw_event[r.name]))
    out = drop_rows(out, out["product"] == "", "events without a product_id", path, skipped)
    out = drop_rows(out, out["who"] == "", "events without a customer_id or session_id", path, skipped)
    raw_time = df["timestamp"]
    out = drop_rows(out, out["time"].isna(), "events with an unparseable timestamp", path, skipped,
                    example=lambda r: repr(raw_time[r.name]))
    return out.astype({"kind": np.int8})


def shifted_pairs(group: np.ndarray, time: np.ndarray, window: float, max_lookahead: int):
    """Yield index arrays ``(i, j)``, ``j = i + k`` for ``k = 1..max_lookahead``: same group, ``time[j] - time[i]
    <= window``. Rows must be sorted by (group, time); then no pair at shift ``k`` means none at ``k + 1``."""
    for k in range(1, min(max_lookahead, len(group) - 1) + 1):
        near = (group[k:] == group[:-k]) & (time[k:] - time[:-k] <= window)
        if not near.any():
            return
        i = np.flatnonzero(near)
        yield i, i + k


def group_time_order(group: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Permutation sorting rows by (group, time), ties in input (file) order. Shape ``(n,)``.

    One int64 key ``group * n + rank(time)``: a single-key sort, faster than ``np.lexsort`` on the two columns.
    """
    n = len(group)
    rank = np.empty(n, np.int64)
    rank[np.argsort(time, kind="stable")] = np.arange(n)
    return np.argsort(group.astype(np.int64) * n + rank)  # keys are unique, so the unstable sort is exact


def _first_per(group: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Mask of the first row of each (group, item) in the current order (hash-based, no sort)."""
    return ~pd.Series(group.astype(np.int64) * np.int64(item.max(initial=0) + 1) + item).duplicated().to_numpy()


def _copurchase(ev: pd.DataFrame, products: np.ndarray, s: EventSettings) -> pd.DataFrame:
    kinds = [PURCHASE, CART] if s.include_cart_as_purchase else [PURCHASE]
    p = ev[ev["kind"].isin(kinds)]
    who, item, time, line = pd.factorize(p["who"])[0], p["item"].to_numpy(), p["time"].to_numpy(), p["line"].to_numpy()
    order = group_time_order(who, time)
    who, item, time, line = who[order], item[order], time[order], line[order]
    # Only each customer's first purchase of a product counts: a repeat purchase (u, v, then u again) would
    # otherwise add v -> u, and one customer could support a pair twice. It also keeps look-ahead slots useful.
    first = _first_per(who, item)
    who, item, time, line = who[first], item[first], time[first], line[first]
    parts = []
    for i, j in shifted_pairs(who, time, s.window, s.max_lookahead):
        later = time[j] > time[i]
        parts.append((item[i[later]], item[j[later]], np.ones(later.sum()), line[j[later]]))
        if s.same_time_weight > 0:  # one basket: no order, so both directions at reduced weight
            bi, bj = i[~later], j[~later]
            w = np.full(len(bi), float(s.same_time_weight))
            parts.append((item[bi], item[bj], w, line[bj]))
            parts.append((item[bj], item[bi], w, line[bj]))
    return _aggregate(parts, products, s.min_support)


def _sessions(who: np.ndarray, session: pd.Series, time: np.ndarray, gap: float) -> np.ndarray:
    """Session code per view: (customer, session_id) where a session_id is given, else cut at inactivity gaps."""
    codes = pd.factorize(session)[0].astype(np.int64)
    has_id = (session != "").to_numpy()
    out = pd.factorize(who.astype(np.int64) * np.int64(codes.max(initial=0) + 1) + codes)[0].astype(np.int64)
    if has_id.all():
        return out
    rows = np.flatnonzero(~has_id)
    order = rows[group_time_order(who[rows], time[rows])]
    new = np.ones(len(order), bool)
    new[1:] = (who[order][1:] != who[order][:-1]) | (np.diff(time[order]) > gap)
    out[order] = out.max(initial=0) + np.cumsum(new)  # after every explicit code
    return out


def _coview(ev: pd.DataFrame, products: np.ndarray, s: EventSettings) -> pd.DataFrame:
    v = ev[ev["kind"] == VIEW]
    item, time, line = v["item"].to_numpy(), v["time"].to_numpy(), v["line"].to_numpy()
    session = _sessions(pd.factorize(v["who"])[0], v["session"], time, s.session_gap)
    order = group_time_order(session, time)
    session, item, line = session[order], item[order], line[order]
    # Each product once per session (its first view), so a pair is counted once per session.
    first = _first_per(session, item)
    session, item, line = session[first], item[first], line[first]
    parts = []
    for i, j in shifted_pairs(session, np.zeros(len(session)), np.inf, s.max_lookahead):
        lo, hi = np.minimum(item[i], item[j]), np.maximum(item[i], item[j])
        parts.append((lo, hi, np.ones(len(i)), line[j]))
    return _aggregate(parts, products, s.coview_min_support)


def _aggregate(parts, products: np.ndarray, min_support: float) -> pd.DataFrame:
    """Candidate (u, v, weight, line) arrays -> one row per (u, v) with summed weight >= min_support.

    Each customer (session) yields a pair at most once, so the sum counts customers (sessions). Hash-based
    (pd.factorize + bincount), no sort of the candidates.
    """
    if not parts:
        return _edge_frame(np.zeros(0, object), np.zeros(0, object), np.zeros(0), np.zeros(0, np.int64))
    u, v, w, line = (np.concatenate([p[n] for p in parts]) for n in range(4))
    n = np.int64(len(products))
    pair, pair_keys = pd.factorize(u.astype(np.int64) * n + v)
    weight = np.bincount(pair, weights=w, minlength=len(pair_keys))
    first_line = np.full(len(pair_keys), np.iinfo(np.int64).max)
    np.minimum.at(first_line, pair, line)
    keep = np.flatnonzero(weight >= min_support)
    keep = keep[np.argsort(first_line[keep], kind="stable")]
    return _edge_frame(products[pair_keys[keep] // n], products[pair_keys[keep] % n], weight[keep], first_line[keep])


def _edge_frame(src, dst, weight, line) -> pd.DataFrame:
    return pd.DataFrame({"src": pd.Series(src, dtype=object), "dst": pd.Series(dst, dtype=object),
                         "weight": np.asarray(weight, np.float32), "line": np.asarray(line, np.int64)})


def read_events(paths: Sequence[str | Path], settings: EventSettings = EventSettings(),
                products: str | Path | None = None) -> RawData:
    """Aggregate event logs into co-purchase and co-view edges (see the module docstring for the rules).

    ``products``, if given, is the catalog (any :func:`~dualgnn.sources.tables.read_products` format); events of
    products outside it stay in the edges and the graph builder counts them.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise InputError("no event file given", hint="pass at least one events file (CSV, TSV, Parquet or JSON lines)")
    skipped = SkipReport()
    frames = [_load(Path(p), skipped) for p in paths]
    ev = pd.concat([f.assign(line=place(f["line"].to_numpy(np.int64), i)) for i, f in enumerate(frames)],
                   ignore_index=True)
    if len(ev) == 0:
        names = ", ".join(map(str, paths))
        raise InputError("no usable event" + (f" in {names}" if len(paths) > 1 else ""),
                         path=paths[0] if len(paths) == 1 else None, hint="; ".join(skipped.lines()))
    codes, ids = pd.factorize(ev["product"])
    ev["item"] = codes.astype(np.int64)
    ids = np.asarray(ids, dtype=object)
    if products is not None:
        catalog, product_skips = read_products(products)
        skipped.merge(product_skips)
    else:
        catalog = pd.DataFrame({"product_id": ids})
    inputs = [Path(p) for p in paths] + ([Path(products)] if products is not None else [])
    return RawData(products=catalog, copurchase=unplace(_copurchase(ev, ids, settings), paths),
                   coview=unplace(_coview(ev, ids, settings), paths), skipped=skipped, inputs=inputs)
