"""More than one process: partitions give every product the whole graph's vectors, two trainers (real processes,
torchrun on localhost) learn phones -> cases as one process does, the parallel export equals the single one, and
bad inputs stop the commands with a message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import REPO
from tests.planted_graph import write_planted_artifacts


def dualgnn(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                               "OMP_NUM_THREADS": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"dualgnn {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.parametrize("method", ["random", "metis"])
def test_a_part_gives_its_products_and_their_neighbours_the_whole_graphs_vectors(tmp_path, method):
    """Full-graph propagation over a part (own products + halo) equals the whole graph's for every row the loss
    reads, on the training graph and (own products) on the served one; every training edge has one owner."""
    from dualgnn.artifacts import load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.distributed.partition import PartitionRequest, run_partition
    from dualgnn.distributed.parts import load_part, read_partitions
    from dualgnn.features.store import Features
    from dualgnn.model.embed import training_graph
    from dualgnn.model.encoder import build_model
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.split import Split, whole_graph

    art, *_ = write_planted_artifacts(tmp_path / "graph", groups=6, per_group=4)
    run_partition(PartitionRequest(artifacts=art, out=tmp_path / "parts", parts=3, method=method))
    pset = read_partitions(tmp_path / "parts", 3)
    graph, split = load_graph(art), Split.load(tmp_path / "parts" / "split.npz")
    config = TrainConfig.preset("default", hidden_dim=16)
    torch.manual_seed(0)
    inputs = NodeInputs.from_features(Features.load(art))
    model = build_model(config, inputs)
    with torch.no_grad():
        s, t = model(training_graph(graph, split, config), inputs)
        served_s, _ = model(training_graph(graph, whole_graph(graph), config), inputs)
    owned = []
    halo = 0
    for p in range(3):
        part = load_part(pset, p)
        with torch.no_grad():
            ls, lt = model(part.train_graph, part.inputs, ids=part.nodes)
            vs, _ = model(part.serve_graph, part.inputs, ids=part.nodes)
        rows, own = part.loss_rows, part.own
        torch.testing.assert_close(ls[rows], s[part.nodes[rows]], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(lt[rows], t[part.nodes[rows]], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(vs[own], served_s[part.nodes[own]], atol=1e-6, rtol=1e-5)
        glob = part.nodes[rows]
        owned += list(zip(glob[part.edges.src].tolist(), glob[part.edges.dst].tolist()))
        halo += int((~own).sum())
    cp = split.train_copurchase
    assert sorted(owned) == sorted(zip(cp.src.tolist(), cp.dst.tolist()))
    assert (halo > 0) == (method == "random")  # METIS keeps each brand (a component here) in one part


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The planted shop, cut at random into 2 parts (so edges cross parts), trained by 2 processes and by 1."""
    root = tmp_path_factory.mktemp("dist")
    art, graph, phones, cases, brand = write_planted_artifacts(root / "graph")
    dualgnn("partition", art, "--parts", "2", "--method", "random", "--out", root / "parts", "--quiet")
    dualgnn("train-distributed", root / "parts", "--out", root / "model-2", "--quiet")
    dualgnn("train", art, "--out", root / "model-1", "--quiet")
    return root, graph, phones, cases, brand


def _planted_answers(model_dir, graph, phones, cases, brand) -> dict[str, float]:
    from dualgnn.metrics import direction_scores
    from dualgnn.model.io import load_model
    from dualgnn.scoring import EmbeddingScorer

    loaded = load_model(model_dir)
    scorer = EmbeddingScorer(loaded.source, loaded.target)
    after_phone, _ = scorer.recommend(phones, 5)
    after_case, _ = scorer.recommend(cases, 5)
    return {"brand_cases": float(((brand[after_phone] == brand[phones][:, None]) & np.isin(after_phone, cases)).mean()),
            "phones_after_case": float(np.isin(after_case, phones).mean()),
            "direction": direction_scores(scorer, graph.copurchase.src, graph.copurchase.dst)["direction_acc"]}


def test_two_trainers_learn_phones_to_cases_as_one_process_does(trained):
    root, graph, phones, cases, brand = trained
    two = _planted_answers(root / "model-2", graph, phones, cases, brand)
    one = _planted_answers(root / "model-1", graph, phones, cases, brand)
    for result in (two, one):
        assert result["brand_cases"] > 0.8  # after a phone: cases of its brand
        assert result["phones_after_case"] < 0.1  # after a case: no phone
        assert result["direction"] > 0.95
    assert abs(two["brand_cases"] - one["brand_cases"]) < 0.1
    # The same model directory: every file `dualgnn train` writes (`recommend` reads it: the export test).
    assert {p.name for p in (root / "model-2").iterdir()} == {p.name for p in (root / "model-1").iterdir()}


def test_parallel_export_equals_the_single_process_export(trained):
    root = trained[0]
    dualgnn("export-distributed", root / "graph", "--model", root / "model-2", "--out", root / "lists",
            "--nproc-per-node", "2", "-k", "7", "--exclude-linked")
    dualgnn("recommend", root / "graph", "--model", root / "model-2", "--all", "-k", "7", "--exclude-linked",
            "--out", root / "lists.parquet", "--quiet")
    assert sorted(p.name for p in (root / "lists").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    parallel, single = pd.read_parquet(root / "lists"), pd.read_parquet(root / "lists.parquet")
    assert len(single) == 7 * 80
    pd.testing.assert_frame_equal(parallel, single)


def run_cli(*args):
    from typer.testing import CliRunner

    from cli.app import _register, app

    _register()
    return CliRunner().invoke(app, [str(a) for a in args])


def test_bad_inputs_stop_before_any_process_starts(trained, tmp_path):
    root = trained[0]
    cases = [
        (["train-distributed", tmp_path / "nowhere", "--out", tmp_path / "m"], "nowhere"),
        (["train-distributed", root / "graph", "--out", tmp_path / "m"], "not a 'partitions' one"),
        (["train-distributed", root / "parts", "--out", tmp_path / "m", "--nproc-per-node", "3"],
         "holds 2 parts but 3 processes"),
        (["train-distributed", root / "parts", "--out", tmp_path / "m", "--layers", "3"], "needs 4"),
        (["train-distributed", root / "parts", "--out", root / "graph"], "graph artifact"),
        (["export-distributed", root / "graph", "--model", root / "graph", "--out", tmp_path / "l"], "not a 'model'"),
        (["export-distributed", root / "graph", "--model", root / "model-2", "--out", root / "parts"],
         "did not write"),
        (["partition", root / "graph", "--parts", "0", "--out", tmp_path / "p"], "--parts"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.exit_code in (1, 2), (args, result.output)
        assert message in result.output.replace("\n", " ") or message in str(result.exception), (args, result.output)
    (root / "parts" / "part1" / "part.npz").rename(tmp_path / "moved.npz")
    try:
        result = run_cli("train-distributed", root / "parts", "--out", tmp_path / "m")
        assert "part1/part.npz is missing" in str(result.exception) or "part.npz is missing" in result.output
    finally:
        (tmp_path / "moved.npz").rename(root / "parts" / "part1" / "part.npz")
