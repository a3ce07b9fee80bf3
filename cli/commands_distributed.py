"""`dualgnn partition`, `dualgnn train-distributed`, `dualgnn export-distributed`: more than one process or machine.

Run without torch's launcher variables, `train-distributed` and `export-distributed` are the launcher: they check
their inputs, then start their processes with torchrun (here, or as one machine of an --ip-config) and wait.
Started by torchrun (which sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), they are one of those processes.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.app import app
from cli.options import ArtifactsDir, Dim, Epochs, Index, IndexKind, Layers, ModelDir, ModelSeed, OutDir, Preset
from cli.options import Quiet, SplitSeed, SplitShares, Threads, Validation, set_threads
from dualgnn.errors import DualGNNError

console = Console()

PartsDir = Annotated[Path, typer.Argument(help="Partition directory written by `dualgnn partition`.")]
ProcsPerNode = Annotated[Optional[int], typer.Option(
    "--nproc-per-node", min=1, help="Processes to start on this machine (default: train, one per part over the "
    "machines; export, one per core).")]
IpConfig = Annotated[Optional[Path], typer.Option(
    "--ip-config", help="DGL-style ip config: one machine address per line, the first hosts the rendezvous. "
    "Run the same command on every machine with its --machine-rank.")]
MachineRank = Annotated[int, typer.Option("--machine-rank", min=0, help="This machine's line in --ip-config.")]
Port = Annotated[int, typer.Option("--port", min=1, max=65535, help="Rendezvous port on the first machine.")]


@app.command("partition")
def partition_command(
    artifacts: ArtifactsDir,
    out: OutDir,
    parts: Annotated[int, typer.Option("--parts", "-n", min=1, help="Number of parts: one trainer process each.")],
    method: Annotated[str, typer.Option(
        help="How DGL's partition_graph cuts: metis (fewest cut edges) or random (seeded by --split-seed).")
                      ] = "metis",
    balance_edges: Annotated[bool, typer.Option(
        "--balance-edges/--balance-products", help="METIS balances the parts' edges (a step's time follows them) "
        "or only their products.")] = True,
    validation: Validation = 0.05,
    split: SplitShares = None,
    split_seed: SplitSeed = 0,
    quiet: Quiet = False,
) -> None:
    """Cut a graph artifact into N parts (DGL's partition_graph, with a halo), each with its products' ids,
    features and edges, for `dualgnn train-distributed`."""
    from dualgnn.distributed.partition import PartitionRequest, run_partition
    from dualgnn.split import parse_shares

    req = PartitionRequest(artifacts=artifacts, out=out, parts=parts, method=method, balance_edges=balance_edges,
                           validation=validation, split=parse_shares(split) if split is not None else None,
                           split_seed=split_seed)
    say = (lambda line: None) if quiet else (lambda line: console.print(line, highlight=False, markup=False))
    manifest = run_partition(req, say)
    for p, c in enumerate(manifest["parts"]):
        say(f"part {p}: {c['own_products']:,} products + {c['halo_products']:,} in its halo, "
            f"{c['local_edges']:,} local edges, {c['train_edges']:,} training edges")
    console.print(f"{parts} parts in {manifest['seconds']['total']:.1f} s -> {out}", highlight=False, markup=False)


@app.command("train-distributed")
def train_distributed_command(
    parts: PartsDir,
    out: OutDir,
    preset: Preset = "default",
    epochs: Epochs = None,
    layers: Layers = None,
    dim: Dim = None,
    seed: ModelSeed = None,
    id_vectors: Annotated[Optional[bool], typer.Option(
        "--id-vectors/--no-id-vectors", help="Learn a vector per product (default: the preset's). Every process "
        "holds the whole table and averages its gradient every step: off for catalogs of tens of millions "
        "(README \"More than one machine\").")] = None,
    nproc_per_node: ProcsPerNode = None,
    ip_config: IpConfig = None,
    machine_rank: MachineRank = 0,
    port: Port = 29500,
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Train on a partition set with one process per part (PyTorch DDP over gloo); writes the model directory
    `dualgnn train` writes."""
    from dualgnn.distributed.trainer import DistTrainRequest, run_distributed_train

    overrides = {k: v for k, v in dict(epochs=epochs, num_layers=layers, hidden_dim=dim, seed=seed,
                                       id_embeddings=id_vectors).items() if v is not None}
    req = DistTrainRequest(parts=parts, out=out, preset=preset, overrides=overrides, progress=not quiet)

    def worker(group) -> None:
        say = (lambda line: None) if quiet else (lambda line: console.print(line, highlight=False, markup=False))
        done = run_distributed_train(req, group, say)
        if done is not None:
            console.print(f"best validation HR@10 {done.best_val:.4f} at epoch {done.best_epoch} ({done.epochs_run} "
                          f"epochs run, {group.size} processes) -> {out}", highlight=False, markup=False)

    def procs(machines: int) -> int:
        from dualgnn.distributed.parts import read_partitions
        from dualgnn.outputs import check_not_input, check_replaceable_dir

        wanted = read_partitions(parts).num_parts
        per_node = nproc_per_node or max(1, wanted // machines)
        req.check(per_node * machines)  # wrong N, halo too small: before any process starts
        check_not_input(out, [parts])
        check_replaceable_dir(out, "model")
        return per_node

    _launch_or_work(worker, procs, ip_config, machine_rank, port, threads)


@app.command("export-distributed")
def export_distributed_command(
    artifacts: ArtifactsDir,
    model: ModelDir,
    out: OutDir,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Recommendations per product.")] = 10,
    similar: Annotated[bool, typer.Option("--similar", help="Similar products (source . source).")] = False,
    exclude_same_category: Annotated[bool, typer.Option(
        "--exclude-same-category", help="Never recommend a product of the query's own (leaf) category.")] = False,
    exclude_linked: Annotated[bool, typer.Option(
        "--exclude-linked", help="Never recommend what the graph already links to the query.")] = False,
    gnn_only: Annotated[bool, typer.Option(
        "--gnn-only", help="Rank with the GNN's index alone, not the model's ranker (the default when it has one), "
                           "as `recommend --gnn-only`.")] = False,
    index: IndexKind = Index.auto,
    nproc_per_node: ProcsPerNode = None,
    ip_config: IpConfig = None,
    machine_rank: MachineRank = 0,
    port: Port = 29501,
    threads: Threads = 0,
    quiet: Quiet = False,  # noqa: ARG001 - accepted for symmetry; the export prints one line
) -> None:
    """Every product's top-k list from several processes over disjoint ranges and one shared index: a Parquet
    dataset (a file per process) equal to `dualgnn recommend --all --out FILE.parquet`."""
    from dualgnn.distributed.export import ExportRequest, run_parallel_export

    req = ExportRequest(artifacts=artifacts, model_dir=model, out=out, k=k, similar=similar,
                        exclude_same_category=exclude_same_category, exclude_linked=exclude_linked,
                        index_kind=index.value, threads=threads, ranked=not gnn_only)

    def worker(group) -> None:
        # --threads 0 in a worker is its share of the machine (the launcher's OMP_NUM_THREADS), not every core:
        # Faiss would otherwise start as many threads as cores in every process.
        share = threads or int(os.environ.get("OMP_NUM_THREADS") or 0)
        done = run_parallel_export(dataclasses.replace(req, threads=share), group)
        if done is not None:
            console.print(f"{done['rows']:,} products' lists in {done['files']} files ({done['index']} index) in "
                          f"{done['seconds']:.1f} s -> {out}", highlight=False, markup=False)

    def procs(machines: int) -> int:
        from dualgnn.artifacts import read_manifest

        read_manifest(artifacts)
        read_manifest(model, kind="model")
        req.check_out()
        return nproc_per_node or os.cpu_count() or 1

    _launch_or_work(worker, procs, ip_config, machine_rank, port, threads)


def _launch_or_work(worker, procs, ip_config: Path | None, machine_rank: int, port: int, threads: int) -> None:
    """In a torchrun process: join the group and run ``worker``. Otherwise: check the inputs (``procs`` returns
    the processes to start here) and run torchrun with this very command line."""
    from dualgnn.distributed.group import process_group
    from dualgnn.distributed.launch import is_worker, read_ip_config, torchrun_command

    if is_worker(os.environ):
        set_threads(threads)
        with process_group("env://") as group:
            worker(group)
        return
    hosts = read_ip_config(ip_config) if ip_config is not None else None
    per_node = procs(len(hosts) if hosts else 1)
    cmd = torchrun_command(sys.argv[1:], nproc_per_node=per_node, hosts=hosts, node_rank=machine_rank, port=port)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads or max(1, (os.cpu_count() or 1) // per_node)))
    code = subprocess.call(cmd, env=env)
    if code != 0:
        raise DualGNNError(f"a process of the run failed (torchrun exit code {code}); its message is above",
                           hint="fix what it names and run the command again")
