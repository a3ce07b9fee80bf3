"""Amazon metadata reader: known answers on the two public files and on hand-written 2014 / 2018 lines."""

from __future__ import annotations

import gzip
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from dualgnn.graph import build_graph
from dualgnn.sources.amazon import category_path, clean_text, parse_price, read_amazon


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def in_catalog_pairs(edges, catalog) -> set[tuple[str, str]]:
    """Distinct directed (src, dst) pairs with both ends in the catalog, self-loops excluded."""
    keep = edges["src"].isin(catalog) & edges["dst"].isin(catalog) & (edges["src"] != edges["dst"])
    return set(zip(edges["src"][keep], edges["dst"][keep]))


def test_digital_music_figures(music_path):  # fixtures in conftest.py skip when ../shared/datasets is absent
    start = time.perf_counter()
    raw = read_amazon([music_path])
    assert time.perf_counter() - start < 10
    assert len(raw.products) == 7419
    assert raw.skipped.total == 0
    graph, _ = build_graph(raw)
    assert len(graph.copurchase) == 45741
    # The README's 4,611 counts distinct directed (owner, listed) co-view pairs. The graph stores co-view
    # symmetrically: 4,055 unordered pairs (some pairs are listed from both ends), i.e. 8,110 directed rows.
    catalog = set(raw.products["product_id"])
    assert len(in_catalog_pairs(raw.coview, catalog)) == 4611
    assert len(graph.coview) == 2 * 4055
    assert len(in_catalog_pairs(raw.copurchase, catalog)) == 45741
    first = raw.products.iloc[0]
    assert first["product_id"] == "5555991584" and first["title"] == "Memory of Trees"
    assert first["category"] == "CDs & Vinyl > New Age > Celtic New Age" and first["price"] == pytest.approx(9.49)


def test_gift_cards_figures(gift_cards_path):
    raw = read_amazon([gift_cards_path])
    assert len(raw.products) == 1547 and raw.products["product_id"].is_unique
    catalog = set(raw.products["product_id"])
    assert len(in_catalog_pairs(raw.copurchase, catalog)) == 5993
    assert len(in_catalog_pairs(raw.coview, catalog)) == 6675
    # Prices: 23% are strings like "$25.00"; the rest empty or HTML junk, which must become NaN, not a number.
    assert raw.products["price"].notna().mean() == pytest.approx(0.23, abs=0.01)
    assert (raw.products["category"].str.split(" > ").str[0] == "Gift Cards").mean() > 0.99
    assert not raw.products["description"].str.contains("<").any()


def test_2014_python_literal_and_2018_json_in_one_file(tmp_path):
    lines = [
        "{'asin': 'PHONE', 'title': 'Phone', 'price': 199.0, 'categories': [['Electronics', 'Phones'], ['Sale']],"
        " 'related': {'also_bought': ['CASE', 'CHARGER'], 'bought_together': ['CASE'], 'also_viewed': ['PHONE2']}}",
        json.dumps({"asin": "CASE", "title": "Case", "price": "$9.99", "category": ["Electronics", "Cases"],
                    "description": ["<b>Tough</b> case", "fits Phone"], "brand": "Acme",
                    "also_buy": ["SCREEN"], "also_view": ["CASE2", "CASE3"]}),
    ]
    raw = read_amazon([write(tmp_path / "meta.json", lines)])
    products = raw.products.set_index("product_id")
    assert products.loc["PHONE", "category"] == "Electronics > Phones"
    assert products.loc["CASE", "category"] == "Electronics > Cases"
    assert products.loc["CASE", "description"] == "Tough case fits Phone"
    assert products.loc["CASE", "price"] == pytest.approx(9.99) and products.loc["CASE", "brand"] == "Acme"
    cp = raw.copurchase
    # Direction owner -> listed; the pair listed twice (also_bought and bought_together) keeps both rows.
    assert list(zip(cp["src"], cp["dst"])) == [("PHONE", "CASE"), ("PHONE", "CHARGER"), ("PHONE", "CASE"),
                                               ("CASE", "SCREEN")]
    assert cp["weight"].tolist() == pytest.approx([1.0, 1 / math.log2(3), 1.0, 1.0])
    assert cp["line"].tolist() == [1, 1, 1, 2]
    assert raw.coview[raw.coview["src"] == "CASE"]["weight"].tolist() == pytest.approx([1.0, 1 / math.log2(3)])
    assert cp["weight"].dtype == np.float32


def test_gzip_is_detected_by_content_not_name(tmp_path):
    line = json.dumps({"asin": "A1", "title": "x", "also_buy": ["A2"]})
    gz_named_plain = write(tmp_path / "meta.json", [line], gz=True)
    plain_named_gz = write(tmp_path / "meta2.json.gz", [line.replace("A1", "B1")])
    raw = read_amazon([gz_named_plain, plain_named_gz])
    assert raw.products["product_id"].tolist() == ["A1", "B1"]


def test_duplicate_asin_across_files_keeps_first(tmp_path):
    a = write(tmp_path / "a.json", [json.dumps({"asin": "X", "title": "first"})])
    b = write(tmp_path / "b.json", [json.dumps({"asin": "Y"}), json.dumps({"asin": "X", "title": "second"})])
    raw = read_amazon([a, b])
    assert raw.products.set_index("product_id").loc["X", "title"] == "first"
    assert any("duplicate asin" in line and "b.json, line 2" in line for line in raw.skipped.lines())


@pytest.mark.parametrize("value, expected", [
    ("$25.00", 25.0), ("$1,250.00", 1250.0), ("$10.00 - $20.00", 10.0), (12.5, 12.5), ("7", 7.0),
    ("", math.nan), ("\n\t\t  <span class='a'>$5</span>", math.nan), ("free", math.nan), (None, math.nan),
    (-3.0, math.nan), (float("inf"), math.nan),
    # a comma only separates thousands: a decimal comma is no price (counted as such), never a hundred times it
    ("12,99", math.nan), ("1,2345", math.nan), ("1,234,567.50", 1234567.5),
])
def test_parse_price(value, expected):
    got = parse_price(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_clean_text_and_category_path():
    assert clean_text("<p>Fast &amp; <i>cheap</i></p>\n\n") == "Fast & cheap"
    assert clean_text(["a", None, "b"]) == "a b"
    assert category_path({"category": ["Gift Cards", "Gift Cards", "</span>", "Cards"]}) == "Gift Cards > Cards"
    assert category_path({"categories": [["Music", "Rock"], ["Music", "Pop"]]}) == "Music > Rock"
    assert category_path({}) == ""
