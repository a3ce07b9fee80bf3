"""Generic tables reader: every format gives the same products and edges, ids stay strings, lines are right."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dualgnn.graph import build_graph
from dualgnn.sources.tables import read_products, read_table, read_tables

PRODUCTS = pd.DataFrame({
    "product_id": ["007", "P2", "P3"],
    "title": ["Phone", "Case", "Charger"],
    "category": ["Electronics > Phones", "Electronics > Cases", ""],
    "brand": ["Acme", "", "Volt"],
    "price": ["199.5", "$9.99", "n/a"],
})
COPURCHASE = pd.DataFrame({"src": ["007", "007", "P3"], "dst": ["P2", "P3", "P2"], "weight": ["3", "", "0.5"]})


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` in the format named by ``path``'s extension (".gz" compresses)."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
        return path
    if name.endswith((".jsonl", ".ndjson", ".json")):
        text = "".join(json.dumps(r) + "\n" for r in df.to_dict("records"))
    else:
        text = df.to_csv(index=False, sep="\t" if name.endswith(".tsv") else ",")
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".csv.gz", ".jsonl", ".ndjson.gz", ".json", ".parquet"])
def test_every_format_reads_the_same(tmp_path, ext):
    raw = read_tables(write_table(PRODUCTS, tmp_path / f"products{ext}"),
                      copurchase=write_table(COPURCHASE, tmp_path / f"copurchase{ext}"))
    products = raw.products.set_index("product_id")
    assert products.index.tolist() == ["007", "P2", "P3"]  # "007" is not the number 7
    assert products.loc["007", "category"] == "Electronics > Phones"
    assert products.loc["007", "price"] == 199.5 and products.loc["P2", "price"] == pytest.approx(9.99)
    assert np.isnan(products.loc["P3", "price"])
    cp = raw.copurchase
    assert list(zip(cp["src"], cp["dst"])) == [("007", "P2"), ("007", "P3"), ("P3", "P2")]
    assert cp["weight"].tolist() == [3.0, 1.0, 0.5]  # an empty weight cell means the default 1.0
    first_line = 2 if ext.startswith((".csv", ".tsv")) else 1  # the CSV header is line 1
    assert cp["line"].tolist() == [first_line, first_line + 1, first_line + 2]
    assert len(raw.coview) == 0 and raw.skipped.total == 0


def test_graph_from_tables_keeps_direction(tmp_path):
    raw = read_tables(write_table(PRODUCTS, tmp_path / "p.csv"), copurchase=write_table(COPURCHASE, tmp_path / "c.csv"),
                      coview=write_table(pd.DataFrame({"src": ["P2"], "dst": ["P3"]}), tmp_path / "v.csv"))
    graph, skipped = build_graph(raw)
    pairs = set(zip(graph.ids.decode(graph.copurchase.src), graph.ids.decode(graph.copurchase.dst)))
    assert ("007", "P2") in pairs and ("P2", "007") not in pairs
    assert len(graph.coview) == 2 and skipped.total == 0


def test_line_numbers_are_physical_lines(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("src,dst\n\nA,B\nA,B,C\n\r\nC,D\n")  # a blank line, a bad row, a CRLF blank line
    table = read_table(path)
    assert table["line"].tolist() == [3, 6]
    assert table["src"].tolist() == ["A", "C"]


def test_column_names_are_case_insensitive_and_list_categories_join(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({" Product_ID ": 7, "Category": ["Music", "Rock"], "Title": "x"}) + "\n")
    products, _ = read_products(path)
    assert products.to_dict("records") == [{"product_id": "7", "title": "x", "category": "Music > Rock"}]


def test_read_products_delegates_amazon_metadata(tmp_path):
    path = tmp_path / "new_products.json.gz"
    path.write_bytes(gzip.compress(b"{'asin': 'B01', 'title': 'New', 'related': {'also_bought': ['B02']}}\n"))
    products, _ = read_products(path)
    assert products["product_id"].tolist() == ["B01"] and products["title"].tolist() == ["New"]
