"""Hostile lines are skipped and counted where they are: deep nesting, huge weights, broken quotes, bad prices."""

from __future__ import annotations

import json

import pytest

from dualgnn.errors import InputError, SkipReport
from dualgnn.sources.amazon import read_amazon
from dualgnn.sources.events import read_events
from dualgnn.sources.tables import read_products, read_table
from tests.test_bad_input import amazon_line, report, write_bytes

DEEP_ARRAY = "[" * 1000 + "]" * 1000


def deep(kind: str, depth: int = 1000) -> str:
    """A JSON value nested ``depth`` levels deep: dicts or lists."""
    return ('{"a": ' * depth + "1" + "}" * depth) if kind == "dict" else ("[" * depth + "1" + "]" * depth)


# --- item 6: deep nesting is a malformed line, not a RecursionError -------------------------------------------

@pytest.mark.parametrize("bad", [
    DEEP_ARRAY,
    '{"asin": "B", "title": "x", "details": ' + deep("dict") + "}",
    '{"asin": "B", "title": ' + deep("list", 400) + "}",  # parses, but too deep to clean
    "{'asin': 'B', 'title': 'x', 'details': " + "{'a': " * 1000 + "1" + "}" * 1000 + "}",  # Python-literal path
    "{'asin': 'B', 'title': " + "[" * 150 + "'x'" + "]" * 150 + "}",
])
def test_deeply_nested_amazon_line_is_skipped_and_counted(tmp_path, bad):
    path = write_bytes(tmp_path / "meta.json", "\n".join([amazon_line("A", "C"), bad, amazon_line("C")]).encode())
    raw = read_amazon([path])
    assert raw.products["product_id"].tolist() == ["A", "C"]
    assert f"{path}, line 2" in report(raw.skipped) and raw.skipped.total == 1


@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("every_line", [False, True])  # True: the vectorised reader accepts the whole file
def test_deeply_nested_json_line_in_a_table_is_skipped_and_counted(tmp_path, kind, every_line):
    first = {"product_id": "A", "title": "t"}
    lines = [json.dumps(first), '{"product_id": "B", "title": ' + deep(kind) + "}", json.dumps({"product_id": "C"})]
    if every_line:
        lines[0] = '{"product_id": "A", "title": ' + deep(kind) + "}"
    path = write_bytes(tmp_path / "products.jsonl", "\n".join(lines).encode())
    products, skipped = read_products(path)
    assert products["product_id"].tolist() == (["C"] if every_line else ["A", "C"])
    assert f"{path}, line {1 if every_line else 2}" in report(skipped)
    assert skipped.total == 1 + every_line


def test_top_level_deep_array_in_a_table_and_in_events(tmp_path):
    table = write_bytes(tmp_path / "t.jsonl", ('{"product_id": "A"}\n' + DEEP_ARRAY + "\n").encode())
    skipped_report = SkipReport()
    assert read_table(table, skipped=skipped_report)["product_id"].tolist() == ["A"]
    assert f"{table}, line 2" in report(skipped_report)
    good = [json.dumps({"customer_id": c, "product_id": p, "event": "purchase", "timestamp": t})
            for c in ("c1", "c2") for p, t in (("a", 1), ("b", 2))]
    events = write_bytes(tmp_path / "events.jsonl", "\n".join(good[:2] + [DEEP_ARRAY] + good[2:]).encode())
    raw = read_events([events])
    assert len(raw.copurchase) == 1 and f"{events}, line 3" in report(raw.skipped)


def test_only_deep_lines_is_an_input_error(tmp_path):
    path = write_bytes(tmp_path / "products.jsonl", (DEEP_ARRAY + "\n" + DEEP_ARRAY + "\n").encode())
    with pytest.raises(InputError, match="nested") as err:
        read_products(path)
    assert err.value.path == str(path)


# --- item 10: duplicates are checked after they are added up ----------------------------------------------------

