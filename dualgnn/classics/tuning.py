"""Hyperparameter search for the classics (:mod:`dualgnn.classics.scorers`), on a split's validation edges only.

One search for every classic: for each point of the method's small structural grid (each needs a refit) the
validation queries' term rows are computed once, then the knobs (term weights) are set by coordinate search,
a round at a time until a round changes nothing. A candidate is scored by validation HR@10, ties broken by MRR@10,
under evaluate's EQ1 protocol (full ranking, the query and its training out-neighbours filtered, ties at their
expected rank: :func:`dualgnn.metrics.rank_targets`). Test edges are never an input.

The search reads each query's *head*: the union of every term's ``TUNING_DEPTH`` best products (the filtered ones
left out) and the query's validation targets, each with every term's value, so one trial is a small matrix
product (queries x head x terms) whatever the catalog's size. A product outside the head is taken to score 0.
That is exact when every term's row has at most ``TUNING_DEPTH`` non-zero entries (a small catalog); otherwise a
product that is in no term's head would have to enter the combined top 10 for the search to misjudge a trial. The
chosen values' validation figures are then measured exactly, over every product (:func:`rank_targets`).

>>> tuned = tune("rp3beta", train_copurchase, train_coview, val_copurchase, n)  # doctest: +SKIP
>>> tuned.params, tuned.validation, tuned.seconds  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dualgnn.classics.scorers import CLASSICS, ComboScorer, TrainGraph, entry_keys, find_sorted, keep_best, peak_scale
from dualgnn.graph import Edges
from dualgnn.metrics import RankStats, rank_targets
from dualgnn.scoring import adjacency

#: Validation pairs used for tuning at most (a seeded sample beyond).
MAX_TUNING_PAIRS = 2000
#: Each term's best products per query that the search reads (module docstring).
TUNING_DEPTH = 100
#: Queries whose term rows are computed at once while the head is gathered (bounds the sparse rows in memory).
QUERY_CHUNK = 256
TARGET = ("HR@10", "MRR@10")


@dataclass
class Tuned:
    """The fitted scorer with its chosen values, their validation figures and what the search cost."""

    scorer: ComboScorer
    params: dict
    validation: dict
    seconds: float
    evaluations: int
    pairs: int

    def describe(self) -> dict:
        return {"params": self.params, "validation": self.validation, "seconds": round(self.seconds, 2),
                "evaluations": self.evaluations, "validation_pairs": self.pairs}


def fit_classic(method: str, copurchase: Edges, coview: Edges, num_products: int, params: dict) -> ComboScorer:
    """The classic ``method`` fitted on these training edges with given ``params`` (``structure`` + ``knobs``)."""
    build, _, _ = CLASSICS[method]
    scorer = build(TrainGraph(copurchase, coview, num_products), params["structure"], params["knobs"])
    scorer.name = method
    return scorer


def tune(method: str, copurchase: Edges, coview: Edges, validation: Edges, num_products: int, *,
         seed: int = 0, max_pairs: int = MAX_TUNING_PAIRS, keep: int | None = None,
         log: Callable[[str], None] = lambda _m: None) -> Tuned:
    """Fit ``method`` on the training edges (``copurchase``, ``coview``), choosing its values on ``validation``.
    ``keep``: tune the method with its propagated rows cut to ``keep`` entries (structure ``keep``), as served."""
    t0 = time.perf_counter()
    build, structures, knob_grid = CLASSICS[method]
    structures = [{**st, "keep": keep} for st in structures] if keep else structures
    graph = TrainGraph(copurchase, coview, num_products)
    knobs = {k: v[0] for k, v in knob_grid.items()}
    if len(validation) > max_pairs:
        validation = validation.subset(np.sort(np.random.default_rng(seed).choice(len(validation), max_pairs,
                                                                                  replace=False)))
    if len(validation) == 0:
        log(f"{method}: no validation edges; using the grid's first values untuned")
        scorer = build(graph, structures[0], knobs)
        return _done(method, scorer, {}, t0, 0, 0)
    exclude = adjacency(copurchase.src, copurchase.dst, num_products)
    best, evaluations = None, 0
    for structure in structures:
        scorer = build(graph, structure, knobs)
        head = Head.gather(scorer, validation, exclude)
        found, score, n_eval = _coordinate_search(scorer, head, knobs, knob_grid)
        evaluations += n_eval
        del head
        if best is None or score > best[1]:
            scorer.knobs = found
            best = (scorer, score)
            knobs = found  # the next structure starts from the best values so far
        del scorer
    scorer = best[0]
    exact = rank_targets(scorer, validation.src, validation.dst, exclude).summary((10,))
    return _done(method, scorer, {t: exact[t] for t in TARGET}, t0, evaluations, len(validation))


def _done(method: str, scorer: ComboScorer, validation: dict, t0: float, evaluations: int, pairs: int) -> Tuned:
    scorer.name = method
    params = {"structure": scorer.structure, "knobs": scorer.knobs}
    return Tuned(scorer, params, validation, time.perf_counter() - t0, evaluations, pairs)


def _coordinate_search(scorer: ComboScorer, head: "Head", start: dict,
                       grid: dict) -> tuple[dict, tuple[float, float], int]:
    """Best knobs from ``start``: each knob in turn over its candidates, repeated until a round changes nothing."""
    seen: dict[tuple, tuple[float, float]] = {}

    def value(knobs: dict) -> tuple[float, float]:
        key = tuple(sorted(knobs.items()))
        if key not in seen:
            weights = scorer.term_weights(knobs)
            if not any(weights.values()):
                seen[key] = (-1.0, -1.0)  # all weights zero: not a recommender
            else:
                summary = head.rank(weights).summary((10,))
                seen[key] = (summary[TARGET[0]], summary[TARGET[1]])
        return seen[key]

    current, best = dict(start), value(start)
    for _ in range(4):
        changed = False
        for name, candidates in grid.items():
            for candidate in candidates:
                trial = {**current, name: candidate}
                score = value(trial)
                if score > best:
                    current, best, changed = trial, score, True
        if not changed:
            break
    return current, best, len(seen)


@dataclass
class Head:
    """The validation queries' heads (module docstring): ``values[r, j, t]`` is term ``t``'s (row-normalised)
    value of query ``r``'s ``j``-th head product, ``valid`` marks real slots (rows are padded), ``rest[r]`` counts
    the products outside the head and not filtered, ``pair_row`` / ``pair_slot`` locate each validation pair."""

    terms: list[str]
    values: np.ndarray
    valid: np.ndarray
    rest: np.ndarray
    pair_row: np.ndarray
    pair_slot: np.ndarray

    @classmethod
    def gather(cls, scorer: ComboScorer, validation: Edges, exclude: sp.csr_matrix,
               depth: int = TUNING_DEPTH, chunk: int = QUERY_CHUNK) -> "Head":
        n = scorer.num_products
        queries = np.unique(validation.src)
        pair_row = np.searchsorted(queries, validation.src)
        pair_key = pair_row * np.int64(n) + validation.dst
        parts, terms = [], None
        for c0 in range(0, len(queries), chunk):
            qs = queries[c0:c0 + chunk]
            rows = scorer.sparse_terms(qs, None)
            terms = sorted(rows) if terms is None else terms
            mine = (pair_row >= c0) & (pair_row < c0 + len(qs))
            parts.append(_chunk_head(scorer, rows, terms, qs, pair_key[mine] - c0 * np.int64(n), exclude, depth))
        width = max(p[0].shape[1] for p in parts)
        values = np.concatenate([np.pad(p[0], ((0, 0), (0, width - p[0].shape[1]), (0, 0))) for p in parts])
        valid = np.concatenate([np.pad(p[1], ((0, 0), (0, width - p[1].shape[1]))) for p in parts])
        rest = np.concatenate([p[2] for p in parts])
        keys = np.concatenate([p[3] + c * np.int64(n) for p, c in zip(parts, range(0, len(queries), chunk))])
        # pair_key sorted by (row, product) like keys: the slot is the position within the row
        where = np.searchsorted(keys, pair_key)
        starts = np.searchsorted(keys, np.arange(len(queries)) * np.int64(n))
        return cls(terms, values, valid, rest, pair_row, where - starts[pair_row])

    def rank(self, weights: dict[str, float]) -> RankStats:
        """Each validation pair's ``greater`` / ``ties`` under ``sum_t weights[t] * term_t``."""
        w = np.array([weights.get(t, 0.0) for t in self.terms], np.float32)
        scores = np.where(self.valid, self.values @ w, -np.inf)
        block = scores[self.pair_row]
        mine = block[np.arange(len(block)), self.pair_slot][:, None]
        rest = self.rest[self.pair_row]
        greater = (block > mine).sum(axis=1) + np.where(mine[:, 0] < 0, rest, 0)
        ties = (block == mine).sum(axis=1) - 1 + np.where(mine[:, 0] == 0, rest, 0)
        return RankStats(greater=greater.astype(np.int64), ties=np.maximum(ties, 0).astype(np.int64))


