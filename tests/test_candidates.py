"""The ranker's candidates and signals against dense brute force on small random graphs: the path counts through
at most ``HUB_KEEP`` of a middle product's links, each candidate's rank in the path row, and a row's top entries."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from dualgnn.classics.scorers import RowKeys, TrainGraph, top_per_row
from dualgnn.graph import Edges, symmetrise
from dualgnn.ranking import candidates
from dualgnn.ranking.candidates import PATHS, CandidateSizes, RankInputs, make_batch


def _graph(n: int, seed: int) -> TrainGraph:
    rng = np.random.default_rng(seed)
    # A few hubs with many links and many products with few: what makes the cut bite.
    weight = 1.0 / np.arange(1, n + 1) ** 0.8
    weight /= weight.sum()

    def edges(m: int) -> Edges:
        src, dst = rng.choice(n, m, p=weight), rng.choice(n, m, p=rng.permutation(weight))
        keep = src != dst
        return Edges(src[keep], dst[keep], np.ones(int(keep.sum()), np.float32))

    return TrainGraph(edges(6 * n), symmetrise(edges(4 * n), n), n)


def _cut(m: np.ndarray, degree: np.ndarray, k: int) -> np.ndarray:
    """Dense brute force: each row's ``k`` linked columns of highest degree, ties by lower column."""
    out = np.zeros_like(m)
    for r in range(len(m)):
        cols = np.flatnonzero(m[r])
        best = sorted(cols, key=lambda c: (-degree[c], c))[:k]
        out[r, best] = 1.0
    return out


@pytest.mark.parametrize("keep", [2, 5, 1000])
def test_path_counts_run_through_each_middle_products_best_connected_links(monkeypatch, keep):
    monkeypatch.setattr(candidates, "HUB_KEEP", keep)
    n = 60
    g = _graph(n, seed=keep)
    rng = np.random.default_rng(0)
    inputs = RankInputs(g, rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32),
                        {})
    queries = np.arange(0, n, 3)
    batch = make_batch(inputs, queries, CandidateSizes(gnn_k=5, classic_k=0, graph_k=8, popular_k=0))

    dense = {name: m.toarray() for name, m in (("a", g.a), ("at", g.at), ("c", g.c))}
    degree = sum(m.sum(axis=1) for m in dense.values())
    hop = {name: _cut(m, degree, keep) for name, m in dense.items()}
    if keep >= n:  # nothing to cut: the plain two-hop counts
        assert all(np.array_equal(hop[name], dense[name]) for name in hop)
    elif keep == 2:
        assert any(not np.array_equal(hop[name], dense[name]) for name in hop)  # the cut bites here
    counts = {name: dense[h1][queries] @ hop[h2] for name, (h1, h2) in PATHS.items()}
    counts["rev"], counts["cv"] = dense["at"][queries], dense["c"][queries]
    total = sum(counts.values())
    allowed = total.copy()
    allowed[np.arange(len(queries)), queries] = 0.0
    allowed[dense["a"][queries] > 0] = 0.0

    r, v = batch.cand_row, batch.cand_col
    assert len(r) > 0
    for name, m in counts.items():
        np.testing.assert_array_equal(batch.signals[name], m[r, v], err_msg=name)
    np.testing.assert_array_equal(batch.signals["paths"], total[r, v])
    above = (allowed[r] > total[r, v][:, None]).sum(axis=1)
    np.testing.assert_array_equal(batch.signals["rank_paths"], above)
    # Every product among a query's eight best path counts (allowed ones) is a candidate of that query.
    for row in range(len(queries)):
        order = sorted(np.flatnonzero(allowed[row] > 0), key=lambda c: (-allowed[row, c], c))[:8]
        assert set(order) <= set(v[r == row].tolist())


def test_top_per_row_and_row_ranks_match_brute_force_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(200):
        rows, cols = int(rng.integers(0, 12)), 30
        m = sp.random(rows, cols, density=float(rng.uniform(0, 0.9)), random_state=rng, format="csr",
                      dtype=np.float32)
        m.data = np.round(m.data * 4) - (1.0 if rng.random() < 0.3 else 0.0)  # ties and negative values
        m.eliminate_zeros()
        k = int(rng.integers(1, 12))
        top = top_per_row(m.copy(), k).toarray()
        dense = m.toarray()
        keys = RowKeys(m)
        for row in range(rows):
            stored = np.flatnonzero(dense[row] != 0)
            best = sorted(stored, key=lambda c: (-dense[row, c], c))[:k]
            np.testing.assert_array_equal(np.flatnonzero(top[row]), np.sort(best))
            np.testing.assert_array_equal(top[row, best], dense[row, best])
            values = rng.choice(np.concatenate([dense[row, stored], [0.0, 0.5]]), 5)
            np.testing.assert_array_equal(keys.above(np.full(5, row), values),
                                          [(dense[row, stored] > x).sum() for x in values])
