"""Model experiments on the EQ1 protocol: edge split 75/5/20 seed 0, full ranking on the test edges filtered by
training out-neighbours; direction accuracy on test edges whose reverse is absent from the whole graph.

    python bench/train_experiments.py --data music --name default                 # the default preset
    python bench/train_experiments.py --data music --name paper --preset paper
    python bench/train_experiments.py --data music --name no-self -- self_term=False
Appends one JSON line per run to bench/results/train_experiments.jsonl.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def load_data(name: str):
    """(ProductGraph, features) for "music" or "gift": see bench/experiment_data.py (TF-IDF + SVD 256-d text)."""
    from experiment_data import load

    return load(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="music")
    ap.add_argument("--name", required=True)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("overrides", nargs="*", help="field=value TrainConfig overrides")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)  # 1 thread: on a loaded 2-core machine OpenMP spin-waits cost 5-8x
    from dualgnn.config import TrainConfig
    from dualgnn.metrics import direction_scores, rank_targets
    from dualgnn.scoring import EmbeddingScorer, adjacency
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.loop import train

    over = {}
    for kv in a.overrides:
        k, v = kv.split("=", 1)
        try:
            over[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            over[k] = v
    config = TrainConfig.preset(a.preset, **over)
    graph, feats = load_data(a.data)
    split = make_split(graph, SplitSettings())
    t0, c0 = time.perf_counter(), time.process_time()
    res = train(graph, feats, split, config, progress=False)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    n = graph.num_products
    tr, te = split.train_copurchase, split.test_copurchase
    scorer = EmbeddingScorer(res.source, res.target)
    summary = rank_targets(scorer, te.src, te.dst, adjacency(tr.src, tr.dst, n)).summary()
    all_keys = set(graph.copurchase.keys(n).tolist())
    one_way = np.array([d * n + s not in all_keys for s, d in zip(te.src, te.dst)])
    summary.update(direction_scores(scorer, te.src[one_way], te.dst[one_way]))
    # time to the best validation epoch (history seconds exclude validation)
    best_t = sum(h["seconds"] for h in res.history if h["epoch"] <= res.best_epoch)
    row = {"data": a.data, "name": a.name, "preset": a.preset, "overrides": over, **{k: round(v, 4) for k, v in summary.items()},
           "best_epoch": res.best_epoch, "best_val_hr10": round(res.best_val, 4), "epochs_run": len(res.history),
           "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu_seconds, 1), "seconds_to_best": round(best_t, 1)}
    print(json.dumps(row))
    out = Path(__file__).parent / "results" / "train_experiments.jsonl"
    out.parent.mkdir(exist_ok=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
