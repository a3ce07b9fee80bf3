"""Co-occurrence baseline figures on the EQ1 split used by bench/train_experiments.py (same data loader).

    python bench/cooccurrence_reference.py --data music
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_experiments import load_data  # noqa: E402

from dualgnn.classics.baselines import CooccurrenceScorer  # noqa: E402
from dualgnn.metrics import direction_scores, rank_targets  # noqa: E402
from dualgnn.scoring import adjacency  # noqa: E402
from dualgnn.split import SplitSettings, make_split  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="music")
a = ap.parse_args()
graph, _ = load_data(a.data)
split = make_split(graph, SplitSettings())
n = graph.num_products
tr, te = split.train_copurchase, split.test_copurchase
keys = set(graph.copurchase.keys(n).tolist())
one_way = np.array([d * n + s not in keys for s, d in zip(te.src, te.dst)])
for name, kw in [("cooccurrence", {}), ("cooccurrence-weighted", {"weighted": True}),
                 ("cooccurrence+reverse", {"reverse": 1.0})]:
    sc = CooccurrenceScorer(tr, split.train_coview, n, **kw)
    row = rank_targets(sc, te.src, te.dst, adjacency(tr.src, tr.dst, n)).summary()
    row.update(direction_scores(sc, te.src[one_way], te.dst[one_way]))
    print(json.dumps({"data": a.data, "name": name, **{k: round(v, 4) for k, v in row.items()}}))
