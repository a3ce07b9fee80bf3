"""The tuned classics: known top answers on tiny graphs, the directed profile, EASE^R's size limit, and tuning that
only ever reads validation edges."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from dualgnn.classics import scorers as classics
from dualgnn.classics.baselines import CooccurrenceScorer
from dualgnn.classics.scorers import (
    CLASSICS,
    MethodSkipped,
    TrainGraph,
    ease_matrix,
    item_knn_matrix,
    rp3beta_matrix,
)
from dualgnn.classics.tuning import fit_classic, tune
from dualgnn.graph import Edges, symmetrise


def _edges(pairs):
    src, dst = (np.array(x, np.int64) for x in zip(*pairs)) if pairs else (np.zeros(0, np.int64),) * 2
    return Edges(src, dst, np.ones(len(src), np.float32))


def _top(scorer, query, exclude=None):
    ids, _ = scorer.recommend(np.array([query]), 1, exclude=exclude)
    return int(ids[0, 0])


def _profile(**weights):
    return {t: weights.get(t, 0.0) for t in classics.PROFILE_TERMS}


def test_pagerank_ranks_the_two_hop_target_first():
    # 0 -> 1 -> 2; 3 -> 4 elsewhere. Query 0 with its out-neighbour 1 filtered: the walk's next stop is 2.
    a = _edges([(0, 1), (1, 2), (3, 4)])
    scorer = fit_classic("pagerank", a, Edges.empty(), 5,
                         {"structure": {"rev": 0.0, "cv": 0.0}, "knobs": {"alpha": 0.3, "steps": 3}})
    exclude = sp.csr_matrix((np.ones(3), (a.src, a.dst)), shape=(5, 5))
    assert _top(scorer, 0, exclude) == 2
    row = scorer.score(np.array([0]))[0]
    assert row[1] > row[2] > 0 and row[3] == row[4] == 0
    # Restart alpha: step t weighs (1 - alpha)^t; with the reverse edge weighted, 1 also reaches 0.
    rev = fit_classic("pagerank", a, Edges.empty(), 5, {"structure": {"rev": 1.0, "cv": 0.0},
                                                         "knobs": {"alpha": 0.3, "steps": 3}})
    assert rev.score(np.array([1]))[0, 0] > 0 == scorer.score(np.array([1]))[0, 0]


def test_rp3beta_ranks_the_co_listed_product_and_penalises_popular_targets():
    # 3 lists 0 and 2 (3 -> 0, 3 -> 2): 2 is co-listed with query 0; 1 is 0's out-neighbour.
    a = _edges([(3, 0), (3, 2), (0, 1), (4, 1), (5, 1)])
    scorer = fit_classic("rp3beta", a, Edges.empty(), 6,
                         {"structure": {"beta": 0.0, "cv": 0.0}, "knobs": _profile(self=1.0)})
    assert _top(scorer, 0) == 2
    graph = TrainGraph(a, Edges.empty(), 6)
    flat = rp3beta_matrix(graph, {"beta": 0.0, "cv": 0.0}).toarray()
    penalised = rp3beta_matrix(graph, {"beta": 1.0, "cv": 0.0}).toarray()
    pop = np.bincount(a.dst, minlength=6).astype(np.float32)  # list counts of the targets
    np.testing.assert_allclose(penalised * np.where(pop > 0, pop, 1), flat, rtol=1e-6)
    assert not np.diag(flat).any()


def test_directed_profile_uses_the_reverse_link():
    # The only evidence about query 0 is 5 -> 0 in training: the reverse link proposes 5 for 0.
    a = _edges([(5, 0), (1, 2), (2, 3)])
    params = {"structure": {"beta": 0.5, "cv": 0.0}}
    plain = fit_classic("rp3beta", a, Edges.empty(), 6, {**params, "knobs": _profile(out=1.0)})
    directed = fit_classic("rp3beta", a, Edges.empty(), 6, {**params, "knobs": _profile(out=1.0, rev=1.0)})
    assert not plain.score(np.array([0])).any()  # 0 has no out-neighbours: nothing to propagate
    assert _top(directed, 0) == 5
    # Co-view links count too (term "cv"), and the in-neighbour profile propagates from 5's own lists.
    c = symmetrise(_edges([(0, 4)]), 6)
    with_cv = fit_classic("rp3beta", a, c, 6, {**params, "knobs": _profile(cv=1.0)})
    assert _top(with_cv, 0) == 4


def test_ease_is_steck_closed_form_and_skips_above_the_size_limit(monkeypatch):
    a = _edges([(0, 1), (0, 2), (3, 1), (3, 2), (4, 2), (4, 0)])
    graph = TrainGraph(a, Edges.empty(), 5)
    b = ease_matrix(graph, {"lam": 2.0, "cv": 0.0})
    x = graph.a.toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(5))
    expected = np.eye(5) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(b, expected, atol=1e-5)
    monkeypatch.setattr(classics, "EASE_MAX_PRODUCTS", 4)
    with pytest.raises(MethodSkipped, match="above its 4-product limit"):
        ease_matrix(graph, {"lam": 2.0, "cv": 0.0})


def test_item_knn_is_shrunk_cosine_with_top_k():
    a = _edges([(0, 1), (0, 2), (3, 1), (3, 2), (4, 1), (4, 5)])
    graph = TrainGraph(a, Edges.empty(), 6)
    s = item_knn_matrix(graph, {"k": 1, "shrink": 1.0, "cv": 0.0}).toarray()
    # item 1 is listed by 0, 3, 4; item 2 by 0, 3; item 5 by 4: cos(1, 2) = 2 / (sqrt(3) sqrt(2) + 1)
    assert s[1, 2] == pytest.approx(2 / (np.sqrt(6) + 1), rel=1e-5)
    assert (s > 0).sum(axis=1).max() == 1 and s[1, 5] == 0  # k = 1 keeps the best neighbour only
    scorer = fit_classic("item-knn", a, Edges.empty(), 6,
                         {"structure": {"k": 5, "shrink": 0.0, "cv": 0.0}, "knobs": _profile(self=1.0)})
    assert _top(scorer, 2) == 1


def test_cooccurrence_rev_is_the_baseline_with_that_reverse_weight():
    a, c = _edges([(0, 1), (1, 2), (2, 0), (3, 1)]), symmetrise(_edges([(1, 4)]), 5)
    tuned = fit_classic("cooccurrence-rev", a, c, 5, {"structure": {}, "knobs": {"rev": 2.5}})
    np.testing.assert_allclose(tuned.score(np.arange(5)),
                               CooccurrenceScorer(a, c, 5, reverse=2.5).score(np.arange(5)), rtol=1e-6)


N = 7
A = _edges([(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (4, 0), (3, 5)])
C = symmetrise(_edges([(1, 4), (3, 5)]), N)


@pytest.mark.parametrize("method", sorted(CLASSICS))
def test_batch_equals_single_and_cold_rows_are_zero(method):
    build, structures, grid = CLASSICS[method]
    knobs = {k: (v[1] if len(v) > 1 and k != "out" else v[0]) for k, v in grid.items()}  # several terms on
    scorer = fit_classic(method, A, C, N, {"structure": structures[0], "knobs": knobs})
    queries = np.array([0, 3, 1, 4, 6])
    batch = scorer.score(queries)
    assert batch.shape == (5, N) and batch.dtype == np.float32
    for i, q in enumerate(queries):
        np.testing.assert_allclose(scorer.score(np.array([q]))[0], batch[i], rtol=1e-5, atol=1e-7)
    src, dst = np.array([0, 1, 4, 0]), np.array([3, 5, 2, 5])
    np.testing.assert_allclose(scorer.pair_score(src, dst), batch[[0, 2, 3, 0], dst], rtol=1e-5, atol=1e-7)
    assert not batch[4].any()  # product 6 has no training edges: every candidate ties
    np.testing.assert_allclose(scorer.sparse_score(queries).toarray(), batch, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def shop_split():
    from dualgnn.graph import build_graph
    from dualgnn.sources.base import RawData
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.synth.catalog import SynthSettings, generate

    cat = generate(SynthSettings(n_products=300, seed=4))
    graph, _ = build_graph(RawData(cat.products, cat.copurchase, cat.coview))
    return graph, make_split(graph, SplitSettings(ratios=(0.7, 0.15, 0.15), seed=0))


def _reverses(edges: Edges) -> Edges:
    return Edges(edges.dst, edges.src, edges.weight)


def test_tuning_reads_validation_never_test(shop_split):
    from dualgnn.evaluation.methods import MethodContext, fit_method

    graph, split = shop_split
    n = graph.num_products
    chosen = {}
    for name, test in [("real", split.test_copurchase), ("adversarial", _reverses(split.train_copurchase)),
                       ("empty", Edges.empty())]:
        # Adversarial test edges: every training edge reversed, which a tuner that peeked would answer with a
        # huge reverse weight. The choice must not move.
        ctx = MethodContext(graph=graph, features=None, split=dataclasses.replace(split, test_copurchase=test),
                            log=lambda _m: None)
        chosen[name] = fit_method("cooccurrence-rev", ctx).tuning["params"]
    assert chosen["real"] == chosen["adversarial"] == chosen["empty"]
    # The same adversarial edges as *validation* do move it: the search is live, and reads validation.
    peeked = tune("cooccurrence-rev", split.train_copurchase, split.train_coview, _reverses(split.train_copurchase), n)
    assert peeked.params["knobs"]["rev"] == max(CLASSICS["cooccurrence-rev"][2]["rev"])
    assert peeked.params["knobs"]["rev"] != chosen["real"]["knobs"]["rev"]


def test_tuning_records_what_it_chose(shop_split):
    graph, split = shop_split
    tuned = tune("rp3beta", split.train_copurchase, split.train_coview, split.val_copurchase, graph.num_products)
    record = tuned.describe()
    assert set(record["params"]) == {"structure", "knobs"} and record["evaluations"] > len(CLASSICS["rp3beta"][1])
    assert 0 < record["validation"]["HR@10"] <= 1 and record["seconds"] >= 0
    assert record["validation_pairs"] == len(split.val_copurchase)
    assert tuned.scorer.knobs == record["params"]["knobs"]
    untuned = tune("pagerank", split.train_copurchase, split.train_coview, Edges.empty(), graph.num_products)
    assert untuned.validation == {} and untuned.evaluations == 0


@pytest.mark.parametrize("method", ["rp3beta", "pagerank", "item-knn", "ease", "cooccurrence-rev"])
def test_the_search_ranks_exactly_when_every_row_fits_its_head(shop_split, method):
    # The search reads each query's head (each term's best products and its targets). On a 300-product shop a depth
    # of 300 holds every row, so any weighting must rank every validation pair exactly as the full ranking does;
    # a shallow head may only misjudge pairs the full ranking puts outside the top 10.
    from dualgnn.classics.tuning import Head
    from dualgnn.metrics import rank_targets
    from dualgnn.scoring import adjacency

    graph, split = shop_split
    n, val = graph.num_products, split.val_copurchase
    build, structures, grid = CLASSICS[method]
    exclude = adjacency(split.train_copurchase.src, split.train_copurchase.dst, n)
    rng = np.random.default_rng(0)
    scorer = build(TrainGraph(split.train_copurchase, split.train_coview, n), structures[0],
                   {k: v[0] for k, v in grid.items()})
    whole, shallow = Head.gather(scorer, val, exclude, depth=n), Head.gather(scorer, val, exclude, depth=20)
    for _ in range(3):
        scorer.knobs = {k: rng.choice(np.asarray(v)).item() for k, v in grid.items()}
        if not any(scorer.term_weights(scorer.knobs).values()):
            continue
        exact = rank_targets(scorer, val.src, val.dst, exclude)
        mine = whole.rank(scorer.term_weights(scorer.knobs))
        np.testing.assert_array_equal(mine.greater, exact.greater)
        np.testing.assert_array_equal(mine.ties, exact.ties)
        assert whole.rank(scorer.term_weights(scorer.knobs)).summary((10,)) == exact.summary((10,))
        head = shallow.rank(scorer.term_weights(scorer.knobs))
        top = exact.greater < 10
        assert np.mean(head.greater[top] == exact.greater[top]) > 0.9


def test_rp3beta_factors_equal_the_formed_matrix_and_keep_cuts_each_row():
    graph = TrainGraph(A, C, N)
    w = rp3beta_matrix(graph, {"beta": 0.5, "cv": 0.5})
    x = graph.lists(0.5).toarray()
    pt = x.T / np.maximum(x.T.sum(1, keepdims=True), 1e-12)
    p = x / np.maximum(x.sum(1, keepdims=True), 1e-12)
    pop = x.sum(0)
    formed = pt @ p * np.where(pop > 0, pop, 1.0) ** -0.5
    np.fill_diagonal(formed, 0)
    np.testing.assert_allclose(w.toarray(), formed, rtol=1e-5, atol=1e-7)
    kept = rp3beta_matrix(graph, {"beta": 0.5, "cv": 0.5, "keep": 2}).toarray()
    for row, full in zip(kept, formed):
        nonzero = np.sort(full[full > 0])[::-1]
        assert (row > 0).sum() == min(len(nonzero), 2 + int(np.sum(nonzero[2:] == nonzero[1])) if len(nonzero) > 2
                                      else len(nonzero))
        np.testing.assert_allclose(row[row > 0], full[row > 0], rtol=1e-5)


def test_pagerank_keep_cuts_each_step_and_a_large_keep_changes_nothing():
    params = {"structure": {"rev": 0.5, "cv": 0.5}, "knobs": {"alpha": 0.2, "steps": 4}}
    whole = fit_classic("pagerank", A, C, N, params)
    wide = fit_classic("pagerank", A, C, N, {**params, "structure": {**params["structure"], "keep": N}})
    narrow = fit_classic("pagerank", A, C, N, {**params, "structure": {**params["structure"], "keep": 1}})
    queries = np.arange(N)
    np.testing.assert_allclose(wide.score(queries), whole.score(queries), rtol=1e-6)
    for t, rows in narrow.sparse_terms(queries, None).items():
        assert np.diff(rows.indptr).max() <= 2, t  # one entry a row (two only where tied)


def test_rp3betas_cut_matrix_is_the_same_on_one_thread_or_several():
    """The served RP3beta matrix is formed a row block per thread: the same matrix whatever the threads."""
    from dualgnn.classics.scorers import TrainGraph, rp3beta_matrix

    rng = np.random.default_rng(5)
    n = 300
    cp = Edges(rng.integers(0, n, 3000), rng.integers(0, n, 3000), np.ones(3000, np.float32))
    cv = Edges(rng.integers(0, n, 1000), rng.integers(0, n, 1000), np.ones(1000, np.float32))
    factors = rp3beta_matrix(TrainGraph(cp, cv, n), {"beta": 0.5, "cv": 0.5})
    one = factors.kept(20, block=16, workers=1)
    three = factors.kept(20, block=16, workers=3)
    assert one.shape == (n, n) and one.nnz > 0 and (one != three).nnz == 0
    # and it is the formed matrix with each row cut to its 20 best (ties kept)
    assert (one != classics.keep_best(sp.csr_matrix(factors.toarray()), 20)).nnz == 0
