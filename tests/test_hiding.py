"""Hiding a step's positive edges from message passing (dualgnn/training/hiding.py): the per-step graph is exactly the
training graph without those edges, in every aggregation path, and the edges come back after the step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dualgnn.config import TrainConfig
from dualgnn.model.embed import training_graph
from dualgnn.model.encoder import build_model
from dualgnn.model.inputs import NodeInputs
from dualgnn.split import SplitSettings, make_split
from dualgnn.training.hiding import EdgeHider
from tests.planted_graph import planted

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def planted_split():
    graph, feats, *_ = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    return graph, feats, split


@pytest.mark.parametrize("aggregation", ["weighted", "sum", "mean", "attention"])
def test_step_graph_equals_the_graph_built_without_the_edges(planted_split, aggregation):
    graph, feats, split = planted_split
    config = TrainConfig.preset("default", aggregation=aggregation, hidden_dim=8)
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(feats)
    torch.manual_seed(0)
    model = build_model(config, inputs).eval()
    ids = torch.tensor([0, 3, 5, 7, 11, 40])
    keep = np.ones(len(split.train_copurchase), bool)
    keep[ids.numpy()] = False
    without = training_graph(graph, dataclasses.replace(split, train_copurchase=split.train_copurchase.subset(keep)),
                             config)
    hider = EdgeHider(g, 0.0, weighted=aggregation == "weighted")
    with torch.no_grad():
        before = model(g, inputs)
        with hider.without(ids) as step_graph:
            hidden = model(step_graph, inputs)
        expected = model(without, inputs)
        after = model(g, inputs)
    for got, want in zip(hidden, expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    for got, want in zip(after, before):  # the hidden edges are back
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    # and hiding changed something: the products at the ends of the hidden edges see different neighbourhoods
    ends = np.unique(np.concatenate([split.train_copurchase.src[ids.numpy()], split.train_copurchase.dst[ids.numpy()]]))
    assert (hidden[0][ends] - before[0][ends]).abs().max() > 1e-3


def test_gradients_flow_through_the_step_matrices(planted_split):
    """Training through the per-step matrices: the backward uses the step's A^T (same gradient as a model run on
    the graph built without the edges)."""
    graph, feats, split = planted_split
    config = TrainConfig.preset("default", hidden_dim=8)
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(feats)
    ids = torch.arange(0, 60, 3)
    keep = np.ones(len(split.train_copurchase), bool)
    keep[ids.numpy()] = False
    without = training_graph(graph, dataclasses.replace(split, train_copurchase=split.train_copurchase.subset(keep)),
                             config)
    grads = []
    for use_hider in (True, False):
        torch.manual_seed(0)
        model = build_model(config, inputs)
        if use_hider:
            with EdgeHider(g, 0.0, weighted=True).without(ids) as step_graph:
                s, t = model(step_graph, inputs)
        else:
            s, t = model(without, inputs)
        (s[:, :8] * t[:, :8]).sum().backward()  # the backward runs after the with block, as in training
        grads.append(model.layers[0].weight.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_edge_dropout_hides_the_batch_and_a_share_of_the_rest(planted_split):
    graph, feats, split = planted_split
    g = training_graph(graph, split, TrainConfig.preset("default"))
    m = g.num_edges("copurchase")
    gen = torch.Generator().manual_seed(0)
    batch = torch.tensor([1, 2, 3])
    assert EdgeHider(g, 0.0, True).hidden(batch, gen).tolist() == [1, 2, 3]
    shares = [len(torch.unique(EdgeHider(g, 0.3, True).hidden(batch, gen))) / m for _ in range(20)]
    assert 0.25 < float(np.median(shares)) < 0.35
    with pytest.raises(ValueError, match="edge_dropout"):
        TrainConfig(edge_dropout=1.0)


def test_sampled_blocks_exclude_the_hidden_edges(planted_split):
    from dualgnn._dgl_compat import dgl

    graph, feats, split = planted_split
    g = training_graph(graph, split, TrainConfig.preset("default"))
    cp = split.train_copurchase
    ids = torch.arange(0, len(cp), 2)
    seeds = torch.unique(torch.from_numpy(np.concatenate([cp.src, cp.dst])))
    sampler = dgl.dataloading.NeighborSampler([1000])
    _, _, blocks = sampler.sample_blocks(g.dgl, {"product": seeds}, exclude_eids=EdgeHider(g, 0.0, True).exclude(ids))
    sampled = set(blocks[0].edges["copurchase"].data[dgl.EID].tolist())
    sampled_by = set(blocks[0].edges["copurchased_by"].data[dgl.EID].tolist())
    hidden = set(ids.tolist())
    assert sampled and not (sampled & hidden) and not (sampled_by & hidden)
    assert sampled == set(range(len(cp))) - hidden  # fan-out above every degree: everything else is sampled


def test_a_batch_that_is_most_of_the_graph_hides_only_a_capped_share(planted_split):
    from dualgnn.training.hiding import MAX_HIDDEN_SHARE

    graph, feats, split = planted_split
    g = training_graph(graph, split, TrainConfig.preset("default"))
    m = g.num_edges("copurchase")
    everything = torch.arange(m)
    hidden = EdgeHider(g, 0.0, True).hidden(everything, torch.Generator().manual_seed(0))
    assert len(hidden) == int(MAX_HIDDEN_SHARE * m) and len(torch.unique(hidden)) == len(hidden)
    small = everything[: int(MAX_HIDDEN_SHARE * m) // 2]
    assert torch.equal(EdgeHider(g, 0.0, True).hidden(small, torch.Generator().manual_seed(0)), small)
