"""The second stage: a LightGBM LambdaRank model re-ranks each query's candidates over pair features.

Candidates and signals: :mod:`dualgnn.ranking.candidates`; features: :mod:`dualgnn.ranking.features`.

**Which edges train the ranker (no leakage).** On a split, message passing, the path counts, the degrees and the
classics read the split's *training* edges only (the classics' values are tuned on its validation edges, as their
own rows are). The ranker is *fitted on the split's validation edges*: queries are the validation sources, positives
their validation targets, every other candidate a negative; the query's training out-neighbours are never
candidates, exactly as the protocol filters them. Each validation edge ``u -> v`` that is one-way among the edges
the ranker knows (training and validation) also gives a *direction pair*: a group of two rows, ``(u, v)`` above
``(v, u)``, so the pairwise loss learns exactly what EQ3 compares. Those validation edges never fed message passing
or any feature (the GNN uses them only to choose its early-stopping epoch). The number of trees, the leaves and the
prior are chosen by K-fold cross-validation over the validation queries (:data:`FOLDS`). Test edges are never an
input; they are scored only. On a node split (EQ4) the ranker is fitted on that split's validation edges (cold
validation products' edges), with the GNN trained on that split.

**Full ranking.** :meth:`RankerScorer.score` gives every candidate the model's score and every other product a
score strictly below any score the model can give: inside ``(floor - 1, floor)``, where ``floor`` is
:func:`score_floor` (the sum of each tree's lowest leaf, minus 1) plus the prior's lowest value, ordered by the
GNN's score ``s_q . t_v`` (squashed by a logistic). Non-candidates therefore rank below every candidate and among
themselves as the GNN ranks them, so a pair neither of whose directions is a candidate is still told apart by
direction (a constant would tie the two, 0.5 under EQ3). ``pair_score(u, v)`` equals ``score(u)[v]``, so EQ3
compares the same numbers.

The model is saved in LightGBM's own text format (``booster.save_model``), never pickled.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from dualgnn.classics.scorers import ComboScorer, find_sorted
from dualgnn.errors import ArtifactError, DualGNNError
from dualgnn.graph import Edges
from dualgnn.metrics import rank_targets
from dualgnn.ranking.candidates import CandidateSizes, RankInputs, make_batch
from dualgnn.ranking.features import feature_names, pair_features
from dualgnn.scoring import EmbeddingScorer, Scorer

BATCH_CELLS = 1 << 24  # (queries x products) cells of a batch's full score rows
QUERY_BATCH = 1024
PARAMS = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "learning_rate": 0.05,
          "min_data_in_leaf": 20, "feature_fraction": 0.9, "lambdarank_truncation_level": 20,
          "num_threads": 1, "deterministic": True, "force_row_wise": True, "verbosity": -1}
#: Chosen by K-fold cross-validation over the validation queries, with the number of trees: the fold-mean NDCG@10
#: curve's best point (each fold's curve runs until ``PATIENCE`` trees bring nothing, then holds its last value).
#: ``prior``: the trees start from ``-prior * log(1 + rank)`` in the first classic's list (LightGBM's init score)
#: and learn corrections to it; 0 = from scratch. On little validation data the prior keeps the classic's order.
#: (A prior of 10, nearly the classic's order, was never chosen on music or gift cards, and is not offered.)
GRID = tuple({"num_leaves": leaves, "prior": prior} for prior in (0.0, 1.0, 3.0) for leaves in (15, 63))
#: A query with no edge (a cold product) has little to learn from: a split holds few such validation queries, and
#: the trees learn mostly from warm ones. Its candidates' scores get ``-cold_prior * log(1 + popularity rank)``
#: on top (its ``rank_paths`` is that rank: :func:`popularity_prior`), ``cold_prior`` chosen from these by the
#: NDCG@10 of the out-of-fold cold validation groups, pooled (at least ``MIN_COLD_GROUPS`` of them; else 0).
COLD_PRIORS, MIN_COLD_GROUPS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0), 5
#: ``FOLDS`` folds of the validation queries; the first holds the inner ones (:func:`inner_count`, ``INNER_SHARE``
#: of them), whose out-of-fold HR@10 / MRR@10 is the reported validation figure.
MAX_TREES, PATIENCE, FOLDS = 500, 40, 3
#: The weight of a direction pair's rows against a candidate list's (music validation: EQ3-balanced 0.353 at 1,
#: 0.411 at 3, HR@10 / MRR@10 0.631 / 0.321 and 0.628 / 0.325).
DIRECTION_WEIGHT = 3.0
#: A direction pair whose target is not more popular than its source (training in-degree) weighs this many times
#: more. Most one-way pairs lead to a more popular product, so the trees would learn direction mostly from
#: popularity and get it wrong exactly where popularity does not tell (EQ3-balanced); these pairs make them read it
#: from the pair itself. Music, pooled 5-fold cross-validation over the validation queries (163 balanced pairs),
#: GNN seeds 0 / 1: EQ3-balanced 0.368 / 0.380 at 1, 0.460 / 0.442 at 4, 0.491 / 0.466 at 16 / 8; HR@10 / MRR@10
#: 0.623 / 0.318 and 0.628 / 0.321 at 1, 0.624 / 0.317 and 0.627 / 0.322 at 4, 0.621 / 0.315 and 0.620 / 0.320 at
#: 16 / 8. Gift cards' validation holds 9 balanced pairs: its EQ1 moved within +-0.01 either way. (105 of music's
#: 163 are reciprocal, their reverse a test edge the ranker never sees: the validation gain overstates the test's,
#: 0.552; 0.602; 0.552 -> 0.575 x3 on EQ3-balanced's 221 one-way pairs, seeds 0; 1; 2, for 0.003-0.008 HR@10.)
BALANCED_WEIGHT = 4.0
INNER_SHARE = 1.0 / FOLDS


def _lgb():
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - a dependency
        raise DualGNNError("the ranker needs lightgbm", hint="pip install lightgbm") from exc
    return lightgbm


class RankerScorer(Scorer):
    """Candidates from :func:`make_batch`, scored by ``booster``; every other product a score below ``floor`` in
    the GNN's order (module docstring)."""

    name = "ranker"
    pair_score = ComboScorer.pair_score  # score(u)[v], one batch of distinct sources at a time

    def __init__(self, inputs: RankInputs, booster, sizes: CandidateSizes = CandidateSizes(),
                 prior: float = 0.0, cold_prior: float = 0.0) -> None:
        super().__init__(inputs.n)
        self.inputs, self.booster, self.sizes, self.prior = inputs, booster, sizes, float(prior)
        self.cold_prior = float(cold_prior)
        self.features = feature_names(inputs.classics)
        if list(booster.feature_name()) != self.features:
            raise ArtifactError("the ranker model was fitted on other features than these inputs give",
                                hint="refit the ranker (its classics must be the ones it was fitted with)")
        self.floor = np.float32(score_floor(booster) - np.ceil((self.prior + self.cold_prior) * np.log1p(inputs.n)))
        # The logistic's width for the non-candidates' GNN scores: their spread on a fixed sample of pairs.
        sample = inputs.source[:256] @ inputs.target[:4096].T
        self.tail_scale = float(np.std(sample)) if sample.size and np.std(sample) > 0 else 1.0

    def predict(self, x: np.ndarray, cold: np.ndarray) -> np.ndarray:
        """Scores of feature rows ``x``; ``cold`` (bool per row): the row's query has no edge (a cold product)."""
        return self.booster.predict(x, num_threads=1) + prior_score(x, self.features, self.prior) + \
            np.where(cold, popularity_prior(x, self.features, self.cold_prior), 0.0)

    def predict_batch(self, batch) -> np.ndarray:
        """Scores of ``batch``'s candidates (:func:`make_batch`)."""
        if not len(batch.cand_row):
            return np.zeros(0)
        return self.predict(pair_features(self.inputs, batch), self.inputs.isolated(batch.queries)[batch.cand_row])

    def score(self, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.int64)
        out = np.empty((len(queries), self.num_products), np.float32)
        for i in _batches(len(queries), self.num_products):
            out[i] = self.tail(self.inputs.source[queries[i]] @ self.inputs.target.T)
            batch = make_batch(self.inputs, queries[i], self.sizes)
            if len(batch.cand_row):
                pred = self.predict_batch(batch)
                out[i][batch.cand_row, batch.cand_col] = np.maximum(pred, np.nextafter(self.floor, np.inf))
        return out

    def tail(self, gnn: np.ndarray) -> np.ndarray:
        """Non-candidates' scores from their GNN scores: increasing, strictly inside ``(floor - 1, floor)``."""
        squashed = (self.floor - 1.0) + 1.0 / (1.0 + np.exp(-np.asarray(gnn, np.float64) / self.tail_scale))
        low, high = np.nextafter(self.floor - np.float32(1), np.float32(np.inf)), np.nextafter(self.floor, -np.inf)
        return np.clip(squashed, low, high).astype(np.float32)

    def ranked(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query's candidates, best first: ``(ids, scores)`` ``(b, m)`` padded with -1 / -inf. They never hold
        the query's out-neighbours: the ranker predicts the co-purchases its graph does not know yet.

        Query batches run on ``inputs.threads`` threads (0: every core): most of a batch's work (scipy's sparse
        kernels, numpy's sorts, the index search, the trees' predictions) runs outside the GIL, and batches share
        nothing but read-only inputs (warmed first). The lists do not depend on the number of threads."""
        queries = np.asarray(queries, np.int64)
        batches = _batches(len(queries), 0)
        workers = min(len(batches), self.inputs.threads or (os.cpu_count() or 1))
        if workers > 1:
            self.inputs.warm(self.sizes)
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(lambda i: self._ranked_batch(queries[i]), batches))
        else:
            parts = [self._ranked_batch(queries[i]) for i in batches]
        width = max((p[0].shape[1] for p in parts), default=0)
        pad = [(np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=-1),
                np.pad(s, ((0, 0), (0, width - s.shape[1])), constant_values=-np.inf)) for a, s in parts]
        if not pad:
            return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32)
        return np.concatenate([a for a, _ in pad]), np.concatenate([s for _, s in pad])

    def _ranked_batch(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = make_batch(self.inputs, queries, self.sizes)
        pred = self.predict_batch(batch)
        order = np.lexsort((-pred, batch.cand_row))
        sizes = batch.group_sizes()
        width = int(sizes.max()) if len(sizes) else 0
        ids = np.full((len(batch.queries), width), -1, np.int64)
        scores = np.full((len(batch.queries), width), -np.inf, np.float32)
        slot = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        ids[batch.cand_row[order], slot] = batch.cand_col[order]
        scores[batch.cand_row[order], slot] = pred[order]
        return ids, scores


def prior_score(x: np.ndarray, features: list[str], prior: float) -> np.ndarray:
    """``-prior * log(1 + rank)`` in the first classic's list (its rank feature follows ``rank_paths``)."""
    if not prior:
        return np.zeros(len(x))
    column = features.index("rank_paths") + 1
    if column >= len(features):
        raise DualGNNError("the ranker's prior needs a classic among its inputs")
    return _log_rank(x, column, prior)


