"""Where a training step's time goes: phases (forward, loss, backward, optimiser) and, inside them, kinds of work
(message passing, dense layers, gathering, loss arithmetic, optimiser, other), from torch.profiler's self times.

    python bench/profile_train.py GRAPH_DIR [--steps 2] [--threads 2]   # GRAPH_DIR from dualgnn build-graph

One warm-up step, then ``--steps`` profiled steps of the default preset's full-graph training (the same
make_step/chunked_loss the trainer uses). Prints two tables and writes bench/results/profile-<products>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Operator name fragments -> kind of work (first match wins; self CPU time is summed per kind).
KINDS = [
    ("message passing (sparse products)", ("sparse", "spmm", "gspmm", "csr")),
    ("dense layers (matmul)", ("addmm", "aten::mm", "matmul", "linear", "aten::bmm")),
    ("gathering / scattering rows", ("index_select", "embedding", "index_put", "index_add", "gather", "scatter",
                                     "aten::index", "searchsorted", "unique", "randperm", "randint")),
    ("softmax / cross-entropy", ("softmax", "nll_loss", "cross_entropy", "logsumexp")),
    ("optimiser (Adam)", ("adam", "_foreach", "addcdiv", "lerp", "sqrt")),
    ("elementwise (norms, activations, sums)", ("norm", "relu", "mul", "add", "div", "sum", "sub", "clamp",
                                                "copy_", "fill", "exp", "mean", "stack", "cat", "where")),
]


def kind_of(op: str) -> str:
    low = op.lower()
    for kind, needles in KINDS:
        if any(n in low for n in needles):
            return kind
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graph", type=Path)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from dualgnn.artifacts import load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.features.store import Features
    from dualgnn.model.embed import training_graph
    from dualgnn.model.encoder import build_model
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.chunked import chunked_loss
    from dualgnn.training.optim import make_optimizer
    from dualgnn.training.steps import TrainEdges, full_batch_size, id_mask

    graph, features = load_graph(args.graph), Features.load(args.graph)
    split = make_split(graph, SplitSettings())
    config = TrainConfig.preset("default")
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(features)
    model = build_model(config, inputs)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(0)
    edges = TrainEdges.from_split(split, config, graph.num_products)
    batch_size = full_batch_size(config, len(edges.src))
    warm = torch.ones(graph.num_products)

    phases: dict[str, list[float]] = defaultdict(list)

    def step() -> None:
        batch = next(edges.batches(batch_size, generator))
        marks = [time.perf_counter()]
        with torch.profiler.record_function("forward"):
            s, t = model(g, inputs, id_mask=id_mask(graph.num_products, warm, config.id_dropout, generator))
        marks.append(time.perf_counter())
        with torch.profiler.record_function("loss"):
            loss = chunked_loss(config, s, t, batch, generator, None)
        marks.append(time.perf_counter())
        optimizer.zero_grad()
        with torch.profiler.record_function("backward"):
            loss.backward()
        marks.append(time.perf_counter())
        with torch.profiler.record_function("optimiser"):
            optimizer.step()
        marks.append(time.perf_counter())
        for name, a, b in zip(("forward", "loss (chunks, incl. their backward)", "backward through the GNN",
                               "optimiser"), marks, marks[1:]):
            phases[name].append(b - a)

    step()  # warm-up: allocations, first-touch of the CSR matrices
    phases.clear()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    kinds: dict[str, float] = defaultdict(float)
    for ev in prof.key_averages():
        if ev.key in ("forward", "loss", "backward", "optimiser"):
            continue
        kinds[kind_of(ev.key)] += ev.self_cpu_time_total / 1e6 / args.steps
    report = {
        "products": graph.num_products, "training_edges": len(edges.src), "batch_edges": batch_size,
        "steps_per_epoch": -(-len(edges.src) // batch_size), "threads": args.threads, "machine": platform.processor(),
        "phase_seconds_per_step": {k: sorted(v)[len(v) // 2] for k, v in phases.items()},
        "kind_seconds_per_step": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "top_ops": [(ev.key, ev.self_cpu_time_total / 1e6 / args.steps)
                    for ev in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]],
    }
    print_report(report)
    out = Path(__file__).parent / "results" / f"profile-{graph.num_products}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"-> {out}")


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report['products']:,} products, {report['training_edges']:,} training edges, "
                  f"{report['batch_edges']:,} edges per step, {report['steps_per_epoch']} steps per epoch, "
                  f"peak RSS {report['peak_rss_gb']:.1f} GB")
    for title, key in (("phase", "phase_seconds_per_step"), ("kind of work (self CPU time)", "kind_seconds_per_step")):
        table = Table(title)
        table.add_column("seconds per step", justify="right")
        table.add_column("share", justify="right")
        total = sum(report[key].values())
        for name, sec in report[key].items():
            table.add_row(name, f"{sec:.2f}", f"{sec / total:.0%}")
        console.print(table)


if __name__ == "__main__":
    main()
