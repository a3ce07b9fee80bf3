"""The encoder: message-passing direction, aggregation variants, block == full graph, batch == single scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualgnn.config import TrainConfig
from dualgnn.graph import Edges, ProductGraph, merge_edges
from dualgnn.ids import IdMap
from dualgnn.model.encoder import add_edge_norms, build_model
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.spmm import WholeGraph
from dualgnn.scoring import EmbeddingScorer
from tests.planted_graph import PlantedFeatures

torch.set_num_threads(2)


def tiny(n: int = 6, dim: int = 8, seed: int = 0):
    """0 -> 1, 2 -> 0 (2 is an in-neighbour of 0), 1 -> 3, 4 ~ 5 co-viewed; -> (graph, features)."""
    import pandas as pd

    src, dst = np.array([0, 2, 1]), np.array([1, 0, 3])
    graph = ProductGraph(ids=IdMap([str(i) for i in range(n)]), products=pd.DataFrame({"product_id": [str(i) for i in range(n)]}),
                         copurchase=merge_edges(src, dst, np.ones(3, np.float32), n),
                         coview=Edges(np.array([4, 5]), np.array([5, 4]), np.ones(2, np.float32)))
    rng = np.random.default_rng(seed)
    feats = PlantedFeatures(rng.normal(size=(n, dim)).astype(np.float32), np.ones((n, 1), np.int64), (2,),
                            rng.normal(size=(n, 2)).astype(np.float32))
    return graph, feats


def embed(config, graph, feats, seed=0):
    torch.manual_seed(seed)
    g = graph.to_dgl()
    add_edge_norms(g)
    g = WholeGraph.of(g)  # the weighted aggregation's CSR products, as training_graph gives them
    inputs = NodeInputs.from_features(feats)
    model = build_model(config, inputs).eval()
    with torch.no_grad():
        return model, g, inputs, [x.numpy() for x in model(g, inputs)]


@pytest.mark.parametrize("aggregation", ["sum", "mean", "weighted", "attention"])
@pytest.mark.parametrize("self_term", [True, False])
def test_source_depends_only_on_out_neighbours(aggregation, self_term):
    """s_0 reads the targets of 0's out-neighbour (1), never 0's in-neighbour (2); t_0 does read 2."""
    config = TrainConfig.preset("default", num_layers=2, aggregation=aggregation, self_term=self_term,
                                id_embeddings=False, reverse_relations=False)
    graph, feats = tiny()
    model, g, inputs, (s, t) = embed(config, graph, feats)
    feats.text[2] += 5.0  # perturb the in-neighbour
    with torch.no_grad():
        s2, t2 = [x.numpy() for x in model(g, NodeInputs.from_features(feats))]
    np.testing.assert_allclose(s2[0], s[0], atol=1e-6)
    assert np.abs(t2[0] - t[0]).max() > 1e-3
    feats.text[1] += 5.0  # perturb the out-neighbour: now s_0 moves
    with torch.no_grad():
        s3, _ = [x.numpy() for x in model(g, NodeInputs.from_features(feats))]
    assert np.abs(s3[0] - s[0]).max() > 1e-3


@pytest.mark.parametrize("aggregation", ["weighted", "attention"])
def test_reverse_relations_read_in_neighbours_through_their_own_weight(aggregation):
    """With the DirGNN view s_0 also reads its in-neighbour (2), but through W_rev: zeroing W_rev restores the
    out-neighbour-only source, so the two relations stay distinguishable."""
    config = TrainConfig.preset("default", num_layers=1, aggregation=aggregation, id_embeddings=False,
                                reverse_relations=True)
    graph, feats = tiny()
    model, g, inputs, (s, t) = embed(config, graph, feats)
    feats.text[2] += 5.0
    with torch.no_grad():
        s2, _ = [x.numpy() for x in model(g, NodeInputs.from_features(feats))]
    assert np.abs(s2[0] - s[0]).max() > 1e-3
    with torch.no_grad():
        model.layers[0].reverse_weight.weight.zero_()
        s3, _ = [x.numpy() for x in model(g, NodeInputs.from_features(feats))]
        s4, _ = [x.numpy() for x in model(g, inputs)]
    np.testing.assert_allclose(s3[0], s4[0], atol=1e-6)
    with pytest.raises(ValueError, match="reverse_relations"):
        TrainConfig.preset("default", dual=False, blend=0.0, reverse_relations=True)


def test_coview_feeds_both_roles_and_outputs_are_unit_vectors():
    config = TrainConfig.preset("default", id_embeddings=False, self_term=False)
    graph, feats = tiny()
    model, g, _, (s, t) = embed(config, graph, feats)
    np.testing.assert_allclose(np.linalg.norm(s[:, :-1], axis=1), 1.0, atol=1e-5)  # last column: the bias slot
    feats.text[5] += 5.0
    with torch.no_grad():
        s2, t2 = [x.numpy() for x in model(g, NodeInputs.from_features(feats))]
    assert np.abs(s2[4] - s[4]).max() > 1e-3 and np.abs(t2[4] - t[4]).max() > 1e-3


def test_single_embedding_ablation_has_equal_roles():
    config = TrainConfig.preset("default", dual=False, blend=0.0, id_embeddings=False)
    graph, feats = tiny()
    _, _, _, (s, t) = embed(config, graph, feats)
    np.testing.assert_allclose(s, t, atol=1e-6)


def test_sampled_blocks_with_full_fanout_equal_full_graph():
    """Neighbour sampling with a fan-out above every degree must reproduce full-graph propagation."""
    from dualgnn._dgl_compat import dgl

    config = TrainConfig.preset("default", num_layers=2, fanouts=(50, 50))
    graph, feats = tiny()
    model, g, inputs, (s, t) = embed(config, graph, feats)
    seeds = torch.tensor([0, 1, 3])
    sampler = dgl.dataloading.NeighborSampler([50, 50])
    input_nodes, _, blocks = sampler.sample_blocks(g.dgl, {"product": seeds})
    with torch.no_grad():
        sb, tb = model.forward_blocks(blocks, inputs, input_nodes, id_mask=torch.ones(len(inputs)))
    np.testing.assert_allclose(sb.numpy(), s[seeds.numpy()], atol=1e-5)
    np.testing.assert_allclose(tb.numpy(), t[seeds.numpy()], atol=1e-5)


def test_batch_recommendations_equal_single_calls():
    config = TrainConfig.preset("default")
    graph, feats = tiny()
    _, _, _, (s, t) = embed(config, graph, feats)
    scorer = EmbeddingScorer(s, t)
    queries = np.arange(len(s))
    ids, scores = scorer.recommend(queries, 3)
    for q in queries:
        one_ids, one_scores = scorer.recommend(np.array([q]), 3)
        np.testing.assert_array_equal(one_ids[0], ids[q])
        np.testing.assert_allclose(one_scores[0], scores[q], rtol=1e-5)  # BLAS rounding differs by batch shape


def test_config_validates_and_round_trips():
    with pytest.raises(ValueError, match="aggregation"):
        TrainConfig(aggregation="max")
    with pytest.raises(ValueError, match="fanouts"):
        TrainConfig(num_layers=3, fanouts=(10, 10))
    paper = TrainConfig.preset("paper")
    assert (paper.num_layers, paper.aggregation, paper.self_term, paper.loss, paper.lr) == (3, "sum", False, "paper", 1e-4)
    assert TrainConfig.from_dict(paper.to_dict()) == paper
    assert TrainConfig.preset("default", num_layers=3).fanouts == (20, 10, 10)


@pytest.mark.parametrize("overrides", [{}, {"layer_combine": "last"}, {"activation": "none", "self_term": False},
                                       {"use_coview": False, "num_layers": 1}, {"aggregation": "sum"}])
def test_row_block_inference_equals_the_whole_graph_forward(overrides):
    """embed_rows (layer-wise, a few rows at a time) gives the served vectors of the plain forward pass."""
    from dualgnn.config import TrainConfig
    from dualgnn.model.embed import training_graph
    from dualgnn.model.encoder import build_model
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.split import SplitSettings, make_split
    from tests.planted_graph import planted

    graph, feats, *_ = planted()
    config = TrainConfig.preset("default", hidden_dim=8, **overrides)
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(feats)
    torch.manual_seed(0)
    model = build_model(config, inputs).eval()
    warm = torch.ones(len(inputs))
    warm[:5] = 0.0
    with torch.no_grad():
        expected = model.serve(*model(g, inputs, id_mask=warm))
        got = model.embed_rows(g, inputs, id_mask=warm, chunk=7)  # blocks that do not divide the 80 rows
    assert model.rows_ok(g) == (overrides.get("aggregation", "weighted") == "weighted")
    for e, x in zip(expected, got):
        torch.testing.assert_close(x, e, rtol=1e-5, atol=1e-6)
