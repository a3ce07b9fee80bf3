"""End to end on a small planted shop with the baselines only (fast): protocols, split reuse, JSON/PNG, CLI."""

import json
import math

import numpy as np
import pytest

from dualgnn.evaluation.protocols import make_tasks, transitive_extension
from dualgnn.evaluation.report import render_tables, write_report
from dualgnn.evaluation.run import EvalReport, evaluate
from dualgnn.features.build import build_features
from dualgnn.features.settings import FeatureSettings
from dualgnn.graph import Edges, build_graph
from dualgnn.sources.base import RawData
from dualgnn.split import SplitSettings, load_or_make_split, make_split, split_path
from dualgnn.synth.catalog import SynthSettings, generate

BASELINES = ["popularity", "cooccurrence", "cooccurrence-rev", "text-knn", "pagerank", "rp3beta", "ease", "item-knn"]


@pytest.fixture(scope="module")
def shop():
    cat = generate(SynthSettings(n_products=400, seed=3))
    graph, _ = build_graph(RawData(cat.products, cat.copurchase, cat.coview))
    features = build_features(graph.products, FeatureSettings(encoder="hashing", dim=64, min_count=1), progress=False)
    return cat, graph, features


@pytest.fixture(scope="module")
def report(shop, tmp_path_factory):
    _, graph, features = shop
    return evaluate(graph, features, methods=BASELINES, split_dir=tmp_path_factory.mktemp("art"), progress=False)


def test_every_method_and_protocol_has_a_row(report):
    assert report.methods == BASELINES
    assert report.protocols == ["EQ1", "EQ3", "EQ3-balanced", "EQ5", "EQ4", "EQ4-to-cold"]
    for row in report.rows:
        for key, value in row.items():
            if key.startswith(("HR@", "MRR@", "coverage", "popbias", "direction")):
                assert 0.0 <= value <= 1.0, (row["method"], row["protocol"], key, value)
        if "HR@5" in row:
            assert row["HR@5"] <= row["HR@10"] <= row["HR@20"] and row["MRR@5"] <= row["MRR@10"] <= row["MRR@20"]
    # A new product (EQ4-to-cold) has no co-purchase in-edge: popularity ranks it below every bought product, and
    # only its text can find it.
    assert report.metrics("popularity", "EQ4-to-cold")["HR@10"] == 0.0
    assert report.metrics("text-knn", "EQ4-to-cold")["HR@10"] > 10 * max(
        report.metrics("cooccurrence", "EQ4-to-cold")["HR@10"], 0.01)


def test_planted_structure_is_found(report, shop):
    _, graph, _ = shop
    eq1 = {m: report.metrics(m, "EQ1") for m in BASELINES}
    assert eq1["cooccurrence"]["HR@10"] > eq1["popularity"]["HR@10"]
    assert report.metrics("text-knn", "EQ3")["direction_acc"] == pytest.approx(0.5)  # symmetric by construction
    # Popularity shows (nearly) one list to everyone; filtering training neighbours only lets a few more through.
    assert report.metrics("popularity", "EQ1")["coverage@10"] < 0.1 < report.metrics("text-knn", "EQ1")["coverage@10"]
    assert report.metrics("popularity", "EQ1")["popbias@10"] > 0.9 > report.metrics("text-knn", "EQ1")["popbias@10"]
    # A cold query has no co-occurrence row: every candidate ties, HR@10 = 10 / (n - 1) exactly.
    assert report.metrics("cooccurrence", "EQ4")["HR@10"] == pytest.approx(10 / (graph.num_products - 1))
    assert report.metrics("text-knn", "EQ4")["HR@10"] > report.metrics("cooccurrence", "EQ4")["HR@10"]
    assert report.meta["tasks"]["EQ5"]["pairs"] > report.meta["tasks"]["EQ1"]["pairs"]


