"""Baselines with known answers: hand-computed co-occurrence, popularity by in-degree, batch == single."""

import numpy as np
import pytest

from dualgnn.classics.baselines import CooccurrenceScorer, PopularityScorer, TextKNNScorer
from dualgnn.graph import Edges, symmetrise


def _edges(pairs, weights=None):
    src, dst = (np.array(x, np.int64) for x in zip(*pairs))
    w = np.ones(len(pairs), np.float32) if weights is None else np.array(weights, np.float32)
    return Edges(src, dst, w)


N = 6
# co-purchase 0->1, 0->2, 1->2, 1->3, 2->3; co-view 1~4, 3~5 (stored both ways)
A = _edges([(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)], [3, 1, 1, 1, 1])
C = symmetrise(_edges([(1, 4), (3, 5)]), N)


def test_cooccurrence_matches_hand_computed_two_hop_counts():
    m = CooccurrenceScorer(A, C, N).score(np.arange(N))
    expected = np.zeros((N, N), np.float32)
    # A.A: 0->1->2, 0->1->3, 0->2->3, 1->2->3
    expected[0, 2] += 1; expected[0, 3] += 2; expected[1, 3] += 1  # noqa: E702
    # A.C: 0->1~4, 1->3~5, 2->3~5
    expected[0, 4] += 1; expected[1, 5] += 1; expected[2, 5] += 1  # noqa: E702
    # C.A: 4~1->2, 4~1->3 (5~3 and 3~5 lead nowhere: 3 and 5 have no out-edges)
    expected[4, 2] += 1; expected[4, 3] += 1  # noqa: E702
    np.testing.assert_array_equal(m, expected)


def test_cooccurrence_options():
    base = CooccurrenceScorer(A, C, N).score(np.arange(N))
    no_cv = CooccurrenceScorer(A, C, N, coview=False).score(np.arange(N))
    assert no_cv[0, 4] == 0 and no_cv[0, 3] == 2 and no_cv[4].sum() == 0
    rev = CooccurrenceScorer(A, C, N, reverse=0.5).score(np.arange(N))
    np.testing.assert_array_equal(rev - base, 0.5 * _dense(A).T)
    weighted = CooccurrenceScorer(A, C, N, weighted=True).score(np.arange(N))
    assert weighted[0, 3] == 3 * 1 + 1 * 1  # 0-(3)->1->3 plus 0-(1)->2->3


def test_cooccurrence_cold_query_scores_all_zero():
    s = CooccurrenceScorer(A, C, N + 1).score(np.array([N]))  # product 6 has no edges
    assert s.shape == (1, N + 1) and not s.any()


def test_popularity_ranks_by_in_degree():
    pop = PopularityScorer(A, N)
    assert pop.popularity.tolist() == [0, 1, 2, 2, 0, 0]
    ids, _ = pop.recommend(np.array([5]), 3)
    assert ids[0].tolist() == [2, 3, 1]  # ties broken by the lower id
    assert PopularityScorer(A, N, weighted=True).popularity.tolist() == [0, 3, 2, 2, 0, 0]
    np.testing.assert_array_equal(pop.pair_score(np.array([0, 4]), np.array([3, 1])), [2, 1])


def _dense(e):
    m = np.zeros((N, N), np.float32)
    m[e.src, e.dst] = 1
    return m


def _scorers():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(N, 8)).astype(np.float32)
    return [PopularityScorer(A, N), CooccurrenceScorer(A, C, N), CooccurrenceScorer(A, C, N, reverse=1.0),
            TextKNNScorer(text)]


@pytest.mark.parametrize("scorer", _scorers(), ids=lambda s: s.name)
def test_batch_equals_single(scorer):
    queries = np.array([0, 3, 1, 4])
    batch = scorer.score(queries)
    assert batch.shape == (4, N) and batch.dtype == np.float32
    for i, q in enumerate(queries):
        np.testing.assert_allclose(scorer.score(np.array([q]))[0], batch[i], rtol=1e-6)
    ids, vals = scorer.recommend(queries, 3)
    for i, q in enumerate(queries):
        one_ids, one_vals = scorer.recommend(np.array([q]), 3)
        assert one_ids[0].tolist() == ids[i].tolist()
        np.testing.assert_allclose(one_vals[0], vals[i], rtol=1e-6)
    src, dst = np.array([0, 1, 4]), np.array([3, 5, 2])
    np.testing.assert_allclose(scorer.pair_score(src, dst), batch[[0, 2, 3], dst], rtol=1e-6)


def test_text_knn_is_cosine_and_accepts_sparse():
    import scipy.sparse as sp

    text = np.array([[1, 0], [2, 0], [0, 3], [1, 1]], np.float32)
    dense = TextKNNScorer(text).score(np.arange(4))
    np.testing.assert_allclose(np.diag(dense), 1.0, rtol=1e-6)
    assert dense[0, 1] == pytest.approx(1.0) and dense[0, 2] == 0 and dense[0, 3] == pytest.approx(2 ** -0.5)
    np.testing.assert_allclose(TextKNNScorer(sp.csr_matrix(text)).score(np.arange(4)), dense, rtol=1e-6)
    assert TextKNNScorer(np.zeros((2, 3))).score(np.array([0])).tolist() == [[0.0, 0.0]]  # empty text: no NaN
