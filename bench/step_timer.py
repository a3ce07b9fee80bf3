"""Time whole-graph training steps without a profiler: wall, user and system CPU, page faults, peak memory.

    python bench/step_timer.py GRAPH_DIR [--steps 3] [--fast-alloc] [--blend 0] [--set k=v ...] # GRAPH_DIR from build-graph
    THP_MEM_ALLOC_ENABLE=0 python bench/step_timer.py GRAPH_DIR                    # without huge pages
    python bench/step_timer.py GRAPH_DIR --code OTHER_CHECKOUT                     # another version's code

One warm-up step, then ``--steps`` steps of the default preset's full-graph training (the trainer's own batch,
forward, chunked loss, backward and optimiser step), each printed as it ends; the medians and the peak RSS end
the output, as one JSON line. Run versions one after the other on a quiet machine to compare them: step time at
1M products depends mostly on how the process gets memory (see README "Performance").
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graph", type=Path)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fast-alloc", action="store_true", help="dualgnn.training.memory.keep_freed_memory() first")
    ap.add_argument("--blend", type=float, default=None, help="override the default preset's blend")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="other TrainConfig overrides")
    ap.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1],
                    help="repository whose dualgnn package to time (default: this one)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.code))
    import dualgnn  # noqa: F401  (older checkouts set torch's huge-page switch when imported)

    try:
        from dualgnn.training.memory import use_huge_pages
    except ImportError:
        pass
    else:
        use_huge_pages()  # before torch, as the `dualgnn` command does

    import torch

    torch.set_num_threads(args.threads)
    from dualgnn.artifacts import load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.features.store import Features
    from dualgnn.model.embed import training_graph
    from dualgnn.model.encoder import build_model
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.chunked import chunked_loss
    from dualgnn.training.steps import TrainEdges, id_mask

    graph, features = load_graph(args.graph), Features.load(args.graph)
    split = make_split(graph, SplitSettings())
    overrides = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    if args.blend is not None:
        overrides["blend"] = args.blend
    config = TrainConfig.preset("default", **overrides)
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(features)
    model = build_model(config, inputs)
    try:
        from dualgnn.training.optim import make_optimizer
    except ImportError:  # versions before make_optimizer
        def make_optimizer(m, c):
            return torch.optim.Adam(m.parameters(), lr=c.lr)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(0)
    try:  # as the trainer: the optimiser state exists before the first step
        from dualgnn.training.optim import init_optimizer_state

        init_optimizer_state(optimizer)
    except ImportError:  # versions before it
        pass
    edges = TrainEdges.from_split(split, config, graph.num_products)
    # dualgnn.training.steps.full_batch_size, spelled out: --code may point at a checkout that predates it.
    batch_size = max(config.batch_size, -(-len(edges.src) // config.max_steps_per_epoch))
    def endless():  # small graphs have fewer batches per epoch than steps asked for: start another epoch
        while True:
            yield from edges.batches(batch_size, generator)

    batches = endless()
    warm = torch.ones(graph.num_products)

    if args.fast_alloc:  # as ``train(fast_alloc=True)``: from the first step on
        from dualgnn.training.memory import keep_freed_memory

        keep_freed_memory()
    rows = []
    for i in range(args.steps + 1):
        r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        s, t = model(g, inputs, id_mask=id_mask(graph.num_products, warm, config.id_dropout, generator))
        loss = chunked_loss(config, s, t, next(batches), generator, None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        del s, t, loss
        r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        row = {"step": i, "wall_s": round(w1 - w0, 2), "user_s": round(r1.ru_utime - r0.ru_utime, 2),
               "system_s": round(r1.ru_stime - r0.ru_stime, 2), "page_faults": r1.ru_minflt - r0.ru_minflt}
        rows.append(row)
        print(row, "(warm-up)" if i == 0 else "", flush=True)
    timed = rows[1:] or rows
    print(json.dumps({
        "products": graph.num_products, "code": str(args.code), "fast_alloc": args.fast_alloc,
        "huge_pages": os.environ.get("THP_MEM_ALLOC_ENABLE"), "blend": config.blend,
        "median_step_s": statistics.median(r["wall_s"] for r in timed),
        "median_system_s": statistics.median(r["system_s"] for r in timed),
        "median_page_faults": statistics.median(r["page_faults"] for r in timed),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2), "steps": rows}))


if __name__ == "__main__":
    main()
