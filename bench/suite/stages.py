"""Stage bodies that run inside a fresh child process (``python bench/run.py --stage NAME --job JSON``).

Each body takes the job (paths and settings, plain JSON) and returns a metrics dict with at least ``seconds``
(the time the throughput is computed from), ``count`` (units processed in those seconds), ``unit`` and
``extra``. :func:`run_child` prints that dict, with the process's own CPU seconds and peak RSS, as one JSON
line, the last line of stdout, for the parent to read.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

MINILM_SAMPLE = 2_000  # the sentence encoder runs ~190 texts/s here: a fixed sample keeps the stage short
RECALL_SAMPLE = 10_000  # queries checked against exact search
TOPK = 20
QUERY_BATCH = 50_000

Job = dict
StageBody = Callable[[Job], dict]
STAGE_BODIES: dict[str, StageBody] = {}


def stage_body(name: str) -> Callable[[StageBody], StageBody]:
    """Register a child-side stage body under ``name``."""
    def register(fn: StageBody) -> StageBody:
        STAGE_BODIES[name] = fn
        return fn
    return register


def timed_median(fn: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
    """Run ``fn`` ``repeats`` times; (median seconds, every time, last result)."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), [round(t, 3) for t in times], result


def _products(job: Job):
    import pandas as pd

    return pd.read_parquet(Path(job["graph"]) / "products.parquet")


@stage_body("features-tfidf")
def features_tfidf(job: Job) -> dict:
    """TF-IDF + SVD features of every product (the encoder the training graph uses)."""
    from dualgnn.features.build import build_features
    from dualgnn.features.settings import FeatureSettings

    products = _products(job)
    settings = FeatureSettings(encoder="tfidf")
    median, times, feats = timed_median(lambda: build_features(products, settings, progress=False), job["repeats"])
    return {"seconds": median, "count": len(products), "unit": "products/s",
            "extra": {"times": times, "dim": int(feats.text.shape[1])}}


@stage_body("features-minilm")
def features_minilm(job: Job) -> dict:
    """The pretrained sentence encoder on a seeded sample of at most MINILM_SAMPLE products (model load excluded)."""
    from dualgnn.features.build import build_features
    from dualgnn.features.sentence import load_sentence_model, resolve_model_path
    from dualgnn.features.settings import FeatureSettings

    products = _products(job)
    take = min(MINILM_SAMPLE, len(products))
    rows = np.sort(np.random.default_rng(0).choice(len(products), take, replace=False))
    sample = products.iloc[rows].reset_index(drop=True)
    t0 = time.perf_counter()
    load_sentence_model(str(resolve_model_path(None)))  # cached per process: the timed runs only encode
    load_seconds = time.perf_counter() - t0
    settings = FeatureSettings(encoder="minilm")
    median, times, _ = timed_median(lambda: build_features(sample, settings, progress=False), job["repeats"])
    return {"seconds": median, "count": take, "unit": "products/s", "sampled": True,
            "note": f"sample of {take:,}", "extra": {"times": times, "model_load_seconds": round(load_seconds, 2)}}


def _trained(job: Job):
    """(graph, features, split, loaded model) of the job's graph and model directories."""
    from dualgnn.artifacts import load_graph
    from dualgnn.features.store import Features
    from dualgnn.model.io import load_model
    from dualgnn.split import Split

    graph = load_graph(job["graph"])
    return graph, Features.load(job["graph"]), Split.load(Path(job["model"]) / "split.npz", graph), \
        load_model(job["model"])


@stage_body("inference")
def inference(job: Job) -> dict:
    """A no-grad full forward pass over the training graph for every product (what ``train`` ends with)."""
    from dualgnn.model.embed import embed_all, training_graph
    from dualgnn.model.inputs import NodeInputs

    graph, features, split, loaded = _trained(job)
    g = training_graph(graph, split, loaded.config)
    inputs = NodeInputs.from_features(features)
    cold = split.cold if split.settings.kind == "node" else None
    median, times, _ = timed_median(lambda: embed_all(loaded.model, g, inputs, cold), job["repeats"])
    return {"seconds": median, "count": graph.num_products, "unit": "products/s",
            "extra": {"times": times, "graph_edges": int(g.num_edges())}}


