"""Bad input through the id-file readers and the real `dualgnn` command: exit 1 (or a warning), no traceback,
the file named."""

from __future__ import annotations

import gzip
import json

import pytest

from dualgnn.errors import InputError, SkipReport
from dualgnn.serving.load import read_id_file, read_in_stock, recommender_for
from tests.test_cli import dualgnn
from tests.test_recommend import planted, write_artifacts, write_model


@pytest.fixture
def served(tmp_path):
    """Artifacts and a model directory of the planted graph, for `dualgnn recommend`."""
    from dualgnn.artifacts import graph_fingerprint

    graph, s, t = planted()
    art = write_artifacts(tmp_path, graph)
    return art, write_model(tmp_path / "model", s, t, graph_fingerprint(graph))


# --- item 5: --in-stock and --products-file are read like the tables --------------------------------------------

def test_id_file_gzip_latin1_and_blank_lines(tmp_path):
    path = tmp_path / "stock.txt"  # gzip detected by content, not by the name
    path.write_bytes(gzip.compress(b"p0\n\n  c0  \r\nCaf\xe9\n# comment\n"))
    skipped = SkipReport()
    ids, lines = read_id_file(path, skipped)
    assert ids == ["p0", "c0", "Caf\ufffd"] and lines == [1, 3, 4]
    assert f"lines with invalid UTF-8 (bytes replaced): 1 (first at {path}, line 4" in "\n".join(skipped.lines())


def test_id_file_empty_is_a_clear_error(tmp_path):
    path = tmp_path / "stock.txt"
    path.write_bytes(b"\n  \n")
    with pytest.raises(InputError, match="empty") as err:
        read_id_file(path)
    assert err.value.path == str(path) and "one product id per line" in str(err.value)


def test_in_stock_reports_what_was_repaired(tmp_path):
    graph, s, t = planted()
    path = tmp_path / "stock.txt"
    path.write_bytes(b"c0\nc\xe91\n")
    skipped = SkipReport()
    ids, unknown = read_in_stock(recommender_for(graph, s, t), path, skipped)
    assert unknown == 1 and graph.ids.decode(ids).tolist() == ["c0"] and skipped.total == 1


@pytest.mark.parametrize("option", ["--in-stock", "--products-file"])
def test_cli_latin1_and_gzip_id_files(served, tmp_path, option):
    art, model = served
    latin1 = tmp_path / "ids.txt"
    latin1.write_bytes(b"p0\nc\xe90\n")
    proc = dualgnn("recommend", art, "--model", model, option, latin1, *(["--product", "p0"] * (option == "--in-stock")),
                   check=False)
    assert "Traceback" not in proc.stderr
    if option == "--in-stock":  # unknown stock ids are a warning; the repaired bytes are one too
        assert proc.returncode == 0, proc.stderr
        assert f"{latin1}, line 2" in proc.stdout and "invalid UTF-8" in proc.stdout
    else:  # an unknown query id is an error naming the file and the line
        assert proc.returncode == 1 and f"{latin1}, line 2" in proc.stderr
    zipped = tmp_path / "ids.txt.gz"
    zipped.write_bytes(gzip.compress(b"p0\n"))
    proc = dualgnn("recommend", art, "--model", model, option, zipped, "--product", "p0", "-k", "1", check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    proc = dualgnn("recommend", art, "--model", model, option, empty, "--product", "p0", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{empty}: the file is empty" in proc.stderr


# --- item 6: a deeply nested line is a counted warning, not a RecursionError (nor a crash in pyarrow) -----------

def test_cli_build_graph_skips_deeply_nested_lines(tmp_path):
    records = [{"asin": a, "title": f"title {a}", "also_buy": [b]} for a, b in (("A", "B"), ("B", "C"), ("C", "A"))]
    meta = tmp_path / "meta.json"
    meta.write_text("\n".join([json.dumps(records[0]), "[" * 1000 + "]" * 1000, *map(json.dumps, records[1:])]))
    proc = dualgnn("build-graph", "--amazon", meta, "--encoder", "hashing", "--quiet", "--out", tmp_path / "a",
                   check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"lines nested more than 100 levels deep: 1 (first at {meta}, line 2" in proc.stdout

    # 50,000 levels: pyarrow's JSON reader would crash the process
    products, proc = build_from_json_lines(tmp_path, '{"product_id": "A"}\n{"product_id": "B"}\n'
                                           '{"product_id": "X", "title": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    assert proc.returncode == 0, proc.stderr
    assert f"(first at {products}, line 3" in proc.stdout
    products, proc = build_from_json_lines(tmp_path, "[" * 1000 + "]" * 1000 + "\n")
    assert proc.returncode == 1 and f"{products}: every line is nested more than 100 levels deep" in proc.stderr


def build_from_json_lines(tmp_path, products_text: str):
    """``dualgnn build-graph`` on a JSON-lines products file and a small co-purchase table: (file, process)."""
    products = tmp_path / "products.jsonl"
    products.write_text(products_text)
    copurchase = tmp_path / "cp.csv"
    copurchase.write_text("src,dst\nA,B\nB,A\n")
    proc = dualgnn("build-graph", "--products", products, "--copurchase", copurchase, "--encoder", "hashing",
                   "--quiet", "--out", tmp_path / "t", check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return products, proc


# --- other reader paths that crashed -----------------------------------------------------------------------------

def test_cli_json_lines_starting_with_null_do_not_crash(tmp_path):
    # pyarrow's JSON reader segfaults when the first line is null
    products, proc = build_from_json_lines(tmp_path, 'null\n{"product_id": "A"}\n{"product_id": "B"}\n')
    assert proc.returncode == 0, proc.stderr
    assert f"malformed JSON lines: 1 (first at {products}, line 1" in proc.stdout
