"""Benchmark (not a test): top-20 for every product of a large catalog with the auto-chosen approximate index.

Vectors imitate a trained dual-embedding model: targets come from a Gaussian mixture on the unit sphere (one
component per leaf category) and each product's source vector points at the mixture component of a *related*
category (phone -> case), plus noise; both are L2-normalised like the model's output.

Reports index build time, queries/s and recall@k of the approximate index on the whole catalog (self excluded,
as `dualgnn recommend --all` does), and exact IndexFlatIP queries/s on a sample, against which recall is measured.

    python bench/topk.py                      # 1M x 64-d, k=20, 10k-query recall sample
    python bench/topk.py --n 200000 --kind ivf
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dualgnn.index import TargetIndex, choose_kind, set_threads  # noqa: E402


def mixture_vectors(n: int, d: int, components: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(source (n, d), target (n, d))`` float32, unit rows; source of a product aims at a related component."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    # Zipf-like category sizes: a few big categories, a long tail (as in real catalogs).
    p = 1.0 / np.arange(1, components + 1) ** 0.8
    comp = rng.choice(components, size=n, p=p / p.sum())
    related = rng.permutation(components)  # category c's products lead to category related[c]
    out = []
    for centre_of in (related[comp], comp):  # source, target
        v = centres[centre_of] + rng.standard_normal((n, d), dtype=np.float32) * (noise / np.sqrt(d))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out.append(v)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--components", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=0.8, help="norm of the per-product noise around its centre")
    ap.add_argument("--kind", default="auto")
    ap.add_argument("--ef-search", type=int, default=96)
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument("--sample", type=int, default=10_000, help="queries for recall and exact queries/s")
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--ef-sweep", default="", help="comma-separated efSearch values to also try on the sample")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "topk.json")
    args = ap.parse_args()
    threads = set_threads(0)

    t0 = time.perf_counter()
    source, target = mixture_vectors(args.n, args.d, args.components, args.noise, seed=0)
    t_data = time.perf_counter() - t0
    kind = choose_kind(args.n) if args.kind == "auto" else args.kind

    print(f"data: {args.n:,} x {args.d} in {t_data:.1f}s; building {kind} index", flush=True)
    c0, t0 = time.process_time(), time.perf_counter()
    index = TargetIndex(target, kind=kind, hnsw_m=args.hnsw_m, ef_construction=args.ef_construction,
                        ef_search=args.ef_search, nprobe=args.nprobe)
    t_build, c_build = time.perf_counter() - t0, time.process_time() - c0
    print(f"built in {t_build:.1f}s; searching", flush=True)

    def no_self(offset: int):
        return lambda rows, cand: cand == (rows + offset)[:, None]

    all_ids = np.empty((args.n, args.k), np.int64)
    c0, t0 = time.process_time(), time.perf_counter()
    for lo in range(0, args.n, args.batch):
        hi = min(args.n, lo + args.batch)
        all_ids[lo:hi], _ = index.search(source[lo:hi], args.k, exclude=no_self(lo), extra=args.k + 8)
    t_search, c_search = time.perf_counter() - t0, time.process_time() - c0
    print(f"searched in {t_search:.1f}s; exact sample", flush=True)

    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(args.n, size=min(args.sample, args.n), replace=False))
    exact = TargetIndex(target, kind="exact")
    c0, t0 = time.process_time(), time.perf_counter()
    exact_ids, _ = exact.search(source[sample], args.k, exclude=lambda rows, c: c == sample[rows][:, None],
                                extra=args.k + 8)
    t_exact, c_exact = time.perf_counter() - t0, time.process_time() - c0
    hits = [len(np.intersect1d(a, e)) for a, e in zip(all_ids[sample], exact_ids)]
    recall = float(np.sum(hits) / exact_ids.size)

    sweep = []
    for ef in [int(x) for x in args.ef_sweep.split(",") if x.strip()]:
        index.ef_search = ef
        c0, t0 = time.process_time(), time.perf_counter()
        ids, _ = index.search(source[sample], args.k, exclude=lambda rows, c: c == sample[rows][:, None],
                              extra=args.k + 8)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        hit = sum(len(np.intersect1d(a, e)) for a, e in zip(ids, exact_ids)) / exact_ids.size
        sweep.append({"ef_search": ef, f"recall_at_{args.k}": round(float(hit), 4),
                      "queries_per_s": round(len(sample) / wall),
                      "idle_queries_per_s": round(len(sample) / (cpu / threads))})
        print(sweep[-1], flush=True)

    result = {
        "n": args.n, "d": args.d, "k": args.k, "kind": kind, "threads": threads,
        "params": {"hnsw_m": args.hnsw_m, "ef_construction": args.ef_construction, "ef_search": args.ef_search,
                   "nprobe": args.nprobe, "components": args.components, "noise": args.noise},
        "data_seconds": round(t_data, 1), "build_seconds": round(t_build, 1),
        "search_seconds": round(t_search, 1), "total_seconds": round(t_build + t_search, 1),
        "queries_per_s": round(args.n / t_search), f"recall_at_{args.k}": round(recall, 4),
        "exact_sample": len(sample), "exact_queries_per_s": round(len(sample) / t_exact),
        "exact_full_catalog_seconds_est": round(args.n / (len(sample) / t_exact)),
        "speedup_vs_exact": round((args.n / t_search) / (len(sample) / t_exact), 1),
        # Other jobs shared these 2 cores during the runs; CPU seconds / threads is the wall time on an idle
        # machine (Faiss HNSW build and search scale about linearly with threads).
        "cpu_seconds": {"build": round(c_build, 1), "search": round(c_search, 1), "exact": round(c_exact, 1)},
        "idle_estimate": {"build_seconds": round(c_build / threads, 1), "search_seconds": round(c_search / threads, 1),
                          "total_seconds": round((c_build + c_search) / threads, 1),
                          "queries_per_s": round(args.n / (c_search / threads)),
                          "exact_queries_per_s": round(len(sample) / (c_exact / threads))},
        "ef_sweep": sweep,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "machine": platform.platform(), "faiss": __import__("faiss").__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