def _recommend_all(rec, n: int) -> np.ndarray:
    """Top-TOPK ids for every product as a query, in batches (``dualgnn recommend --all`` without the file)."""
    return np.concatenate([rec.recommend(np.arange(lo, min(n, lo + QUERY_BATCH)), TOPK)[0]
                           for lo in range(0, n, QUERY_BATCH)])


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k ids (-1 padding ignored) that ``found`` also returned, over all rows."""
    hits = sum(len(np.intersect1d(f[f >= 0], e[e >= 0])) for f, e in zip(found, exact))
    return float(hits / max(1, int((exact >= 0).sum())))


@stage_body("topk")
def topk(job: Job) -> dict:
    """Top-20 for every product with the auto-chosen index; recall@20 and speed against exact IndexFlatIP."""
    from dualgnn.serving.load import load_recommender, recommender_for

    # The index alone (ranked=False): its recall against exact search is what this stage measures.
    graph, rec = load_recommender(job["graph"], job["model"], num_queries=None, threads=job["threads"], ranked=False)
    n = len(rec)
    rec.plan(n)  # the index kind is chosen for n queries, as `recommend --all` does
    t0 = time.perf_counter()
    rec.recommend(np.arange(1), TOPK)  # builds the (lazy) index, so the timed runs measure search alone
    build_seconds = time.perf_counter() - t0
    median, times, found = timed_median(lambda: _recommend_all(rec, n), job["repeats"])
    sample = np.sort(np.random.default_rng(1).choice(n, min(RECALL_SAMPLE, n), replace=False))
    exact = recommender_for(graph, rec.source, rec.target, index_kind="exact", threads=job["threads"])
    t0 = time.perf_counter()
    exact_ids, _ = exact.recommend(sample, TOPK)
    exact_qps = len(sample) / (time.perf_counter() - t0)
    qps = n / median
    return {"seconds": median, "count": n, "unit": "queries/s",
            "extra": {"times": times, "index": rec.index_kind, "index_build_seconds": round(build_seconds, 2),
                      f"recall_at_{TOPK}": round(recall_at_k(found[sample], exact_ids), 4),
                      "recall_sample": len(sample), "exact_queries_per_s": round(exact_qps, 1),
                      "speedup_vs_exact": round(qps / exact_qps, 2)}}


@stage_body("reference")
def reference(job: Job) -> dict:
    """The neighbour-sampled reference trainer (bench/reference.py) for a fixed time budget."""
    try:
        from reference import reference_train
    except ImportError as exc:
        return {"skipped": f"bench/reference.py not importable ({exc})"}
    r = reference_train(Path(job["graph"]), budget_seconds=job["budget_seconds"], seed=0)
    edges = job.get("train_edges") or r.get("train_copurchase_edges", 0)  # same split settings as ours
    return {"seconds": float(r["epoch_seconds_estimate"]), "count": edges, "unit": "edges/s",
            "extra": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}}


def run_child(name: str, job_json: str) -> None:
    """Child entry point: set threads, run stage ``name``, print its metrics as the last stdout line."""
    import torch

    from dualgnn.index import set_threads

    job = json.loads(job_json)
    torch.set_num_threads(job["threads"])
    set_threads(job["threads"])
    if name not in STAGE_BODIES:
        raise SystemExit(f"unknown stage {name!r}; child stages: {', '.join(STAGE_BODIES)}")
    metrics = STAGE_BODIES[name](job)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    metrics["self_report"] = {"peak_rss_bytes": usage.ru_maxrss * 1024,
                              "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                              "torch_threads": torch.get_num_threads()}
    sys.stdout.flush()
    print(json.dumps(metrics, default=float), flush=True)
