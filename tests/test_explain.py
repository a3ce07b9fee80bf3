"""Explainer: finds planted paths, prefers the strongest, falls back to metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dualgnn.graph import Edges, ProductGraph, symmetrise
from dualgnn.ids import IdMap
from dualgnn.serving.explain import Explainer


def graph_of(n, copurchase, coview=(), cats=None, titles=None):
    ids = [f"n{i}" for i in range(n)]
    products = pd.DataFrame({"product_id": ids, "title": titles or [f"item {i}" for i in range(n)],
                             "category": cats or [f"C > c{i}" for i in range(n)], "brand": [""] * n})

    def edges(triples):
        if not triples:
            return Edges.empty()
        a = np.array(triples, dtype=np.float64)
        return Edges(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].astype(np.float32))

    return ProductGraph(IdMap(ids), products, edges(copurchase), symmetrise(edges(list(coview)), n))


def test_planted_two_hop_paths_and_the_strongest_wins():
    # q=0 bought with 1 (weight 3) and 2 (weight 1); 1 viewed with 5; 2 bought-before 5 and 6.
    # Paths to 5: 0->1~5 = 0.75 * 1.0 ; 0->2->5 = 0.25 * 0.5. The co-view path through 1 must win.
    g = graph_of(8, [(0, 1, 3), (0, 2, 1), (2, 5, 1), (2, 6, 1)], coview=[(1, 5, 1)])
    ex = Explainer(g).explain(np.array([0, 0, 0]), np.array([5, 6, 1]))
    assert ex.kind.tolist() == ["copurchase>coview", "copurchase>copurchase", "copurchase"]
    assert ex.via.tolist() == [1, 2, -1]
    np.testing.assert_allclose(ex.strength, [0.75, 0.125, 0.75])


def test_the_sentence_says_also_bought_and_what_its_percentages_are():
    g = graph_of(8, [(0, 1, 3), (0, 2, 1), (2, 5, 1), (2, 6, 1)], coview=[(1, 5, 1)],
                 titles=["phone", "case", "charger", "t3", "t4", "sleeve", "cable", "t7"])
    text = Explainer(g).describe(np.array([0, 0, 0]), np.array([1, 5, 6]), g.products)
    # 0 -> 1 carries 3 of the phone's 4 units of co-purchase weight.
    assert text[0] == "customers who bought phone also bought this (75% of phone's co-purchases)"
    assert text[1] == ("customers who bought phone also bought case (75% of phone's co-purchases), which is viewed "
                       "with this (100% of case's co-views)")
    assert text[2] == ("customers who bought phone also bought charger (25% of phone's co-purchases), and 50% of "
                       "charger's co-purchases are this")


def test_no_path_within_two_hops_says_metadata():
    # 0 -> 1 -> 2 -> 3: node 3 is three hops away; 7 is isolated.
    g = graph_of(8, [(0, 1, 1), (1, 2, 1), (2, 3, 1)], cats=["C > a"] * 4 + ["C > b"] * 3 + ["C > a"],
                 titles=["red phone"] + ["x"] * 6 + ["red phone case"])
    explainer = Explainer(g)
    ex = explainer.explain(np.array([0, 0, 0]), np.array([3, 7, 2]))
    assert ex.kind.tolist() == ["metadata", "metadata", "copurchase>copurchase"]
    text = explainer.describe(np.array([0, 0]), np.array([7, 2]), g.products)
    assert text[0].startswith("metadata:") and "same category 'a'" in text[0] and "phone" in text[0]
    assert "customers who bought red phone also bought x" in text[1]


def test_direction_matters_and_cold_products_have_no_path():
    g = graph_of(4, [(0, 1, 1), (1, 2, 1)])
    ex = Explainer(g).explain(np.array([2, 1, 0, 9]), np.array([0, 0, 2, 0]))  # 9: a cold product (id >= n)
    assert ex.kind.tolist() == ["metadata", "metadata", "copurchase>copurchase", "metadata"]


def test_vectorised_over_many_pairs_matches_dense_reference():
    rng = np.random.default_rng(0)
    n = 60
    cp = [(int(a), int(b), float(w)) for a, b, w in zip(rng.integers(0, n, 200), rng.integers(0, n, 200),
                                                         rng.integers(1, 4, 200)) if a != b]
    g = graph_of(n, cp)
    A = np.zeros((n, n))
    for a, b, w in cp:
        A[a, b] += w
    P = A / np.maximum(A.sum(axis=1, keepdims=True), 1e-12)
    two = np.einsum("qw,wv->qwv", P, P)
    two[:, np.arange(n), np.arange(n)] = 0
    q, v = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    ex = Explainer(g, chunk=500).explain(q, v)
    want = np.maximum(P[q, v], two[q, :, v].max(axis=1))
    np.testing.assert_allclose(ex.strength, want, rtol=1e-6)