@pytest.mark.parametrize("kind", ["copurchase", "coview"])
def test_duplicate_weights_that_overflow_are_capped_and_counted(tmp_path, kind):
    import numpy as np
    import torch

    from dualgnn.graph import build_graph
    from dualgnn.model.encoder import edge_norms
    from dualgnn.sources.tables import read_tables

    products = write_bytes(tmp_path / "p.csv", b"product_id\nA\nB\nC\n")
    edges = write_bytes(tmp_path / "e.csv", b"src,dst,weight\nA,C,1\nA,B,3e38\nB,C,2\nA,B,3e38\n")
    raw = read_tables(products, **{kind: edges, **({} if kind == "copurchase" else {"copurchase": edges})})
    graph, skipped = build_graph(raw, edge_paths={kind: str(edges)})
    merged = getattr(graph, kind)
    assert np.isfinite(merged.weight).all() and merged.weight.max() == np.finfo(np.float32).max
    assert f"{kind} edges whose duplicates add up to more than 3.4e+38 (capped): 1 (first at {edges}, line 3" \
        in report(skipped)
    norms = edge_norms(torch.from_numpy(merged.src), torch.from_numpy(merged.dst), torch.from_numpy(merged.weight),
                       graph.num_products)
    assert torch.isfinite(norms).all()


# --- item 11 (d): bad prices become missing, and are counted ----------------------------------------------------

def test_bad_prices_in_a_table_are_counted(tmp_path):
    import math

    path = write_bytes(tmp_path / "p.csv", b"product_id,price\nA,12.5\nB,abc\nC,-3\nD,inf\nE,\nF,$25.00\nG, N/A \n")
    products, skipped = read_products(path)
    assert [None if math.isnan(p) else p for p in products["price"]] == [12.5, None, None, None, None, 25.0, None]
    assert f"prices that are not a non-negative number (set to missing): 3 (first at {path}, line 3: 'abc')" \
        in report(skipped)
    path = write_bytes(tmp_path / "p.jsonl", b'{"product_id": "A", "price": 2}\n{"product_id": "B", "price": -2}\n')
    products, skipped = read_products(path)
    assert products["price"].isna().tolist() == [False, True]
    assert f"(set to missing): 1 (first at {path}, line 2: -2)" in report(skipped)


def test_bad_prices_in_amazon_metadata_are_counted(tmp_path):
    lines = [json.dumps({"asin": a, "price": p}) for a, p in (("A", "$3.00"), ("B", ""), ("C", ".a-box{color:red}"),
                                                                ("D", -1), ("E", 5))]
    lines.append('{"asin": "F", "price": 1e999}')  # JSON infinity
    lines.append("{'asin': 'G', 'price': '\\n\\t  '}")  # 2014 quoting, whitespace only: missing, not bad
    path = write_bytes(tmp_path / "meta.json", "\n".join(lines).encode())
    raw = read_amazon([path])
    assert raw.products["price"].notna().tolist() == [True, False, False, False, True, False, False]
    assert f"(set to missing): 3 (first at {path}, line 3: '.a-box{{color:red}}')" in report(raw.skipped)


# --- item 11 (c): with several input files, a warning names the one it is about --------------------------------

def purchases(*rows: tuple[str, str, int]) -> bytes:
    return b"customer_id,product_id,event,timestamp\n" + "".join(f"{c},{p},purchase,{t}\n" for c, p, t in rows).encode()


def test_two_event_files_warnings_name_the_file(tmp_path):
    from dualgnn.build import BuildInputs, read_inputs
    from dualgnn.graph import build_graph

    products = write_bytes(tmp_path / "products.csv", b"product_id\nx\ny\n")
    a = write_bytes(tmp_path / "a.csv", purchases(("c1", "x", 1), ("c1", "y", 2), ("c2", "x", 1), ("c2", "y", 2)))
    b = write_bytes(tmp_path / "b.csv", purchases(("c3", "y", 1), ("c4", "y", 1), ("c3", "GHOST", 2), ("c4", "GHOST", 3)))
    raw, edge_paths = read_inputs(BuildInputs(events=(a, b), products=products))
    graph, skipped = build_graph(raw, edge_paths=edge_paths)
    assert len(graph.copurchase) == 1  # x -> y; y -> GHOST leaves the catalog
    assert f"copurchase edges with an end not in the catalog: 1 (first at {b}, line 4: 'GHOST')" in report(skipped)


