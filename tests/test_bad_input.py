"""Damaged and wrong input: every reader either repairs and counts (naming file and line) or raises InputError."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dualgnn.errors import InputError
from dualgnn.graph import build_graph
from dualgnn.sources.amazon import read_amazon
from dualgnn.sources.events import read_events
from dualgnn.sources.tables import read_products, read_table, read_tables


def amazon_line(asin: str, *also_buy: str) -> str:
    return json.dumps({"asin": asin, "title": f"title {asin}", "also_buy": list(also_buy)})


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def report(skipped) -> str:
    return "\n".join(skipped.lines())


# --- missing files, empty files, wrong formats: InputError naming the file ------------------------------------

@pytest.mark.parametrize("read", [
    lambda p: read_amazon([p]),
    lambda p: read_tables(p),
    lambda p: read_products(p),
    lambda p: read_table(p),
    lambda p: read_events([p]),
])
def test_missing_file(tmp_path, read):
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="file not found") as err:
        read(path)
    assert err.value.path == str(path) and err.value.hint


def test_missing_edge_file(tmp_path):
    products = write_bytes(tmp_path / "p.csv", b"product_id\nA\n")
    with pytest.raises(InputError, match="file not found") as err:
        read_tables(products, copurchase=tmp_path / "cp.csv")
    assert err.value.path == str(tmp_path / "cp.csv")


@pytest.mark.parametrize("name, data, read", [
    ("meta.json", b"", lambda p: read_amazon([p])),
    ("meta.json.gz", gzip.compress(b"\n\n"), lambda p: read_amazon([p])),
    ("products.csv", b"", read_products),
    ("events.jsonl", b"  \n", lambda p: read_events([p])),
])
def test_empty_file(tmp_path, name, data, read):
    path = write_bytes(tmp_path / name, data)
    with pytest.raises(InputError, match="empty") as err:
        read(path)
    assert str(path) in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize("name, data, read, what", [
    ("products.csv", b"product_id,title\n", read_products, "no product rows"),
    ("events.csv", b"customer_id,product_id,event,timestamp\n", lambda p: read_events([p]), "no events"),
    ("meta.json", b"not json\n[1, 2]\n{'title': 'no asin'}\n", lambda p: read_amazon([p]), "no usable record"),
])
def test_no_usable_rows(tmp_path, name, data, read, what):
    path = write_bytes(tmp_path / name, data)
    with pytest.raises(InputError, match=what) as err:
        read(path)
    assert str(path) in str(err.value)


def test_unknown_extension_and_corrupt_parquet(tmp_path):
    with pytest.raises(InputError, match="unknown table format"):
        read_table(write_bytes(tmp_path / "products.xlsx", b"x"))
    with pytest.raises(InputError, match="Parquet") as err:
        read_table(write_bytes(tmp_path / "products.parquet", b"PAR1 this is not parquet"))
    assert str(tmp_path / "products.parquet") in str(err.value)


def test_gzip_magic_but_garbage(tmp_path):
    path = write_bytes(tmp_path / "meta.json.gz", b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(InputError, match="gzip") as err:
        read_amazon([path])
    assert err.value.path == str(path)


# --- missing columns: InputError naming the file, the missing and the found columns --------------------------

@pytest.mark.parametrize("read, header, missing", [
    (read_products, b"id,title\nA,x\n", "product_id"),
    (lambda p: read_tables(Path(p).with_name("ok.csv"), copurchase=p), b"src,target\nA,B\n", "dst"),
    (lambda p: read_events([p]), b"customer_id,product_id,event\nc,A,view\n", "timestamp"),
    (lambda p: read_events([p]), b"product_id,event,timestamp\nA,view,1\n", "customer_id"),
])
def test_missing_column(tmp_path, read, header, missing):
    write_bytes(tmp_path / "ok.csv", b"product_id\nA\nB\n")
    path = write_bytes(tmp_path / "table.csv", header)
    with pytest.raises(InputError, match=f"missing required column '{missing}'") as err:
        read(path)
    assert err.value.path == str(path) and "found:" in str(err.value)


def test_wrong_delimiter_gets_a_hint(tmp_path):
    path = write_bytes(tmp_path / "products.csv", b"product_id;title\nA;x\n")
    with pytest.raises(InputError, match="delimiter"):
        read_products(path)


# --- malformed lines: skipped, counted with file and line --------------------------------------------------

def test_malformed_amazon_lines(tmp_path):
    lines = [amazon_line("A"), "{'asin': 'B', oops", "[1, 2]", json.dumps({"title": "no asin"}), amazon_line("C")]
    path = write_bytes(tmp_path / "meta.json", "\n".join(lines).encode())
    raw = read_amazon([path])
    assert raw.products["product_id"].tolist() == ["A", "C"]
    text = report(raw.skipped)
    assert f"malformed lines (neither JSON nor a Python literal): 1 (first at {path}, line 2" in text
    assert f"{path}, line 3" in text and f"{path}, line 4" in text


def test_malformed_csv_row(tmp_path):
    path = write_bytes(tmp_path / "cp.csv", b"src,dst,weight\nA,B,1\nA,B,C,D\nB,C,2\n")
    products = write_bytes(tmp_path / "p.csv", b"product_id\nA\nB\nC\n")
    raw = read_tables(products, copurchase=path)
    assert raw.copurchase["line"].tolist() == [2, 4]
    assert f"malformed rows (wrong number of fields): 1 (first at {path}, line 3" in report(raw.skipped)


def test_malformed_json_line_in_events(tmp_path):
    good = [json.dumps({"customer_id": c, "product_id": p, "event": "purchase", "timestamp": t})
            for c in ("c1", "c2") for p, t in (("a", 1), ("b", 2))]
    path = write_bytes(tmp_path / "events.jsonl", "\n".join(good[:2] + ['{"customer_id": "c3",'] + good[2:]).encode())
    raw = read_events([path])
    assert len(raw.copurchase) == 1
    assert f"malformed JSON lines: 1 (first at {path}, line 3" in report(raw.skipped)


def test_bad_event_values_are_counted(tmp_path):
    path = write_bytes(tmp_path / "events.csv", b"customer_id,product_id,event,timestamp\n"
                                                b"c1,a,view,1\nc1,a,wishlist,2\nc1,a,view,never\nc1,,view,3\n")
    raw = read_events([path])
    text = report(raw.skipped)
    assert f"unknown type (expected view, cart or purchase): 1 (first at {path}, line 3: 'wishlist')" in text
    assert f"unparseable timestamp: 1 (first at {path}, line 4: 'never')" in text
    assert f"without a product_id: 1 (first at {path}, line 5" in text


def test_non_numeric_weight(tmp_path):
    products = write_bytes(tmp_path / "p.csv", b"product_id\nA\nB\n")
    path = write_bytes(tmp_path / "cp.csv", b"src,dst,weight\nA,B,1.5\nB,A,heavy\n")
    raw = read_tables(products, copurchase=path)
    assert raw.copurchase["weight"].tolist() == [1.5]
    assert f"non-numeric weight: 1 (first at {path}, line 3: 'heavy')" in report(raw.skipped)


# --- duplicates ------------------------------------------------------------------------------------------

def test_duplicate_product_id(tmp_path):
    path = write_bytes(tmp_path / "p.csv", b"product_id,title\nA,first\nB,b\nA,second\nA,third\n")
    products, skipped = read_products(path)
    assert products["title"].tolist() == ["first", "b"]
    assert f"duplicate product ids (kept the first row): 2 (first at {path}, line 4: 'A', first at line 2)" \
        in report(skipped)


def test_duplicate_asin(tmp_path):
    path = write_bytes(tmp_path / "meta.json", "\n".join([amazon_line("A", "B"), amazon_line("A", "C")]).encode())
    raw = read_amazon([path])
    assert len(raw.products) == 1 and raw.copurchase["dst"].tolist() == ["B"]
    assert f"duplicate asin (kept the first record): 1 (first at {path}, line 2" in report(raw.skipped)


# --- damaged bytes: repaired or cut, counted ---------------------------------------------------------------

def test_non_utf8_amazon_line_is_kept_and_counted(tmp_path):
    data = (amazon_line("A") + "\n").encode() + b'{"asin": "B", "title": "Caf\xe9"}\n' + amazon_line("C").encode()
    raw = read_amazon([write_bytes(tmp_path / "meta.json", data)])
    assert raw.products["title"].tolist() == ["title A", "Caf\ufffd", "title C"]
    assert f"lines with invalid UTF-8 (bytes replaced): 1 (first at {tmp_path / 'meta.json'}, line 2" \
        in report(raw.skipped)


def test_non_utf8_csv_is_repaired(tmp_path):
    path = write_bytes(tmp_path / "p.csv", b"product_id,title\nA,ok\nB,Gr\xfc\xdfe\nC,\xff\n")
    products, skipped = read_products(path)
    assert products["product_id"].tolist() == ["A", "B", "C"]
    assert f"lines with invalid UTF-8 (bytes replaced): 2 (first at {path}, line 3" in report(skipped)


@pytest.mark.parametrize("reader", ["amazon", "csv"])
def test_truncated_gzip_keeps_complete_records(tmp_path, reader):
    if reader == "amazon":
        text = "\n".join(amazon_line(f"P{i:04d}", f"P{i + 1:04d}") for i in range(3000)) + "\n"
        path = tmp_path / "meta.json.gz"
    else:
        text = "product_id,title\n" + "".join(f"P{i:04d},title number {i}\n" for i in range(3000))
        path = tmp_path / "products.csv.gz"
    full = gzip.compress(text.encode(), compresslevel=1)
    write_bytes(path, full[: len(full) * 2 // 3])
    if reader == "amazon":
        raw = read_amazon([path])
        products, skipped = raw.products, raw.skipped
    else:
        products, skipped = read_products(path)
    kept = len(products)
    assert 0 < kept < 3000
    assert products["product_id"].iloc[-1] == f"P{kept - 1:04d}"  # complete records, in order, none half-read
    last_line = kept + (1 if reader == "csv" else 0)
    assert f"gzip stream truncated: records after line {last_line:,} lost: 1 (first at {path}, line {last_line + 1}" \
        in report(skipped)


# --- unknown ids in edges: the graph builder reports the file and line -----------------------------------

def test_unknown_id_in_edge_table_is_reported_by_the_graph_builder(tmp_path):
    products = write_bytes(tmp_path / "p.csv", b"product_id\nA\nB\n")
    path = write_bytes(tmp_path / "cp.csv", b"src,dst\nA,B\nA,ZZZ\nB,A\n")
    raw = read_tables(products, copurchase=path)
    graph, skipped = build_graph(raw, edge_paths={"copurchase": str(path)})
    assert len(graph.copurchase) == 2
    assert f"copurchase edges with an end not in the catalog: 1 (first at {path}, line 3: 'ZZZ')" in report(skipped)


def test_unknown_id_in_amazon_lists_points_at_the_owner_line(tmp_path):
    path = write_bytes(tmp_path / "meta.json", "\n".join([amazon_line("A", "B"), amazon_line("B", "X")]).encode())
    graph, skipped = build_graph(read_amazon([path]), edge_paths={"copurchase": str(path)})
    assert f"(first at {path}, line 2: 'X')" in report(skipped)