def test_split_reuse_and_sampling(shop, tmp_path):
    _, graph, features = shop
    settings = SplitSettings(ratios=(0.8, 0.0, 0.2), seed=1)
    seen = []
    first = evaluate(graph, features, protocols=["EQ1"], methods=["cooccurrence"], split_settings=settings,
                     split_dir=tmp_path, max_queries=60, progress=False,
                     checkpoint=lambda r: seen.append(len(r.rows)))
    assert seen == [1]
    path = split_path(tmp_path, settings)
    assert path.exists() and path.name == "split-edge-0.8-0-0.2-seed1.npz"
    stamp = path.stat().st_mtime_ns
    again = evaluate(graph, features, protocols=["EQ1"], methods=["cooccurrence"], split_settings=settings,
                     split_dir=tmp_path, max_queries=60, progress=False)
    assert path.stat().st_mtime_ns == stamp  # loaded, not rewritten
    assert first.rows[0]["HR@10"] == again.rows[0]["HR@10"] and first.rows[0]["pairs"] == 60
    assert first.meta["tasks"]["EQ1"]["pairs_before_sampling"] > 60
    # The training command's ARTIFACTS/split.npz is used when its settings match.
    train_split = make_split(graph, SplitSettings(seed=5))
    train_split.save(tmp_path / "split.npz")
    loaded = load_or_make_split(graph, SplitSettings(seed=5), tmp_path)
    assert np.array_equal(loaded.test_copurchase.src, train_split.test_copurchase.src)
    assert not split_path(tmp_path, SplitSettings(seed=5)).exists()


def test_eq3_pairs_are_one_way_in_the_whole_graph(shop):
    _, graph, _ = shop
    split = make_split(graph, SplitSettings())
    (eq3,) = make_tasks(graph, split, ["EQ3"], None, 0)
    keys = set(graph.copurchase.keys(graph.num_products).tolist())
    assert len(eq3.src) > 0
    assert all(d * graph.num_products + s not in keys for s, d in zip(eq3.src.tolist(), eq3.dst.tolist()))


def test_transitive_extension_rule():
    e = lambda pairs: Edges(*(np.array(x, np.int64) for x in zip(*pairs)), np.ones(len(pairs), np.float32))  # noqa: E731
    test = e([(0, 1), (2, 3)])
    train = e([(0, 4)])
    coview = e([(1, 4), (4, 1), (1, 5), (5, 1), (1, 0), (0, 1), (3, 1), (1, 3)])
    ext = transitive_extension(test, train, coview, 6)
    # 0->1 with 1~4 (a training edge: dropped), 1~5 (kept), 1~0 (self: dropped), 1~3 (kept); 2->3 with 3~1 (kept)
    assert sorted(zip(ext.src.tolist(), ext.dst.tolist())) == [(0, 1), (0, 3), (0, 5), (2, 1), (2, 3)]


def test_report_files_and_table(report, tmp_path):
    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert {r["method"] for r in data["rows"]} == set(BASELINES)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # save -> load: every row as evaluated, NaN written as null
    plain = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    assert data["rows"] == [{k: plain(v) for k, v in r.items()} for r in report.rows]
    tables = render_tables(report)
    assert len(tables) == len(report.protocols) and tables[0].row_count == len(BASELINES)
    # EQ1's HR@10 column: the best method's cell (and only cells equal to it) in bold
    eq1 = [r for r in report.rows if r["protocol"] == "EQ1"]
    column = next(c for c in tables[0].columns if c.header == "HR@10")
    bold = [m["method"] for m, cell in zip(eq1, column._cells) if cell.startswith("[bold]")]
    top = max(r["HR@10"] for r in eq1)
    assert bold == [r["method"] for r in eq1 if r["HR@10"] == pytest.approx(top)]


