"""Full-ranking metrics over all products (never sampled negatives).

For a held-out edge ``u -> v`` the query ``u`` scores every product; ``u`` itself and ``u``'s training
out-neighbours are filtered out. The rank of ``v`` counts products scoring strictly higher (``g``) and ties
(``t``); ties are broken uniformly at random *in expectation*, so HR@k and MRR@k are exact expected values rather
than depending on an arbitrary tie order (which matters for count-based baselines with many zero scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dualgnn.scoring import Scorer, mask_scores

KS = (5, 10, 20)


@dataclass
class RankStats:
    """Per held-out edge: products scored strictly higher (``greater``) and tied (``ties``), excluding ``v``."""

    greater: np.ndarray
    ties: np.ndarray

    def hit_rate(self, k: int) -> np.ndarray:
        """P(rank <= k) per edge, shape ``(m,)``."""
        return np.clip((k - self.greater) / (self.ties + 1.0), 0.0, 1.0)

    def reciprocal_rank(self, k: int) -> np.ndarray:
        """E[1/rank if rank <= k else 0] per edge, shape ``(m,)``."""
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, k + 1))])
        lo = np.minimum(self.greater, k)
        hi = np.minimum(self.greater + self.ties + 1, k)
        return (harmonic[hi] - harmonic[lo]) / (self.ties + 1.0)

    def summary(self, ks: tuple[int, ...] = KS) -> dict[str, float]:
        out: dict[str, float] = {}
        for k in ks:
            out[f"HR@{k}"] = float(self.hit_rate(k).mean()) if len(self.greater) else float("nan")
            out[f"MRR@{k}"] = float(self.reciprocal_rank(k).mean()) if len(self.greater) else float("nan")
        return out


def rank_targets(scorer: Scorer, queries: np.ndarray, targets: np.ndarray, exclude: sp.csr_matrix | None,
                 *, batch_products: int = 1 << 25) -> RankStats:
    """Rank each ``targets[i]`` among all products for ``queries[i]``, filtered by ``exclude`` and self.

    ``exclude``: ``(n, n)`` sparse, row ``q`` = products filtered for query ``q`` (training out-neighbours).
    Queries are scored once per distinct query, in batches bounded to ``batch_products`` score cells.
    """
    queries = np.asarray(queries, np.int64)
    targets = np.asarray(targets, np.int64)
    n = scorer.num_products
    greater = np.zeros(len(queries), np.int64)
    ties = np.zeros(len(queries), np.int64)
    uniq, inverse = np.unique(queries, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    step = max(1, batch_products // max(n, 1))
    for b0 in range(0, len(uniq), step):
        qs = uniq[b0:b0 + step]
        scores = np.asarray(scorer.score(qs), dtype=np.float32).copy()
        mask_scores(scores, qs, exclude=exclude, exclude_self=True)
        edge_idx = order[starts[b0]:starts[min(b0 + step, len(uniq))]]
        rows = inverse[edge_idx] - b0
        s_true = scores[rows, targets[edge_idx]]
        # Held-out targets are never in the exclusion set (splits are disjoint), so s_true is finite
        # unless a caller passes overlapping edges: those count as misses.
        block = scores[rows]
        greater[edge_idx] = (block > s_true[:, None]).sum(axis=1)
        ties[edge_idx] = (block == s_true[:, None]).sum(axis=1) - 1
        bad = ~np.isfinite(s_true)
        greater[edge_idx[bad]] = n
        ties[edge_idx[bad]] = 0
    return RankStats(greater=greater, ties=np.maximum(ties, 0))


def direction_scores(scorer: Scorer, src: np.ndarray, dst: np.ndarray) -> dict[str, float]:
    """EQ3: for one-way edges ``u -> v``, the share with ``score(u, v) > score(v, u)`` (ties count half) and the AUC
    of telling the true direction from the reversed one."""
    from sklearn.metrics import roc_auc_score

    if len(src) == 0:
        return {"direction_acc": float("nan"), "direction_auc": float("nan")}
    fwd = pair_scores(scorer, src, dst)
    bwd = pair_scores(scorer, dst, src)
    acc = float(np.mean((fwd > bwd) + 0.5 * (fwd == bwd)))
    labels = np.concatenate([np.ones(len(fwd)), np.zeros(len(bwd))])
    auc = float(roc_auc_score(labels, np.concatenate([fwd, bwd])))
    return {"direction_acc": acc, "direction_auc": auc}


def pair_scores(scorer: Scorer, src: np.ndarray, dst: np.ndarray, batch: int = 4096) -> np.ndarray:
    """``score(src[i], dst[i])`` for each pair, shape ``(m,)``; uses ``scorer.pair_score`` when it has one."""
    fast = getattr(scorer, "pair_score", None)
    if fast is not None:
        return np.asarray(fast(src, dst), np.float64)
    out = np.empty(len(src), np.float64)
    for i in range(0, len(src), batch):
        s = np.asarray(scorer.score(src[i:i + batch]))
        out[i:i + batch] = s[np.arange(len(s)), dst[i:i + batch]]
    return out
