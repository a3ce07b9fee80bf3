"""TargetIndex: exact equals brute force, HNSW keeps recall, exclusions never cost results."""

from __future__ import annotations

import numpy as np
import pytest

from dualgnn.index import TargetIndex, choose_kind


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _brute(q, t, k, banned=None):
    s = q @ t.T
    if banned is not None:
        s[banned] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


def test_exact_index_equals_brute_force():
    rng = np.random.default_rng(0)
    t, q = _unit(rng, 3000, 32), _unit(rng, 50, 32)
    ids, scores = TargetIndex(t, kind="exact").search(q, 15)
    want_ids, want_scores = _brute(q, t, 15)
    assert (ids == want_ids).all()
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)


def test_exclusion_refetches_until_k_results():
    # Exclude the 300 best targets of every query: a k + extra over-fetch cannot survive that, re-fetching must.
    rng = np.random.default_rng(1)
    t, q = _unit(rng, 2000, 16), _unit(rng, 20, 16)
    best = _brute(q, t, 300)[0]
    banned = np.zeros((20, 2000), bool)
    np.put_along_axis(banned, best, True, axis=1)
    ids, scores = TargetIndex(t, kind="exact").search(q, 10, exclude=lambda rows, c: banned[rows[:, None], c])
    want_ids, _ = _brute(q, t, 10, banned)
    assert (ids == want_ids).all() and np.isfinite(scores).all()


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_huge_exclusion_falls_back_to_exact_rows(kind):
    # Half the catalog excluded (a giant category): the re-fetch passes 4096 and switches to exact rows.
    rng = np.random.default_rng(3)
    t, q = _unit(rng, 10_000, 16), _unit(rng, 1, 16)
    banned = np.zeros(10_000, bool)
    banned[np.argsort(-(q[0] @ t.T))[:6000]] = True
    ids, _ = TargetIndex(t, kind=kind).search(q, 10, exclude=lambda rows, c: banned[c] & (c >= 0))
    want, _ = _brute(q, t, 10, banned[None].copy())
    assert (ids == want).all()


def test_catalog_smaller_than_k_pads_with_minus_one():
    t = np.eye(4, dtype=np.float32)
    ids, scores = TargetIndex(t, kind="exact").search(t[:1], 6, exclude=lambda rows, c: c == 0)
    assert sorted(ids[0, :3].tolist()) == [1, 2, 3] and ids[0, 3:].tolist() == [-1, -1, -1]
    assert np.isneginf(scores[0, 3:]).all()


def test_subset_index_returns_catalog_ids():
    t = np.eye(5, dtype=np.float32)
    idx = TargetIndex(t[[1, 3]], ids=np.array([1, 3]), kind="exact")
    assert idx.search(t[[3]], 1)[0].tolist() == [[3]]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_at_20(kind):
    # Clustered unit vectors like a trained model's, 20k x 64-d: recall@20 against exact search >= 0.95.
    rng = np.random.default_rng(2)
    centres = _unit(rng, 200, 64)
    t = centres[rng.integers(0, 200, 20_000)] + 0.1 * rng.standard_normal((20_000, 64)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    q = t[rng.choice(20_000, 500, replace=False)] + 0.05 * rng.standard_normal((500, 64)).astype(np.float32)
    exact, _ = TargetIndex(t, kind="exact").search(q, 20)
    approx, _ = TargetIndex(t, kind=kind).search(q, 20)
    recall = np.mean([len(np.intersect1d(a, e)) / 20 for a, e in zip(approx, exact)])
    assert recall >= 0.95, recall


def test_auto_kind_by_work():
    assert choose_kind(10_000) == "exact"
    assert choose_kind(2_000_000, num_queries=5) == "exact"   # a few queries: nothing worth building
    assert choose_kind(2_000_000, num_queries=2_000_000) == "hnsw"
    assert choose_kind(100_000, online=True) == "hnsw" and choose_kind(5_000, online=True) == "exact"  # a server
    assert TargetIndex(np.eye(3, dtype=np.float32)).kind == "exact"


def test_bad_kind_is_rejected():
    with pytest.raises(ValueError):
        TargetIndex(np.eye(3, dtype=np.float32), kind="annoy")
