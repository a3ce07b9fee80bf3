"""Hyperparameter search for the classics (:mod:`dualgnn.classics.scorers`), on a split's validation edges only.

One search for every classic: for each point of the method's small structural grid (each needs a refit) the
validation queries' term rows are computed once, then the knobs (term weights) are set by coordinate search,
a round at a time until a round changes nothing. A candidate is scored by validation HR@10, ties broken by MRR@10,
under evaluate's EQ1 protocol (full ranking, the query and its training out-neighbours filtered, ties at their
expected rank: :func:`dualgnn.metrics.rank_targets`). Test edges are never an input.

>>> tuned = tune("rp3beta", train_copurchase, train_coview, val_copurchase, n)  # doctest: +SKIP
>>> tuned.params, tuned.validation, tuned.seconds  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dualgnn.classics.scorers import CLASSICS, ComboScorer, TrainGraph
from dualgnn.graph import Edges
from dualgnn.metrics import rank_targets
from dualgnn.scoring import Scorer, adjacency

#: Validation pairs used for tuning at most (a seeded sample beyond), and at most as many as keep one term's cached
#: (pairs x products) rows within ``MAX_TUNING_CELLS`` float32 cells: 2,000 pairs up to 100k products, 200 at 1M.
MAX_TUNING_PAIRS = 2000
MAX_TUNING_CELLS = 200_000_000
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
         seed: int = 0, max_pairs: int = MAX_TUNING_PAIRS, log: Callable[[str], None] = lambda _m: None) -> Tuned:
    """Fit ``method`` on the training edges (``copurchase``, ``coview``), choosing its values on ``validation``."""
    t0 = time.perf_counter()
    build, structures, knob_grid = CLASSICS[method]
    graph = TrainGraph(copurchase, coview, num_products)
    knobs = {k: v[0] for k, v in knob_grid.items()}
    max_pairs = max(100, min(max_pairs, MAX_TUNING_CELLS // max(num_products, 1)))
    if len(validation) > max_pairs:
        validation = validation.subset(np.sort(np.random.default_rng(seed).choice(len(validation), max_pairs,
                                                                                  replace=False)))
    if len(validation) == 0:
        log(f"{method}: no validation edges; using the grid's first values untuned")
        scorer = build(graph, structures[0], knobs)
        return _done(method, scorer, {}, t0, 0, 0)
    exclude = adjacency(copurchase.src, copurchase.dst, num_products)
    queries = np.unique(validation.src)
    best, evaluations = None, 0
    for structure in structures:
        scorer = build(graph, structure, knobs)
        rows = scorer.term_rows(queries)
        found, score, n_eval = _coordinate_search(scorer, rows, knobs, knob_grid, queries, validation, exclude)
        evaluations += n_eval
        del rows
        if best is None or score > best[1]:
            scorer.knobs = found
            best = (scorer, score)
            knobs = found  # the next structure starts from the best values so far
        del scorer
    scorer, (hr, mrr) = best
    return _done(method, scorer, {TARGET[0]: hr, TARGET[1]: mrr}, t0, evaluations, len(validation))


def _done(method: str, scorer: ComboScorer, validation: dict, t0: float, evaluations: int, pairs: int) -> Tuned:
    scorer.name = method
    params = {"structure": scorer.structure, "knobs": scorer.knobs}
    return Tuned(scorer, params, validation, time.perf_counter() - t0, evaluations, pairs)


def _coordinate_search(scorer: ComboScorer, rows: dict, start: dict, grid: dict, queries: np.ndarray,
                       validation: Edges, exclude) -> tuple[dict, tuple[float, float], int]:
    """Best knobs from ``start``: each knob in turn over its candidates, repeated until a round changes nothing."""
    seen: dict[tuple, tuple[float, float]] = {}

    def value(knobs: dict) -> tuple[float, float]:
        key = tuple(sorted(knobs.items()))
        if key not in seen:
            if not any(scorer.term_weights(knobs).values()):
                seen[key] = (-1.0, -1.0)  # all weights zero: not a recommender
            else:
                block = _RowsScorer(queries, scorer.combine(rows, knobs))
                summary = rank_targets(block, validation.src, validation.dst, exclude).summary((10,))
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


class _RowsScorer(Scorer):
    """Precomputed score rows for sorted distinct ``queries``: what the validation ranking reads."""

    def __init__(self, queries: np.ndarray, rows: np.ndarray) -> None:
        super().__init__(rows.shape[1])
        self.queries, self.rows = queries, rows

    def score(self, queries: np.ndarray) -> np.ndarray:
        return self.rows[np.searchsorted(self.queries, queries)]