def test_two_amazon_files_warnings_name_the_file(tmp_path):
    from dualgnn.graph import build_graph

    a = write_bytes(tmp_path / "a.json", amazon_line("A", "B").encode())
    b = write_bytes(tmp_path / "b.json", "\n".join([amazon_line("B", "A"), amazon_line("C", "GHOST")]).encode())
    graph, skipped = build_graph(read_amazon([a, b]), edge_paths={"copurchase": f"{a}, {b}"})
    assert f"not in the catalog: 1 (first at {b}, line 2: 'GHOST')" in report(skipped)


def test_no_usable_event_in_two_files_names_both(tmp_path):
    bad = b"customer_id,product_id,event,timestamp\nc1,x,wishlist,1\n"
    a, b = write_bytes(tmp_path / "a.csv", bad), write_bytes(tmp_path / "b.csv", bad)
    with pytest.raises(InputError, match="no usable event") as err:
        read_events([a, b])
    assert str(a) in str(err.value) and str(b) in str(err.value)


# --- item 11 (a, b): CSV rows keep their physical line; an unterminated quote loses only its own row ------------

def rows(df) -> list[tuple]:
    return [tuple(r) for r in df.itertuples(index=False)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_lines_after_a_multi_line_value_are_physical(tmp_path, newline):
    text = 'id,title\n\nA,"two\n\nlines"\nB,x\n\nC,y,z\nD,"w\n"\nE,e\n'.replace("\n", newline)
    path = write_bytes(tmp_path / "t.csv", text.encode())
    skipped = SkipReport()
    df = read_table(path, skipped=skipped)
    assert df["id"].tolist() == ["A", "B", "D", "E"] and df["line"].tolist() == [3, 6, 9, 11]
    assert f"malformed rows (wrong number of fields): 1 (first at {path}, line 8: C,y,z)" in report(skipped)


@pytest.mark.parametrize("text, kept, broken_line", [
    # the quote runs to the end of the file: pyarrow drops everything after it as one bad row
    ('src,dst,w\nA,B,1\nA,"B,2\nB,C,3\n\nC,A,4\n', [("A", "B", "1", 2), ("B", "C", "3", 4), ("C", "A", "4", 6)], 3),
    # the quote closes at a later quoted field and the swallowed lines read as one good row with a long value
    ('src,dst,w\nA,"oops,1\nB,y,z\nC,"ok",3\nD,e,f\n', [("B", "y", "z", 3), ("C", "ok", "3", 4), ("D", "e", "f", 5)], 2),
    # two broken quotes: the lines after each are read again
    ('src,dst,w\nA,"x,1\nB,C,3\n"y,z,w\nE,F,6\n', [("B", "C", "3", 3), ("E", "F", "6", 5)], 2),
])
def test_csv_unterminated_quote_loses_only_its_row(tmp_path, text, kept, broken_line):
    path = write_bytes(tmp_path / "e.csv", text.encode())
    skipped = SkipReport()
    df = read_table(path, skipped=skipped)
    assert rows(df) == kept
    assert f"(first at {path}, line {broken_line}" in report(skipped)
    assert skipped.total == len([ln for ln in text.split("\n")[1:] if ln]) - len(kept)  # every unread line counted


# --- other reader paths that raised a traceback -------------------------------------------------------------------

def test_csv_with_carriage_return_line_ends(tmp_path):
    path = write_bytes(tmp_path / "p.csv", b"product_id,title\rA,x\rB,y,z\rC,w\r")
    skipped = SkipReport()
    df = read_table(path, skipped=skipped)
    assert rows(df) == [("A", "x", 2), ("C", "w", 4)]
    assert f"wrong number of fields): 1 (first at {path}, line 3" in report(skipped)


@pytest.mark.parametrize("text, kept, line", [
    # in the last row, without a final newline: pyarrow read two records where one line was counted
    (b"product_id,title\nA,phone\nB,ca\rse", [("A", "phone", 2), ("B", "ca se", 3)], 3),
    (b"product_id,title\r\nA,ph\rone\r\nB,x,y\r\nC,case\r\n", [("A", "ph one", 2), ("C", "case", 4)], 2),
])
def test_a_stray_carriage_return_is_a_space_and_the_lines_keep_their_numbers(tmp_path, text, kept, line):
    path = write_bytes(tmp_path / "p.csv", text)
    skipped = SkipReport()
    df = read_table(path, skipped=skipped)
    assert rows(df) == kept
    assert f"stray carriage return (replaced by a space): 1 (first at {path}, line {line}" in report(skipped)
    if b"x,y" in text:  # the rows after it keep their own line numbers
        assert f"wrong number of fields): 1 (first at {path}, line 3" in report(skipped)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                                  "product_id,title\nA,x\n".encode("utf-16")])
