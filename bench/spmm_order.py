"""Sparse-product speed of a built graph in three node orders: the catalog's, reverse Cuthill-McKee (locality
preserving) and random. Answers "are the sparse products what grows super-linearly?" (README, Performance).

    python bench/spmm_order.py GRAPH_DIR      # a dualgnn build-graph directory; 64-d, 2 threads, median of 5

Measured (synthetic catalogs, catalog order): 100k products 15.5 M edges/s, 1M products 16.6 M edges/s; RCM order
1.2-1.5x faster at 1M.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import reverse_cuthill_mckee

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dualgnn.artifacts import load_graph  # noqa: E402
from dualgnn.model.spmm import _to_torch  # noqa: E402


def seconds_per_product(m: sp.csr_matrix, x: torch.Tensor, repeats: int = 5) -> float:
    """Median seconds of ``m @ x`` as a torch CSR product."""
    a = _to_torch(m)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.sparse.mm(a, x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def reorder(m: sp.csr_matrix, perm: np.ndarray) -> sp.csr_matrix:
    out = m[perm][:, perm].tocsr()
    out.sort_indices()
    return out


def main() -> None:
    torch.set_num_threads(2)
    graph = load_graph(sys.argv[1])
    n = graph.num_products
    mats = {name: sp.csr_matrix((np.ones(len(e.src), np.float32), (e.dst, e.src)), shape=(n, n))
            for name, e in (("copurchase", graph.copurchase), ("coview", graph.coview))}
    pattern = sum((m + m.T for m in mats.values()), sp.csr_matrix((n, n), dtype=np.float32)).tocsr()
    t0 = time.perf_counter()
    rcm = reverse_cuthill_mckee(pattern, symmetric_mode=True)
    print(f"{n:,} products; reverse Cuthill-McKee order in {time.perf_counter() - t0:.1f} s")
    x = torch.randn(n, 64)
    orders = {"catalog": None, "rcm": rcm, "random": np.random.default_rng(0).permutation(n)}
    for name, m in mats.items():
        for label, perm in orders.items():
            sec = seconds_per_product(m if perm is None else reorder(m, perm), x)
            print(f"{name:10s} {label:8s} order: {sec:.3f} s  {m.nnz / sec / 1e6:.1f} M edges/s ({m.nnz:,} edges)")


if __name__ == "__main__":
    main()