def _chunk_head(scorer: ComboScorer, rows: dict[str, sp.csr_matrix], terms: list[str], qs: np.ndarray,
                targets: np.ndarray, exclude: sp.csr_matrix, depth: int):
    """One query chunk's head: ``(values (q, w, t), valid (q, w), rest (q,), sorted keys row * n + product)``."""
    n, q = scorer.num_products, len(qs)
    filtered = sp.csr_matrix(exclude[qs], dtype=np.float32) + sp.csr_matrix(
        (np.ones(q, np.float32), (np.arange(q), qs)), shape=(q, n))
    filtered = entry_keys(filtered.tocsr())
    normalised, picked = {}, [targets]
    for t in terms:
        m = sp.csr_matrix(rows[t], dtype=np.float32)
        m.sum_duplicates()
        if scorer.normalise:
            m = sp.csr_matrix(sp.diags(peak_scale(m)) @ m, dtype=np.float32)
        keys = entry_keys(m)
        normalised[t] = (keys, m.data)
        allowed = ~_member(keys, filtered)
        kept = sp.csr_matrix((m.data[allowed], (keys[allowed] // n, keys[allowed] % n)), shape=(q, n))
        picked.append(entry_keys(keep_best(kept, depth)))
    head = np.unique(np.concatenate(picked))
    head = head[~_member(head, filtered)]
    row = head // n
    counts = np.bincount(row, minlength=q)
    slot = np.arange(len(head)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max()) if len(counts) else 0
    values = np.zeros((q, width, len(terms)), np.float32)
    for i, t in enumerate(terms):
        keys, data = normalised[t]
        if len(keys):
            pos, found = find_sorted(keys, head)
            values[row, slot, i] = np.where(found, data[pos], 0.0)
    valid = np.zeros((q, width), bool)
    valid[row, slot] = True
    outside = n - np.bincount(filtered // n, minlength=q) - counts
    return values, valid, outside, head


def _member(keys: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_set)`` for a sorted ``sorted_set`` (one binary search per key)."""
    return find_sorted(sorted_set, keys)[1]
