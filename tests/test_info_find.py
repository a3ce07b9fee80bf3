"""`dualgnn info` reads like a summary; `dualgnn find` gives the ids `recommend --product` takes."""

from __future__ import annotations

from tests.test_reliability import PLAIN, run, world  # noqa: F401  (world: the module fixture)


def test_info_on_a_graph_summarises_counts_and_inputs(world, capsys):  # noqa: F811
    code, out = run(capsys, "info", world / "graph")
    text = " ".join(out.split())
    assert code == 0 and "a dualgnn graph artifact" in text and "co-purchase edges │ 200" in text
    assert "products.csv" in text and "{" not in text


def test_info_on_a_model_says_what_it_learnt_from(world, capsys):  # noqa: F811
    code, out = run(capsys, "info", world / "model")
    text = " ".join(out.split())
    assert code == 0 and "shipping: learnt from every edge but a validation slice" in text
    assert "co-purchase edges learnt from │ 190" in text and "edges the served vectors use │ 200" in text
    code, out = run(capsys, "info", world / "model", "--json")
    assert code == 0 and '"purpose": "production"' in out


def test_find_matches_every_word_of_the_title_and_prints_data_as_written(world, capsys):  # noqa: F811
    code, out = run(capsys, "find", world / "graph", "bonus past")
    assert code == 0 and "P0000" in out and PLAIN in " ".join(out.split())
    code, out = run(capsys, "find", world / "graph", "case 3")
    assert code == 0 and out.count("P00") == 5  # the five cases of brand 3
    code, out = run(capsys, "find", world / "graph", "no such words")
    assert code == 0 and "no product title contains" in out
