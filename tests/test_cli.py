"""End to end through the `dualgnn` command on the bundled sample, and user mistakes at the command line.

Runs the real console script in a subprocess, as a user would, with fast settings (TF-IDF features, few epochs).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO

SAMPLE = REPO / "data" / "sample"
PHONE, CASE = "P0001246", "P0000320"


def dualgnn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    if check and proc.returncode != 0:
        raise AssertionError(f"dualgnn {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    dualgnn("build-graph", "--products", SAMPLE / "products.csv.gz", "--copurchase", SAMPLE / "copurchase.csv.gz",
            "--coview", SAMPLE / "coview.csv.gz", "--encoder", "tfidf", "--quiet", "--out", out / "graph")
    dualgnn("train", out / "graph", "--out", out / "model", "--epochs", "4", "--quiet")
    dualgnn("train", out / "graph", "--out", out / "model-eval", "--split", "0.75,0.05,0.2", "--epochs", "4",
            "--no-ranker", "--quiet")
    return out


def test_build_graph_prints_a_summary_and_writes_the_artifact(trained):
    manifest = json.loads((trained / "graph" / "manifest.json").read_text())
    products = pd.read_csv(SAMPLE / "products.csv.gz", dtype=str)["product_id"]
    pairs = pd.read_csv(SAMPLE / "copurchase.csv.gz", dtype=str)[["src", "dst"]]
    known = pairs["src"].isin(products) & pairs["dst"].isin(products) & (pairs["src"] != pairs["dst"])
    assert manifest["counts"]["products"] == products.nunique() == 3000
    assert manifest["counts"]["copurchase"] == len(pairs[known].drop_duplicates()) == 29797
    assert {Path(i["path"]).name for i in manifest["inputs"]} == {"products.csv.gz", "copurchase.csv.gz",
                                                                  "coview.csv.gz"}
    info = dualgnn("info", trained / "graph")
    assert "29,797" in info.stdout  # the readable summary groups digits


@pytest.mark.parametrize("ranking", [[], ["--gnn-only"], ["--exclude-linked"]])
def test_train_writes_a_model_that_recommends_cases_after_phones_not_back(trained, ranking):
    """The shipped model's ranker (the default), its GNN alone, and the ranker's predictions without the known
    co-purchases: after a phone its accessories, after a case never a phone."""
    assert (trained / "model" / "training_curve.png").stat().st_size > 1000
    assert (trained / "model" / "ranker.txt").exists() and not (trained / "model-eval" / "ranker.txt").exists()
    assert (trained / "model" / "ranker-classics.npz").exists()  # formed once, read by every recommend
    out = trained / "recs.csv"
    dualgnn("recommend", trained / "graph", "--model", trained / "model", "--product", PHONE, "--product", CASE,
            "-k", "10", "--out", out, *ranking)
    recs = pd.read_csv(out, dtype=str)
    products = pd.read_csv(SAMPLE / "products.csv.gz", dtype=str).set_index("product_id")
    category = recs["recommended_id"].map(products["category"])
    after_phone = category[recs["product_id"] == PHONE]
    after_case = category[recs["product_id"] == CASE]
    assert after_phone.str.contains("Cases|Chargers|Screen Protectors").sum() >= 5
    assert not after_case.str.contains("Smartphones").any()


def test_evaluate_prints_the_table_and_writes_json(trained):
    proc = dualgnn("evaluate", trained / "graph", "--model", trained / "model-eval", "--protocols", "EQ1,EQ3",
                   "--methods", "popularity,cooccurrence,dualgnn", "--out", trained / "eval", "--quiet")
    assert re.search(r"cooccurrence", proc.stdout)
    report = json.loads((trained / "eval" / "report.json").read_text())
    assert (trained / "eval" / "report.png").exists()
    rows = {(r["method"], r["protocol"]): r for r in report["rows"]}
    assert sorted(rows) == sorted((m, p) for m in ("popularity", "cooccurrence", "dualgnn") for p in ("EQ1", "EQ3"))
    assert report["meta"]["model_dir"] == str(trained / "model-eval")
    # The stored model ranks the held-out pairs (no retraining): well above chance, and it keeps direction.
    assert rows[("dualgnn", "EQ1")]["HR@10"] > 10 * 10 / 3000
    assert rows[("dualgnn", "EQ3")]["direction_acc"] > 0.7  # 0.5 is a coin; 0.80 after these 4 epochs


def test_evaluate_refuses_the_shipped_model_that_learnt_the_held_out_pairs(trained):
    proc = dualgnn("evaluate", trained / "graph", "--model", trained / "model", "--protocols", "EQ1",
                   "--methods", "dualgnn", "--out", trained / "eval-shipped", "--quiet", check=False)
    assert proc.returncode == 1 and "a model to ship" in proc.stderr and "--split" in proc.stderr


def test_cold_start_product_gets_accessories(trained):
    out = trained / "cold.jsonl"
    dualgnn("recommend", trained / "graph", "--model", trained / "model", "--new-products",
            REPO / "data" / "new_products.csv", "-k", "10", "--out", out)
    recs = pd.read_json(out, lines=True, dtype=str)
    assert (recs["product_id"] == "NEW-PHONE-1").all() and len(recs) == 10
    assert recs["recommended_title"].str.contains("Case|Charger|Screen Protector").sum() >= 3


@pytest.mark.parametrize("args, message", [
    (["build-graph", "--products", "no/such/file.csv", "--out", "x"], "no/such/file.csv"),
    (["build-graph", "--out", "x"], "no input given"),
    (["info", "no/such/dir"], "no/such/dir"),
    (["train", "no/such/dir", "--out", "m"], "no/such/dir"),
])
def test_user_mistakes_exit_1_with_a_message_and_no_traceback(args, message):
    proc = dualgnn(*args, check=False)
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_product_id_is_named(trained):
    proc = dualgnn("recommend", trained / "graph", "--model", trained / "model", "--product", "B00NOPE", check=False)
    assert proc.returncode == 1 and "B00NOPE" in proc.stderr and "Traceback" not in proc.stderr


SHIPPED_RANKER_DAMAGE = {
    "not a model": lambda p: p.write_bytes(b"tree\nnot a model\n"),
    # LightGBM's parser ends the process with a segmentation fault on a model file cut short.
    "cut short": lambda p: p.write_bytes(p.read_bytes()[:p.stat().st_size // 2]),
    "missing": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", sorted(SHIPPED_RANKER_DAMAGE))
def test_a_damaged_shipped_ranker_is_named_and_gnn_only_still_serves(trained, tmp_path, damage):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    SHIPPED_RANKER_DAMAGE[damage](model / "ranker.txt")
    proc = dualgnn("recommend", trained / "graph", "--model", model, "--product", PHONE, check=False)
    assert proc.returncode == 1 and "ranker.txt" in proc.stderr and "--gnn-only" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    ok = dualgnn("recommend", trained / "graph", "--model", model, "--product", PHONE, "--gnn-only")
    assert PHONE in ok.stdout
    # refresh refuses to carry the damaged ranker into a new model, and leaves nothing behind
    out = tmp_path / "refreshed"
    proc = dualgnn("refresh", trained / "graph", "--model", model, "--out", out, "--quiet", check=False)
    assert proc.returncode == 1 and "ranker.txt" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not out.exists()


def test_every_command_has_help_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for command in ("build-graph", "train", "evaluate", "recommend", "serve", "synth", "info"):
        assert dualgnn(command, "--help").returncode == 0
        assert f"dualgnn {command}" in readme, command


def test_refresh_keeps_the_models_ranker_and_recommends_with_it(trained):
    out = trained / "model-refreshed"
    dualgnn("refresh", trained / "graph", "--model", trained / "model", "--out", out, "--quiet")
    assert (out / "ranker.txt").read_bytes() == (trained / "model" / "ranker.txt").read_bytes()
    from dualgnn.artifacts import load_graph
    from dualgnn.ranking.production import read_served_classics

    assert set(read_served_classics(load_graph(trained / "graph"), out)) == {"rp3beta"}
    recs = trained / "refreshed.csv"
    dualgnn("recommend", trained / "graph", "--model", out, "--product", PHONE, "-k", "5", "--out", recs)
    products = pd.read_csv(SAMPLE / "products.csv.gz", dtype=str).set_index("product_id")
    category = pd.read_csv(recs, dtype=str)["recommended_id"].map(products["category"])
    assert not category.str.contains("Smartphones").any()


def test_every_artifact_holds_only_names_dualgnn_owns(trained):
    """A rebuild refuses an artifact holding anything else (the user's, it would be deleted), so every file the
    commands write into an artifact must be in OUTPUTS.OWNED: the graph after evaluate's splits, a model with its
    ranker, one without, a refreshed one."""
    from dualgnn.outputs import foreign_entries

    dualgnn("evaluate", trained / "graph", "--protocols", "EQ1", "--methods", "popularity", "--quiet")
    assert sorted(p.name for p in (trained / "graph").glob("split-*.npz"))
    assert (trained / "graph" / "eval" / "report.json").exists()  # evaluate's default --out, inside the graph
    for name, kind in (("graph", "graph"), ("model", "model"), ("model-eval", "model"),
                       ("model-refreshed", "model")):
        assert (trained / name / "manifest.json").exists(), name
        assert foreign_entries(trained / name, kind) == [], name
    assert (trained / "model" / "ranker.txt").exists()


def test_train_runs_under_jemalloc_when_the_system_has_it(trained):
    """`python -m cli train` starts again with libjemalloc preloaded (retaining its memory) where it is installed;
    the manifest says which allocator trained the model."""
    from dualgnn.training.memory import jemalloc_environment

    training = json.loads((trained / "model" / "manifest.json").read_text())["training"]
    installed = jemalloc_environment({}) is not None
    assert training["allocator"] == ("jemalloc" if installed else "glibc")


def test_the_allocator_choice_respects_the_user():
    from dualgnn.training.memory import JEMALLOC_CONF, jemalloc_environment

    assert jemalloc_environment({"DUALGNN_ALLOCATOR": "system"}) is None
    assert jemalloc_environment({"LD_PRELOAD": "/opt/libjemalloc.so.2"}) is None  # already preloaded
    env = jemalloc_environment({"PATH": "/usr/bin", "LD_PRELOAD": "libother.so"})
    if env is not None:  # libjemalloc installed here
        assert env["LD_PRELOAD"].endswith(" libother.so") and "jemalloc" in env["LD_PRELOAD"]
        assert env["MALLOC_CONF"] == JEMALLOC_CONF and env["DUALGNN_ALLOCATOR"] == "jemalloc"
        assert jemalloc_environment(env) is None  # the restarted command does not start again
