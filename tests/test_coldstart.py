"""Cold start: new products placed through their nearest warm products in text space."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from dualgnn.config import TrainConfig
from dualgnn.model.coldstart import ColdStarter, embed_new_products
from dualgnn.model.embed import training_graph
from dualgnn.model.inputs import NodeInputs
from dualgnn.scoring import EmbeddingScorer
from dualgnn.split import SplitSettings, make_split
from dualgnn.training.loop import train
from tests.planted_graph import planted

torch.set_num_threads(2)
FAST = dict(epochs=8, patience=8, batch_size=64, hidden_dim=32, lr=1e-2)


@pytest.fixture(scope="module")
def world():
    graph, feats, phones, cases, brand = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    res = train(graph, feats, split, TrainConfig.preset("default", **FAST), progress=False)
    return graph, feats, split, res, phones, cases, brand


def test_new_product_with_a_warm_products_metadata_lands_near_it(world):
    graph, feats, split, res, phones, cases, brand = world
    g = training_graph(graph, split, res.config)
    p = int(phones[7])
    new = NodeInputs.from_features(feats).take(torch.tensor([p]))
    s, t = embed_new_products(res.model, res.config, g, feats, new, k_links=5)
    # It gets (nearly) its warm twin's recommendations.
    twin_top = np.argsort(-(res.source[p] @ res.target.T))[:5]
    assert len(np.intersect1d(np.argsort(-(s[0] @ res.target.T))[:5], twin_top)) >= 4
    # Its recommendations are the cases of its brand, as for the warm twin.
    scores = s[0] @ res.target.T
    top = np.argsort(-scores)[:5]
    assert np.isin(top, cases).all() and (brand[top] == brand[p]).mean() >= 0.8


def test_one_new_product_takes_well_under_a_second(world):
    graph, feats, split, res, phones, *_ = world
    g = training_graph(graph, split, res.config)
    inputs = NodeInputs.from_features(feats)
    starter = ColdStarter(res.model, g, inputs, np.ones(len(inputs), bool))
    new = inputs.take(torch.tensor([int(phones[0])]))
    starter.embed(new)
    t0 = time.perf_counter()
    for _ in range(5):
        starter.embed(new)
    assert (time.perf_counter() - t0) / 5 < 0.2


def test_node_split_trains_and_recommends_cases_for_cold_phones():
    """EQ4: cold products lose every edge; validation and the final vectors use the cold-start path."""
    graph, feats, phones, cases, brand = planted(seed=1)
    split = make_split(graph, SplitSettings(kind="node", ratios=(0.7, 0.15, 0.15), seed=0))
    res = train(graph, feats, split, TrainConfig.preset("default", **FAST), progress=False)
    assert all(np.isfinite(h["val_hr10"]) for h in res.history)
    cold_phones = np.intersect1d(split.cold, phones)
    assert len(cold_phones) > 0
    ids, _ = EmbeddingScorer(res.source, res.target).recommend(cold_phones, 5)
    assert np.isin(ids, cases).mean() > 0.8
    assert (brand[ids] == brand[cold_phones][:, None]).mean() > 0.6
