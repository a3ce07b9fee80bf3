"""Event-log aggregation: planted logs with known co-purchase / co-view answers."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dualgnn.sources.events import EventSettings, parse_timestamps, read_events

DAY = 86400
T0 = 1_700_000_000


def write_events(tmp_path: Path, rows: list[tuple], columns=("customer_id", "product_id", "event", "timestamp"),
                 name: str = "events.csv") -> Path:
    path = tmp_path / name
    df = pd.DataFrame(rows, columns=list(columns))
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_csv(path, index=False)
    return path


def edges(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(s, d): float(w) for s, d, w in zip(frame["src"], frame["dst"], frame["weight"])}


def phone_then_case(n_customers: int, gap: float = DAY) -> list[tuple]:
    return [row for c in range(n_customers)
            for row in ((f"c{c}", "phone", "purchase", T0 + c), (f"c{c}", "case", "purchase", T0 + c + gap))]


@pytest.mark.parametrize("name", ["events.csv", "events.jsonl", "events.parquet"])
def test_phone_then_case_is_one_way(tmp_path, name):
    raw = read_events([write_events(tmp_path, phone_then_case(5), name=name)], EventSettings())
    assert edges(raw.copurchase) == {("phone", "case"): 5.0}
    assert sorted(raw.products["product_id"]) == ["case", "phone"]
    assert raw.skipped.total == 0


def test_min_support_and_window(tmp_path):
    rows = phone_then_case(3)
    rows += [("solo", "tv", "purchase", T0), ("solo", "cable", "purchase", T0 + 60)]  # one customer only
    for c in range(4):
        rows += [(f"late{c}", "tv", "purchase", T0), (f"late{c}", "mount", "purchase", T0 + 31 * DAY)]
    path = write_events(tmp_path, rows)
    default = edges(read_events([path], EventSettings()).copurchase)
    assert default == {("phone", "case"): 3.0}  # tv->cable below support, tv->mount outside the 30-day window
    loose = edges(read_events([path], EventSettings(min_support=1, window=40 * DAY)).copurchase)
    assert loose == {("phone", "case"): 3.0, ("tv", "cable"): 1.0, ("tv", "mount"): 4.0}


def test_same_time_basket_counts_both_ways_at_half_weight(tmp_path):
    rows = [(f"c{c}", p, "purchase", T0) for c in range(4) for p in ("bread", "butter")]
    path = write_events(tmp_path, rows)
    assert edges(read_events([path]).copurchase) == {("bread", "butter"): 2.0, ("butter", "bread"): 2.0}
    assert len(read_events([path], EventSettings(same_time_weight=0.0)).copurchase) == 0


def test_repeat_purchase_does_not_reverse_the_pair(tmp_path):
    rows = [(f"c{c}", p, "purchase", T0 + k * 60) for c in range(3) for k, p in enumerate(["razor", "blades", "razor"])]
    raw = read_events([write_events(tmp_path, rows)])
    assert edges(raw.copurchase) == {("razor", "blades"): 3.0}


def test_cart_counts_only_when_asked(tmp_path):
    rows = [row for c in range(2) for row in ((f"c{c}", "a", "Purchase", T0), (f"c{c}", "b", " CART ", T0 + 60))]
    path = write_events(tmp_path, rows)
    assert len(read_events([path]).copurchase) == 0
    assert edges(read_events([path], EventSettings(include_cart_as_purchase=True)).copurchase) == {("a", "b"): 2.0}


def test_coview_from_explicit_sessions(tmp_path):
    rows = [("u1", "s1", "x", "view", T0), ("u1", "s1", "y", "view", T0 + 5), ("u1", "s1", "x", "view", T0 + 9),
            ("u2", "s2", "x", "view", T0), ("u2", "s2", "y", "view", T0 + 5),
            ("u3", "s3", "x", "view", T0), ("u3", "s4", "z", "view", T0 + 5)]  # x, z in different sessions
    path = write_events(tmp_path, rows, columns=("customer_id", "session_id", "product_id", "event", "timestamp"))
    raw = read_events([path])
    assert edges(raw.coview) == {("x", "y"): 2.0}
    assert raw.coview["line"].tolist() == [3]  # the first event completing the pair: y in session s1


def test_coview_sessionised_by_30_minute_gap(tmp_path):
    rows = []
    for c in range(2):
        rows += [(f"c{c}", "x", "view", T0), (f"c{c}", "y", "view", T0 + 25 * 60),  # same session
                 (f"c{c}", "z", "view", T0 + 25 * 60 + 31 * 60)]                      # new session after 31 min
    raw = read_events([write_events(tmp_path, rows)])
    assert edges(raw.coview) == {("x", "y"): 2.0}
    assert len(read_events([write_events(tmp_path, rows)], EventSettings(session_gap=3600)).coview) == 3


def test_sessions_only_log_groups_purchases_by_session(tmp_path):
    rows = [(f"s{c}", p, "purchase", T0 + k) for c in range(2) for k, p in enumerate(["a", "b"])]
    path = write_events(tmp_path, rows, columns=("session_id", "product_id", "event", "timestamp"))
    assert edges(read_events([path]).copurchase) == {("a", "b"): 2.0}


def test_max_lookahead_bounds_a_heavy_user(tmp_path):
    rows = [("bot", f"p{i:03d}", "purchase", T0 + i) for i in range(100)]
    raw = read_events([write_events(tmp_path, rows)], EventSettings(min_support=1, max_lookahead=3))
    pairs = edges(raw.copurchase)
    assert len(pairs) == 97 + 98 + 99  # each purchase meets at most the next three
    assert ("p000", "p003") in pairs and ("p000", "p004") not in pairs


def test_catalog_from_products_file(tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("product_id,title\nphone,Phone\ncase,Case\ncharger,Charger\n")
    raw = read_events([write_events(tmp_path, phone_then_case(2))], EventSettings(), products=products)
    assert raw.products["product_id"].tolist() == ["phone", "case", "charger"]
    assert raw.products["title"].tolist() == ["Phone", "Case", "Charger"]


def test_parse_timestamps_formats():
    values = pd.Series(["1700000000", "1700000000000", "2023-11-14T22:13:20Z", "2023-11-15T00:13:20+02:00",
                        "2023-11-14 22:13:20", "yesterday", None], dtype=object)
    got = parse_timestamps(values)
    assert got[:5].tolist() == [1_700_000_000.0] * 5
    assert np.isnan(got[5:]).all()


def test_settings_are_validated():
    for bad in ({"window": 0}, {"min_support": 0}, {"coview_min_support": 1.5}, {"max_lookahead": True},
                {"session_gap": -1}, {"same_time_weight": 2}, {"include_cart_as_purchase": "yes"}):
        with pytest.raises(ValueError):
            EventSettings(**bad)
    with pytest.raises(TypeError):
        EventSettings(3600)  # keyword-only


def test_200k_events_aggregate_quickly(tmp_path):
    rng = np.random.default_rng(0)
    n = 200_000
    df = pd.DataFrame({"customer_id": rng.integers(0, 20_000, n).astype(str),
                       "product_id": (rng.zipf(1.3, n) % 5_000).astype(str),
                       "event": rng.choice(["view", "cart", "purchase"], n, p=[0.7, 0.1, 0.2]),
                       "timestamp": T0 + rng.integers(0, 60 * DAY, n)})
    path = tmp_path / "events.csv"
    df.to_csv(path, index=False)
    start = time.perf_counter()
    raw = read_events([path])
    assert time.perf_counter() - start < 10
    assert len(raw.copurchase) > 0 and len(raw.coview) > 0 and (raw.copurchase["weight"] >= 2).all()