def popularity_prior(x: np.ndarray, features: list[str], prior: float) -> np.ndarray:
    """``-prior * log(1 + rank)`` in the path list, which is the popularity list for a query with no edge."""
    return _log_rank(x, features.index("rank_paths"), prior) if prior else np.zeros(len(x))


def _log_rank(x: np.ndarray, column: int, prior: float) -> np.ndarray:
    return -prior * np.log1p(x[:, column].astype(np.float64))


def score_floor(booster) -> np.float32:
    """A constant below every score ``booster`` can give: the sum of each tree's lowest leaf value, minus 1."""
    def lowest(node: dict) -> float:
        if "leaf_value" in node:
            return float(node["leaf_value"])
        return min(lowest(node["left_child"]), lowest(node["right_child"]))

    trees = booster.dump_model()["tree_info"]
    return np.float32(np.floor(sum(lowest(t["tree_structure"]) for t in trees)) - 1.0)


def _batches(num_queries: int, num_products: int) -> list[slice]:
    """Query batches: every signal is sparse, so a batch's cost follows its queries' neighbourhoods; only
    :meth:`RankerScorer.score`'s full rows are dense, and they bound the batch on a big catalog."""
    step = max(1, min(QUERY_BATCH, BATCH_CELLS // max(num_products, 1)))
    return [slice(i, i + step) for i in range(0, num_queries, step)]


def training_set(inputs: RankInputs, edges: Edges, sizes: CandidateSizes, known: Edges | None = None):
    """``(X, labels, group sizes, queries, candidate recall)`` for the queries of ``edges`` (positives = their
    targets, negatives = the other candidates). Each positive ``u -> v`` that is one-way among the edges the ranker
    knows (training, ``edges`` and ``known``: all the validation edges when ``edges`` is a fold of them) also adds
    the reversed pair ``(v, u)`` to ``u``'s group as a negative: the ranker learns that a pair read backwards ranks
    below the pair itself, i.e. direction, from its own features (and from :func:`direction_set`'s pairs).
    Queries with no positive among their candidates are dropped (they carry no ranking signal)."""
    n = inputs.n
    positives = np.unique(edges.src * np.int64(n) + edges.dst)
    known = _known_keys(inputs, positives, known)
    queries = np.unique(edges.src)
    xs, ys, groups, kept = [], [], [], []
    found = 0
    for i in _batches(len(queries), 0):  # sparse signals only: no dense row bounds the batch
        batch = make_batch(inputs, queries[i], sizes)
        label = find_sorted(positives, batch.queries[batch.cand_row] * np.int64(n) + batch.cand_col)[1]
        found += int(label.sum())
        has = np.bincount(batch.cand_row[label], minlength=len(batch.queries)) > 0
        keep = has[batch.cand_row]
        u, v, row = batch.queries[batch.cand_row[label]], batch.cand_col[label], batch.cand_row[label]
        one_way = ~find_sorted(known, v * np.int64(n) + u)[1]
        x = np.concatenate([pair_features(inputs, batch)[keep], pair_rows(inputs, v[one_way], u[one_way], sizes)])
        y = np.concatenate([label[keep], np.zeros(int(one_way.sum()), bool)])
        group = np.concatenate([batch.cand_row[keep], row[one_way]])
        order = np.argsort(group, kind="stable")
        xs.append(x[order])
        ys.append(y[order].astype(np.float32))
        groups.append(np.bincount(group, minlength=len(batch.queries))[has])
        kept.append(batch.queries[has])
    recall = found / max(len(positives), 1)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups), np.concatenate(kept), recall


def direction_set(inputs: RankInputs, edges: Edges, sizes: CandidateSizes, known: Edges | None = None):
    """``(X, labels, group sizes, row weights)`` of the direction pairs of ``edges``: for each ``u -> v`` that is
    one-way among the edges the ranker knows (training, ``edges`` and ``known``), a group of two rows, ``(u, v)``
    labelled 1 and ``(v, u)`` labelled 0, candidates or not: the pairwise loss then learns exactly what EQ3
    compares. Their rows weigh :data:`DIRECTION_WEIGHT` times a candidate list's, and :data:`BALANCED_WEIGHT` times
    more when ``v`` has no more training in-edges than ``u``."""
    n = inputs.n
    positives = np.unique(edges.src * np.int64(n) + edges.dst)
    known = _known_keys(inputs, positives, known)
    u, v = positives // n, positives % n
    one_way = ~find_sorted(known, v * n + u)[1]
    u, v = u[one_way], v[one_way]
    width = len(feature_names(inputs.classics))
    x = np.stack([pair_rows(inputs, u, v, sizes), pair_rows(inputs, v, u, sizes)], axis=1).reshape(-1, width)
    indeg = inputs.in_degree()
    weight = DIRECTION_WEIGHT * np.where(indeg[v] <= indeg[u], BALANCED_WEIGHT, 1.0)
    return x, np.tile(np.array([1.0, 0.0], np.float32), len(u)), np.full(len(u), 2, np.int64), np.repeat(weight, 2)


def _known_keys(inputs: RankInputs, positives: np.ndarray, known: Edges | None) -> np.ndarray:
    """``src * n + dst`` of every edge the ranker knows, sorted: the training graph's, ``positives``' and
    ``known``'s."""
    n = inputs.n
    train = inputs.graph.a.tocoo()
    keys = np.union1d(positives, train.row.astype(np.int64) * n + train.col)
    return keys if known is None else np.union1d(keys, known.src * np.int64(n) + known.dst)


def pair_rows(inputs: RankInputs, src: np.ndarray, dst: np.ndarray, sizes: CandidateSizes) -> np.ndarray:
    """Features of the given pairs ``(src[i], dst[i])``, candidates or not, in their order."""
    out = np.zeros((len(src), len(feature_names(inputs.classics))), np.float32)
    uniq, inverse = np.unique(src, return_inverse=True)
    for i in _batches(len(uniq), 0):
        sel = np.flatnonzero((inverse >= i.start) & (inverse < i.start + len(uniq[i])))
        batch = make_batch(inputs, uniq[i], sizes, pairs=(inverse[sel] - i.start, dst[sel]))
        out[sel] = pair_features(inputs, batch)
    return out


def fit_ranker(inputs: RankInputs, validation: Edges, *, sizes: CandidateSizes = CandidateSizes(), seed: int = 0,
               log=lambda _m: None) -> RankerScorer:
    """Fit the LambdaRank model on ``validation`` edges (module docstring); the scorer carries ``.tuning``.

    The validation queries fall into seeded :data:`FOLDS` folds (:func:`_folds`). For each ``GRID`` point a model
    is trained on every fold but one (its queries' candidate groups and direction pairs) and scored on the held
    fold's candidate groups (NDCG@10 after each tree); the point and the number of trees with the best fold-mean
    NDCG@10 are chosen. The first fold's queries are the inner ones: the model of the chosen point fitted without
    them ranks them for the reported validation figure (EQ1 HR@10 / MRR@10 over all their pairs, also those whose
    targets are no candidates, beside the GNN alone on the same pairs). The model is then refitted on every
    validation query."""
    lgb = _lgb()
    t0 = time.perf_counter()
    if len(validation) == 0:
        raise DualGNNError("the ranker needs validation edges to learn from",
                           hint="use a split with a validation share, e.g. --split 0.75,0.05,0.2")
    folds = _folds(np.unique(validation.src), seed)
    parts = [validation.subset(np.isin(validation.src, f)) for f in folds]
    groups = [training_set(inputs, part, sizes, validation) for part in parts]
    directions = [direction_set(inputs, part, sizes, validation) for part in parts]
    recall = sum(g[4] * len(np.unique(p.src * np.int64(inputs.n) + p.dst)) for g, p in zip(groups, parts)) / \
        max(len(np.unique(validation.src * np.int64(inputs.n) + validation.dst)), 1)
    if len(groups[0][2]) < 1 or sum(len(g[2]) for g in groups[1:]) < 1:
        raise DualGNNError(f"only {sum(len(g[2]) for g in groups)} validation queries have a positive among their "
                           "candidates: too few to fit the ranker", hint="use a larger validation share")
    names = feature_names(inputs.classics)

    def rows(keep: list[int]) -> tuple[np.ndarray, ...]:
        """Candidate groups and direction pairs of the folds ``keep``, stacked, with their rows' weights."""
        chosen = [groups[k][:3] for k in keep] + [directions[k][:3] for k in keep]
        weight = np.concatenate([np.ones(len(groups[k][1])) for k in keep] + [directions[k][3] for k in keep])
        return (*(np.concatenate([c[i] for c in chosen]) for i in range(3)), weight)

    def dataset(data, prior: float, reference=None):
        x, y, group, *weight = data
        return lgb.Dataset(x, y, group=group, weight=weight[0] if weight else None, feature_name=names,
                           init_score=prior_score(x, names, prior), reference=reference)

    total_pairs = sum(len(g[1]) for g in groups)
    min_leaf = int(min(PARAMS["min_data_in_leaf"], max(1, total_pairs // 50)))
    base = {**PARAMS, "min_data_in_leaf": min_leaf, "seed": seed}
    held_out = [k for k in range(len(folds)) if len(groups[k][2])]
    train_rows = {k: rows([j for j in range(len(folds)) if j != k]) for k in held_out}
    best = None
    for point in GRID:
        params, prior = _split_point(base, point)
        curves = []
        for k in held_out:
            train_set = dataset(train_rows[k], prior)
            valid = dataset(groups[k][:3], prior, reference=train_set)
            record: dict = {}
            lgb.train(params, train_set, MAX_TREES, valid_sets=[valid],
                      callbacks=[lgb.early_stopping(PATIENCE, verbose=False), lgb.record_evaluation(record)])
            curve = np.asarray(record["valid_0"]["ndcg@10"], np.float64)
            curves.append(np.pad(curve, (0, MAX_TREES - len(curve)), mode="edge"))
        curve = np.mean(curves, axis=0)
        trees = int(np.argmax(curve)) + 1
        if best is None or curve[trees - 1] > best[0]:
            best = (float(curve[trees - 1]), point, trees)
    score, point, trees = best
    params, prior = _split_point(base, point)
    models = {0: lgb.train(params, dataset(train_rows[0], prior), trees)}
    cold = {k: _cold_groups(inputs, groups[k]) for k in held_out}
    cold_count = sum(len(c[2]) for c in cold.values())
    cold_prior, cold_ndcg = 0.0, None
    if cold_count >= MIN_COLD_GROUPS:
        totals = np.zeros(len(COLD_PRIORS))
        for k in held_out:
            x, y, group = cold[k]
            if len(group):
                if k not in models:
                    models[k] = lgb.train(params, dataset(train_rows[k], prior), trees)
                base_score = models[k].predict(x, num_threads=1) + prior_score(x, names, prior)
                totals += [ndcg_at(base_score + popularity_prior(x, names, w), y, group).sum() for w in COLD_PRIORS]
        best_cold = int(np.argmax(totals))  # the first best: the smallest prior among equals
        cold_prior, cold_ndcg = COLD_PRIORS[best_cold], round(float(totals[best_cold] / cold_count), 4)
    inner_model = models[0]
    inner_part = parts[0]
    exclude = inputs.graph.a
    stats = rank_targets(RankerScorer(inputs, inner_model, sizes, prior, cold_prior), inner_part.src, inner_part.dst,
                         exclude)
    figures = {k: round(v, 4) for k, v in stats.summary((10,)).items()}
    # The GNN alone on the same queries: what the ranker must beat to be worth shipping (production.worth_shipping).
    gnn = rank_targets(EmbeddingScorer(inputs.source, inputs.target), inner_part.src, inner_part.dst, exclude)
    figures.update({f"gnn {k}": round(v, 4) for k, v in gnn.summary((10,)).items()})
    every = rows(list(range(len(folds))))
    booster = lgb.train(params, dataset(every, prior), trees)
    scorer = RankerScorer(inputs, booster, sizes, prior, cold_prior)
    queries = sum(len(g[2]) for g in groups)
    scorer.tuning = {"params": {**point, "trees": trees, "min_data_in_leaf": min_leaf, "cold_prior": cold_prior,
                                **sizes.to_dict()},
                     "validation": {**figures, "cross-validated NDCG@10": round(score, 4),
                                    "cold queries": int(cold_count), "cold NDCG@10": cold_ndcg},
                     "evaluations": len(GRID), "folds": len(held_out),
                     "seconds": round(time.perf_counter() - t0, 2), "validation_pairs": int(len(inner_part)),
                     "inner_queries": int(len(folds[0])), "validation_queries": int(queries),
                     "pairs": int(total_pairs), "direction_pairs": int(sum(len(d[2]) for d in directions)),
                     "candidate_recall": round(recall, 4)}
    log(f"fitted the ranker in {scorer.tuning['seconds']:.1f}s on {queries:,} validation queries "
        f"({total_pairs:,} pairs, {scorer.tuning['direction_pairs']:,} direction pairs, candidate recall "
        f"{recall:.3f}): {point}, {trees} trees; inner validation HR@10 {figures['HR@10']:.3f} / MRR@10 "
        f"{figures['MRR@10']:.3f}")
    return scorer


def _cold_groups(inputs: RankInputs, group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, labels, group sizes)`` of the groups of :func:`training_set`'s ``group`` whose query has no edge."""
    x, y, sizes, kept = group[:4]
    cold = inputs.isolated(kept)
    rows = np.repeat(cold, sizes)
    return x[rows], y[rows], sizes[cold]


def ndcg_at(scores: np.ndarray, labels: np.ndarray, sizes: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k of each group (rows ``sizes[i]`` at a time, binary ``labels``, each group holding a positive) when
    ranked by ``scores``; ties by row order. LightGBM's definition for binary labels."""
    group = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((-scores, group))
    rank = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    hit = (labels[order] > 0) & (rank < k)
    dcg = np.bincount(group, weights=np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0), minlength=len(sizes))
    positives = np.minimum(np.bincount(group, weights=labels > 0, minlength=len(sizes)), k).astype(np.int64)
    ideal = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))[np.maximum(positives, 1) - 1]
    return dcg / ideal


def _split_point(base: dict, point: dict) -> tuple[dict, float]:
    """LightGBM's parameters and the prior weight of a grid point."""
    params = {**base, **point}
    return params, float(params.pop("prior", 0.0))


def inner_count(num_queries: int) -> int:
    """How many of ``num_queries`` validation queries are inner ones (``INNER_SHARE``, at least one, never all)."""
    return min(max(1, int(round(INNER_SHARE * num_queries))), num_queries - 1)


def _folds(queries: np.ndarray, seed: int) -> list[np.ndarray]:
    """The validation ``queries`` in seeded folds: the first the :func:`inner_count` inner ones, the rest split
    evenly into at most ``FOLDS - 1`` non-empty folds (fewer when there are fewer queries)."""
    order = np.random.default_rng([seed, 15]).permutation(queries)
    count = inner_count(len(queries))
    rest = order[count:]
    others = [np.sort(rest[k::FOLDS - 1]) for k in range(min(FOLDS - 1, len(rest)))]
    return [np.sort(order[:count]), *others]


def save_ranker(scorer: RankerScorer, directory: str | Path, extra: dict | None = None) -> None:
    """``ranker.txt`` (LightGBM's text model) and ``ranker.json`` (features, sizes, tuning, ``extra``)."""
    from dualgnn.artifacts import atomic_path, file_checksum, write_json

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / "ranker.txt") as tmp:
        scorer.booster.save_model(str(tmp))
        checksum = file_checksum(tmp)
    write_json(directory / "ranker.json", {"features": scorer.features, "classics": list(scorer.inputs.classics),
                                           "prior": scorer.prior, "cold_prior": scorer.cold_prior,
                                           "sizes": scorer.sizes.to_dict(), "tuning": getattr(scorer, "tuning", {}),
                                           "model_sha256": checksum, **(extra or {})})


RANKER_HINT = "retrain with `dualgnn train`, or recommend with --gnn-only"


def check_ranker_file(directory: str | Path, meta: dict) -> Path:
    """``ranker.txt`` of ``directory`` checked before LightGBM reads it: LightGBM's C++ parser crashes the whole
    process (a segmentation fault, no Python error) on a model file cut short, so a truncated or altered file must
    be refused here. Against the checksum ``ranker.json`` recorded when it was saved; a ranker saved before the
    checksum was recorded must at least end with the trees' closing line LightGBM writes."""
    from dualgnn.artifacts import file_checksum

    path = Path(directory) / "ranker.txt"
    if not path.is_file():
        raise ArtifactError(f"{path} is missing (its ranker.json is there)", hint=RANKER_HINT)
    expected = meta.get("model_sha256")
    if expected is not None:
        if file_checksum(path) != expected:
            raise ArtifactError(f"{path} is damaged: it does not match the checksum ranker.json recorded when it "
                                "was saved (cut short, or changed since)", hint=RANKER_HINT)
    elif b"end of trees" not in path.read_bytes():
        raise ArtifactError(f"{path} is damaged: it is cut short (LightGBM's closing 'end of trees' line is missing)",
                            hint=RANKER_HINT)
    return path


def load_ranker(directory: str | Path, inputs: RankInputs) -> RankerScorer:
    """The ranker saved in ``directory`` over ``inputs`` (whose classics must be the ones it was fitted with)."""
    directory = Path(directory)
    lgb = _lgb()
    path = directory / "ranker.json"
    try:
        meta = json.loads(path.read_text())
        sizes = CandidateSizes(**meta["sizes"])
        prior, cold_prior = float(meta.get("prior", 0.0)), float(meta.get("cold_prior", 0.0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"{path} is missing or damaged ({type(exc).__name__}: {exc})", hint=RANKER_HINT) from exc
    path = check_ranker_file(directory, meta)
    try:  # LightGBM reports a damaged model file with its own error type
        booster = lgb.Booster(model_file=str(path))
    except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
        raise ArtifactError(f"{path} is missing or damaged ({exc})", hint=RANKER_HINT) from exc
    scorer = RankerScorer(inputs, booster, sizes, prior, cold_prior)
    scorer.tuning = meta.get("tuning", {})
    return scorer
