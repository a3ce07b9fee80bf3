"""Full-ranking metrics against brute force: exact expected tie handling, filtering, direction accuracy."""

import numpy as np
import pytest

from dualgnn.metrics import RankStats, direction_scores, rank_targets
from dualgnn.scoring import Scorer, adjacency


class MatrixScorer(Scorer):
    """Scores from a fixed (n, n) matrix: row q = scores of every product for query q."""

    def __init__(self, matrix):
        super().__init__(matrix.shape[1])
        self.matrix = np.asarray(matrix, np.float32)

    def score(self, queries):
        return self.matrix[np.asarray(queries, np.int64)]


def _random_case(n=30, m=80, seed=0, levels=4):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n, n)).astype(np.float32)  # few levels: many ties
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    ex_src, ex_dst = rng.integers(0, n, 3 * n), rng.integers(0, n, 3 * n)
    held_out = set(zip(src.tolist(), dst.tolist()))
    ok = np.array([(a, b) not in held_out for a, b in zip(ex_src.tolist(), ex_dst.tolist())], bool)
    exclude = adjacency(ex_src[ok], ex_dst[ok], n)
    return scores, src, dst, exclude


def _candidates(scores, q, exclude):
    banned = set(exclude[q].indices.tolist()) | {q}
    return [v for v in range(scores.shape[1]) if v not in banned]


def _brute_force(scores, src, dst, exclude, k):
    """Exact expectation over a uniformly random order among tied products, by enumerating the target's tie slot."""
    hr, rr = [], []
    for q, v in zip(src.tolist(), dst.tolist()):
        cand = _candidates(scores, q, exclude)
        s = scores[q, cand]
        greater = int((s > scores[q, v]).sum())
        ties = int((s == scores[q, v]).sum()) - 1  # v itself is among the candidates
        ranks = greater + 1 + np.arange(ties + 1)  # each slot equally likely
        hr.append(np.mean(ranks <= k))
        rr.append(np.mean(np.where(ranks <= k, 1.0 / ranks, 0.0)))
    return np.array(hr), np.array(rr)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_targets_matches_brute_force_with_ties(seed):
    scores, src, dst, exclude = _random_case(seed=seed)
    stats = rank_targets(MatrixScorer(scores), src, dst, exclude, batch_products=7 * 30)  # several batches
    for k in (5, 10, 20):
        hr, rr = _brute_force(scores, src, dst, exclude, k)
        np.testing.assert_allclose(stats.hit_rate(k), hr, atol=1e-12)
        np.testing.assert_allclose(stats.reciprocal_rank(k), rr, atol=1e-12)
        summary = stats.summary()
        assert summary[f"HR@{k}"] == pytest.approx(hr.mean())
        assert summary[f"MRR@{k}"] == pytest.approx(rr.mean())


def test_expected_ties_agree_with_monte_carlo_shuffles():
    scores, src, dst, exclude = _random_case(n=25, m=40, seed=7, levels=3)
    stats = rank_targets(MatrixScorer(scores), src, dst, exclude)
    rng = np.random.default_rng(0)
    draws, hits, rrs = 2000, np.zeros(len(src)), np.zeros(len(src))
    for i, (q, v) in enumerate(zip(src.tolist(), dst.tolist())):
        cand = np.array(_candidates(scores, q, exclude))
        for _ in range(draws // 10):
            order = np.lexsort((rng.random(len(cand)), -scores[q, cand]))  # random order among ties
            rank = int(np.flatnonzero(cand[order] == v)[0]) + 1
            hits[i] += rank <= 10
            rrs[i] += 1.0 / rank if rank <= 10 else 0.0
    hits, rrs = hits / (draws // 10), rrs / (draws // 10)
    assert stats.hit_rate(10).mean() == pytest.approx(hits.mean(), abs=0.02)
    assert stats.reciprocal_rank(10).mean() == pytest.approx(rrs.mean(), abs=0.02)


def test_training_out_neighbour_scoring_highest_does_not_push_the_target_down():
    n = 6
    scores = np.zeros((n, n), np.float32)
    scores[0] = [9.0, 8.0, 7.0, 1.0, 0.5, 0.0]  # self 9, training neighbour 1 scores 8, target 2 scores 7
    exclude = adjacency(np.array([0]), np.array([1]), n)
    stats = rank_targets(MatrixScorer(scores), np.array([0]), np.array([2]), exclude)
    assert stats.greater.tolist() == [0] and stats.ties.tolist() == [0]
    assert stats.summary()["HR@5"] == 1.0 and stats.summary()["MRR@5"] == 1.0
    unfiltered = rank_targets(MatrixScorer(scores), np.array([0]), np.array([2]), None)
    assert unfiltered.greater.tolist() == [1]  # self is always filtered; the neighbour then outranks the target


def test_all_tied_scores_give_k_over_candidates():
    n = 41
    stats = rank_targets(MatrixScorer(np.zeros((n, n))), np.array([0]), np.array([5]), None)
    assert stats.hit_rate(10)[0] == pytest.approx(10 / (n - 1))
    assert stats.reciprocal_rank(10)[0] == pytest.approx(sum(1 / r for r in range(1, 11)) / (n - 1))


def test_rank_stats_closed_forms():
    stats = RankStats(greater=np.array([0, 3, 12]), ties=np.array([0, 4, 0]))
    assert stats.hit_rate(5).tolist() == [1.0, 2 / 5, 0.0]
    assert stats.reciprocal_rank(5)[1] == pytest.approx((1 / 4 + 1 / 5) / 5)


def test_direction_scores_counts_ties_half():
    n = 4
    scores = np.zeros((n, n), np.float32)
    scores[0, 1], scores[1, 0] = 2.0, 1.0  # right direction
    scores[2, 3], scores[3, 2] = 0.0, 1.0  # wrong direction
    out = direction_scores(MatrixScorer(scores), np.array([0, 2, 1]), np.array([1, 3, 2]))
    assert out["direction_acc"] == pytest.approx((1 + 0 + 0.5) / 3)  # (1, 2) ties at 0 -> half
    # AUC over the 3 x 3 (forward, backward) score pairs, ties half: forward [2, 0, 0], backward [1, 1, 0]:
    # 2 beats all three, each 0 ties the backward 0 -> (3 + 0.5 + 0.5) / 9.
    assert out["direction_auc"] == pytest.approx(4 / 9)