def test_a_binary_or_utf16_file_is_named_not_read_as_columns(tmp_path, data):
    path = write_bytes(tmp_path / "p.csv", data)
    with pytest.raises(InputError, match="not UTF-8 text: it holds NUL bytes") as info:
        read_table(path, skipped=SkipReport())
    assert str(path) in str(info.value) and "UTF-8" in info.value.hint


def test_event_values_that_are_lists_are_unknown_types(tmp_path):
    lines = [json.dumps({"customer_id": "c", "product_id": "a", "event": e, "timestamp": 1}) for e in (["view"], "view")]
    path = write_bytes(tmp_path / "events.jsonl", "\n".join(lines).encode())
    raw = read_events([path])
    assert f"unknown type (expected view, cart or purchase): 1 (first at {path}, line 1: ['view'])" in report(raw.skipped)


def test_unreadable_file_is_an_input_error(tmp_path, monkeypatch):
    import dualgnn.sources._open as opener

    path = write_bytes(tmp_path / "p.csv", b"product_id\nA\n")

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(opener, "open", denied, raising=False)  # tests run as root: simulate a chmod 000 file
    with pytest.raises(InputError, match="cannot read the file: Permission denied") as err:
        read_products(path)
    assert err.value.path == str(path)


# --- ids that are lists or objects (JSON lines) named no product: they became text like "['a']" -----------------

def _jsonl(path, records) -> str:
    return write_bytes(path, "\n".join(json.dumps(r) for r in records).encode())


def test_a_list_or_object_as_an_id_is_skipped_and_counted(tmp_path):
    from dualgnn.sources.tables import read_edges

    products = _jsonl(tmp_path / "p.jsonl", [{"product_id": ["a"], "title": "x"},
                                            {"product_id": "b", "title": "y"}, {"product_id": {"k": 1}},
                                            {"product_id": True}, {"product_id": 5}])
    df, skipped = read_products(products)
    assert df["product_id"].tolist() == ["b", "5"]
    assert f"product_id is a list, an object or a boolean, not a string or number: 3 (first at {products}, line 1: " \
           "['a'])" in report(skipped)
    edges = _jsonl(tmp_path / "e.jsonl", [{"src": "b", "dst": ["5"]}, {"src": "b", "dst": 5}])
    skipped = SkipReport()
    df = read_edges(edges, "copurchase", skipped)
    assert list(zip(df["src"], df["dst"])) == [("b", "5")]
    assert f"src or dst is a list, an object or a boolean, not a string or number: 1 (first at {edges}, line 1: " \
           "['5'])" in report(skipped)
    purchase = {"product_id": "b", "event": "purchase"}
    events = _jsonl(tmp_path / "ev.jsonl", [{"customer_id": ["c"], **purchase, "timestamp": 1},
                                            {"customer_id": "c", **purchase, "timestamp": 2}])
    raw = read_events([events])
    assert f"customer_id or product_id is a list, an object or a boolean, not a string or number: 1 (first at " \
           f"{events}, line 1" in report(raw.skipped)
