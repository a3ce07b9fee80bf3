"""More than one process: parts with the halo exchange give every product the whole graph's vectors and
gradients, two trainers (real processes, torchrun on localhost) learn phones -> cases as one process does, the
parallel export equals the single one, and bad inputs stop the commands with a message."""

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


def _part_against_whole(rank: int, size: int, port: int, root: Path) -> None:
    """One of ``size`` processes: its part's forward pass (with the halo exchange) against the whole graph's, and
    its share of the gradient of a loss over every product, summed over the processes, against the whole one's."""
    import torch.distributed as dist

    from dualgnn.artifacts import load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.distributed.parts import load_part, read_partitions
    from dualgnn.features.store import Features
    from dualgnn.model.embed import training_graph
    from dualgnn.model.encoder import build_model
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.split import Split, whole_graph

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    graph, split = load_graph(root / "graph"), Split.load(root / "parts" / "split.npz")
    config = TrainConfig.preset("default", hidden_dim=16, num_layers=3)
    inputs = NodeInputs.from_features(Features.load(root / "graph"))
    torch.manual_seed(0)
    model = build_model(config, inputs)
    weights = [torch.randn(graph.num_products, 17, generator=torch.Generator().manual_seed(i)) for i in (1, 2)]
    s, t = model(training_graph(graph, split, config), inputs)
    ((s * weights[0]).sum() + (t * weights[1]).sum()).backward()
    whole_grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    part = load_part(read_partitions(root / "parts", size), rank)
    ls, lt = model(part.train_graph, part.inputs, ids=part.nodes, exchange=part.halo.exchange)
    for local, every in ((ls, s), (lt, t)):  # every local row: own products and the whole halo
        torch.testing.assert_close(local, every[part.nodes], atol=1e-5, rtol=1e-4)
    own = part.own
    mine = part.nodes[own]
    ((ls[own] * weights[0][mine]).sum() + (lt[own] * weights[1][mine]).sum()).backward()
    for name, p in model.named_parameters():
        dist.all_reduce(p.grad)
        torch.testing.assert_close(p.grad, whole_grads[name], atol=1e-4, rtol=1e-3, msg=name)
    served = model.embed_rows(training_graph(graph, whole_graph(graph), config), inputs)
    local = model.embed_rows(part.serve_graph, part.inputs, id_mask=torch.ones(len(part.nodes)), ids=part.nodes,
                             exchange=part.halo.exchange)
    for a, b in zip(local, served):
        torch.testing.assert_close(a[own], b[mine], atol=1e-5, rtol=1e-4)
    dist.destroy_process_group()


def test_parts_with_the_halo_exchange_give_the_whole_graphs_vectors_and_gradients(tmp_path):
    """Three processes on a random cut (edges cross parts), a 3-layer model: every local row of the forward pass,
    the summed parameter gradients and the served vectors equal the whole graph's; every edge has one owner."""
    import socket

    import torch.multiprocessing as mp

    from dualgnn.distributed.partition import PartitionRequest, run_partition
    from dualgnn.distributed.parts import load_part, read_partitions
    from dualgnn.split import Split

    art, *_ = write_planted_artifacts(tmp_path / "graph", groups=6, per_group=4)
    run_partition(PartitionRequest(artifacts=art, out=tmp_path / "parts", parts=3, method="random"))
    pset = read_partitions(tmp_path / "parts", 3)
    owned = []
    for p in range(3):
        part = load_part(pset, p)
        glob = part.nodes[part.loss_rows]
        owned += list(zip(glob[part.edges.src].tolist(), glob[part.edges.dst].tolist()))
        assert (~part.own).sum() > 0 and sum(part.halo.recv_counts) == int((~part.own).sum())
    cp = Split.load(tmp_path / "parts" / "split.npz").train_copurchase
    assert sorted(owned) == sorted(zip(cp.src.tolist(), cp.dst.tolist()))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_part_against_whole, args=(3, port, tmp_path), nprocs=3, join=True)


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
    from dualgnn.outputs import foreign_entries  # a rebuild would refuse anything else as the user's

    assert foreign_entries(root / "model-2", "model") == [] and foreign_entries(root / "parts", "partitions") == []


def test_a_random_cut_is_the_same_for_the_same_seed(trained, tmp_path):
    root = trained[0]
    dualgnn("partition", root / "graph", "--parts", "2", "--method", "random", "--out", tmp_path / "again", "--quiet")

    def cut(parts):
        return [pd.read_parquet(parts / f"part{p}" / "ids.parquet") for p in range(2)]

    for mine, theirs in zip(cut(root / "parts"), cut(tmp_path / "again")):
        pd.testing.assert_frame_equal(mine, theirs)


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
        (["train-distributed", root / "parts", "--out", root / "graph"], "graph artifact"),
        (["export-distributed", root / "graph", "--model", root / "graph", "--out", tmp_path / "l"], "not a 'model'"),
        (["export-distributed", root / "graph", "--model", root / "model-2", "--out", root / "parts"],
         "did not write"),
        (["partition", root / "graph", "--parts", "0", "--out", tmp_path / "p"], "--parts"),
        (["partition", root / "graph", "--parts", "100000", "--out", tmp_path / "p"], "more than the"),
        (["partition", root / "graph", "--parts", "80", "--method", "random", "--out", tmp_path / "p"],
         "could not cut 80 products into 80 parts"),
        (["partition", root / "graph", "--split-seed", "-1", "--out", tmp_path / "p"], "--split-seed"),
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


def test_an_ip_config_starts_this_machine_as_one_node_of_a_static_rendezvous(tmp_path):
    from dualgnn.distributed.launch import read_ip_config, torchrun_command
    from dualgnn.errors import DualGNNError

    config = tmp_path / "ip_config.txt"
    config.write_text("# machines\n10.0.0.1 30050\n\n10.0.0.2 30050\n")
    hosts = read_ip_config(config)
    assert hosts == ["10.0.0.1", "10.0.0.2"]
    cmd = torchrun_command(["train-distributed", "parts", "--out", "m"], nproc_per_node=1, hosts=hosts, node_rank=1,
                           port=29600)
    tail = cmd.index("-m", 3)
    flags = dict(zip(cmd[3:tail:2], cmd[4:tail:2]))
    assert flags == {"--nnodes": "2", "--node-rank": "1", "--master-addr": "10.0.0.1", "--master-port": "29600",
                     "--nproc-per-node": "1"}
    assert cmd[tail:] == ["-m", "cli", "train-distributed", "parts", "--out", "m"]
    with pytest.raises(DualGNNError, match="machine-rank 2"):
        torchrun_command([], nproc_per_node=1, hosts=hosts, node_rank=2)
    config.write_text("# nobody\n")
    with pytest.raises(DualGNNError, match="lists no machine"):
        read_ip_config(config)