def test_unknown_method_or_protocol_is_a_user_error(shop):
    from dualgnn.errors import DualGNNError

    _, graph, features = shop
    with pytest.raises(DualGNNError, match="unknown method"):
        evaluate(graph, features, methods=["nope"], progress=False)
    with pytest.raises(DualGNNError, match="unknown protocol"):
        evaluate(graph, features, protocols=["EQ2"], progress=False)
    with pytest.raises(DualGNNError, match="no protocol"):
        evaluate(graph, features, protocols=[], progress=False)
    with pytest.raises(DualGNNError, match="needs product features"):
        evaluate(graph, None, methods=["text-knn"], progress=False)
    assert evaluate(graph, None, protocols=["EQ1"], max_queries=20, progress=False).methods == \
        ["popularity", "cooccurrence", "cooccurrence-rev", "pagerank", "rp3beta", "ease", "item-knn"]


def test_cli_evaluate_subset(shop, tmp_path):
    from typer.testing import CliRunner

    from cli.app import _register, app
    from dualgnn.build import BuildInputs, build_artifacts

    cat, _, _ = shop
    for name in ("products", "copurchase", "coview"):
        getattr(cat, name).to_csv(tmp_path / f"{name}.csv", index=False)
    art = tmp_path / "art"
    build_artifacts(BuildInputs(products=tmp_path / "products.csv", copurchase=tmp_path / "copurchase.csv",
                                coview=tmp_path / "coview.csv"), art, FeatureSettings(encoder="hashing", dim=32),
                    progress=False)
    _register()
    classics = CliRunner().invoke(app, ["evaluate", str(art), "--methods", "pagerank,rp3beta,ease,item-knn,"
                                        "cooccurrence-rev,rp3beta-plain", "--protocols", "EQ1,eq3-balanced",
                                        "--max-queries", "40", "--out", str(tmp_path / "c"), "--quiet"])
    assert classics.exit_code == 0, classics.output
    assert "EQ3-balanced" in classics.output and "tuned rp3beta-plain: beta=" in classics.output
    assert f"{art.name}: edge split 75/5/20 seed 0" in classics.output
    assert len(json.loads((tmp_path / "c" / "report.json").read_text())["meta"]["tuning"]) == 6
    unknown = CliRunner().invoke(app, ["evaluate", str(art), "--methods", "pagerank,rp3", "--quiet"])
    assert unknown.exit_code != 0 and "unknown method 'rp3'" in str(unknown.exception)
    result = CliRunner().invoke(app, ["evaluate", str(art), "--methods", "popularity,cooccurrence",
                                      "--protocols", "EQ1,EQ3", "--max-queries", "40", "--out", str(tmp_path / "r"),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert "sampled 40 of" in result.output
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert not (tmp_path / "r" / "report.partial.json").exists()
    assert [(r["method"], r["protocol"]) for r in data["rows"]] == [
        ("popularity", "EQ1"), ("popularity", "EQ3"), ("cooccurrence", "EQ1"), ("cooccurrence", "EQ3")]
    assert (art / "split-edge-0.75-0.05-0.2-seed0.npz").exists()
    bad = CliRunner().invoke(app, ["evaluate", str(art), "--split", "0.5,0.6,0.2"])
    assert bad.exit_code == 2 and "Invalid value for --split" in bad.output, bad.output
    # The ranker learns from validation edges: a split without them is refused before any row trains.
    no_val = CliRunner().invoke(app, ["evaluate", str(art), "--split", "0.8,0,0.2", "--methods", "popularity,ranker",
                                      "--out", str(tmp_path / "nv"), "--quiet"])
    assert no_val.exit_code == 1 and "has none" in str(no_val.exception) and "--split" in no_val.exception.hint
    assert not (tmp_path / "nv").exists()


def test_empty_report_helpers():
    r = EvalReport()
    assert r.methods == [] and r.protocols == []
    with pytest.raises(KeyError):
        r.metrics("x", "EQ1")


def test_stored_model_must_match_the_split(shop, tmp_path):
    from dualgnn.errors import ArtifactError
    from dualgnn.evaluation.run import _check_model_split

    _, graph, _ = shop
    split = make_split(graph, SplitSettings(seed=0))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    messages = []
    _check_model_split(split, model_dir, None, messages.append)
    assert "cannot check" in messages[0]
    make_split(graph, SplitSettings(seed=1)).save(model_dir / "split.npz")
    with pytest.raises(ArtifactError, match=r"another split \(--split 0.75,0.05,0.2 --split-seed 1, saved in .*\) "
                       r"than the one asked for \(--split 0.75,0.05,0.2 --split-seed 0\)") as info:
        _check_model_split(split, model_dir, None, messages.append)
    assert info.value.hint == "evaluate it with --split 0.75,0.05,0.2 --split-seed 1"
    split.save(model_dir / "split.npz")
    _check_model_split(split, model_dir, None, messages.append)  # same split: fine, and no new warning
    assert len(messages) == 1
    # A model trained on another catalog (its split names other products) is refused, whatever its held-out pairs.
    other = generate(SynthSettings(n_products=300, seed=4))
    other_graph, _ = build_graph(RawData(other.products, other.copurchase, other.coview))
    make_split(other_graph, SplitSettings(seed=0)).save(model_dir / "split.npz")
    with pytest.raises(ArtifactError, match="another graph"):
        _check_model_split(split, model_dir, None, messages.append)


def test_gnn_row_trains_on_each_split(shop):
    pytest.importorskip("dualgnn.training.loop")
    _, graph, features = shop
    report = evaluate(graph, features, protocols=["EQ1", "EQ3", "EQ4"], methods=["dualgnn"], epochs=1,
                      max_queries=30, progress=False)
    assert report.protocols == ["EQ1", "EQ3", "EQ4", "EQ4-to-cold"]
    # One epoch on features alone still finds a cold product's co-purchases far above chance (10 / 399).
    assert report.metrics("dualgnn", "EQ4")["HR@10"] > 4 * 10 / (graph.num_products - 1)


def test_eq3_balanced_keeps_only_pairs_whose_target_is_not_more_popular(shop, report):
    _, graph, _ = shop
    split = make_split(graph, SplitSettings())
    eq3, balanced = make_tasks(graph, split, ["EQ3", "EQ3-balanced"], None, 0)
    indeg = np.bincount(split.train_copurchase.dst, minlength=graph.num_products)
    assert 0 < len(balanced.src) < len(eq3.src)
    assert (indeg[balanced.dst] <= indeg[balanced.src]).all()
    assert len(balanced.src) == int((indeg[eq3.dst] <= indeg[eq3.src]).sum())  # all such EQ3 pairs, no others
    assert set(zip(balanced.src.tolist(), balanced.dst.tolist())) <= set(zip(eq3.src.tolist(), eq3.dst.tolist()))
    # Popularity can only tie or lose there: it never calls a balanced pair right.
    assert report.metrics("popularity", "EQ3-balanced")["direction_acc"] <= 0.5
    assert report.meta["tasks"]["EQ3-balanced"]["pairs"] == len(balanced.src)


def test_tuned_classics_are_recorded_and_ease_skips_with_its_reason(shop, report, monkeypatch):
    from dualgnn.classics import scorers as classics
    from dualgnn.evaluation.report import render_notes

    _, graph, features = shop
    tuning = report.meta["tuning"]
    assert set(tuning) == {"cooccurrence-rev", "pagerank", "rp3beta", "ease", "item-knn"}
    assert all("edge split" in t["tuned_on"] and "node_split" in t and t["seconds"] >= 0 for t in tuning.values())
    notes = "\n".join(render_notes(report))
    assert "tuned rp3beta: beta=" in notes and "EQ4 (node split)" in notes
    # A classic sees the query's training edges, so a cold query's row is all zero: chance level exactly.
    assert report.metrics("pagerank", "EQ4")["HR@10"] == pytest.approx(10 / (graph.num_products - 1))
    monkeypatch.setattr(classics, "EASE_MAX_PRODUCTS", graph.num_products - 1)
    small = evaluate(graph, features, protocols=["EQ1"], methods=["ease", "popularity"], max_queries=30,
                     progress=False)
    assert small.methods == ["popularity"] and "limit" in small.meta["skipped"]["ease"]
    assert "skipped ease: EASE^R skipped" in "\n".join(render_notes(small))
