"""EQ4 cold start: node split 75/5/20 seed 0; test products lose every edge and are placed by the cold-start path.
Compares the two link types of dualgnn.model.coldstart (borrow, coview) on the same trained model.

    python bench/coldstart_experiments.py --data gift
Appends to bench/results/coldstart_experiments.jsonl.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_experiments import load_data  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="gift")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from dualgnn.config import TrainConfig
    from dualgnn.metrics import rank_targets
    from dualgnn.model.coldstart import cold_start_embeddings
    from dualgnn.model.embed import training_graph
    from dualgnn.scoring import EmbeddingScorer, adjacency
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.loop import train

    graph, feats = load_data(a.data)
    split = make_split(graph, SplitSettings(kind="node"))
    n = graph.num_products
    config = TrainConfig.preset("default")
    t0 = time.perf_counter()
    res = train(graph, feats, split, config, progress=False)
    g = training_graph(graph, split, config)
    warm = np.ones(n, bool)
    warm[split.cold] = False
    tr, te = split.train_copurchase, split.test_copurchase
    exclude = adjacency(tr.src, tr.dst, n)
    out = Path(__file__).parent / "results" / "coldstart_experiments.jsonl"
    out.parent.mkdir(exist_ok=True)
    for link in ("borrow", "coview"):
        s, t = res.source.copy(), res.target.copy()
        cs, ct = cold_start_embeddings(res.model, config, g, feats, split.cold, warm, link=link)
        s[split.cold], t[split.cold] = cs, ct
        summary = rank_targets(EmbeddingScorer(s, t), te.src, te.dst, exclude).summary()
        row = {"data": a.data, "link": link, **{k: round(v, 4) for k, v in summary.items()},
               "test_edges": int(len(te)), "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(row))
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
