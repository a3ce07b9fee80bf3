"""The hand-written whole-graph training step (dualgnn/model/fused.py) equals the autograd composition of
the model's modules: outputs and every gradient, over several steps with buffers reused from its pool; it is
chosen in one place (``DualGNN.fused_applies``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualgnn.config import TrainConfig
from dualgnn.model.embed import training_graph
from dualgnn.model.encoder import build_model
from dualgnn.model.fused import BufferPool
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.spmm import product_into
from dualgnn.split import SplitSettings, make_split
from tests.planted_graph import planted

torch.set_num_threads(2)


def test_the_fused_step_is_chosen_in_one_place_and_only_where_it_applies():
    """``DualGNN.fused_applies``: the config's switch, a training step on a whole graph, a model the step covers."""
    graph, feats, *_ = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    inputs = NodeInputs.from_features(feats)
    for overrides, expected in (({}, True), ({"fused": False}, False), ({"aggregation": "sum"}, False),
                                ({"reverse_relations": True}, False), ({"self_term": False}, False),
                                ({"use_coview": False}, False), ({"separate_inputs": True}, False)):
        config = TrainConfig.preset("default", hidden_dim=8, **overrides)
        model = build_model(config, inputs)
        g = training_graph(graph, split, config)
        assert model.fused_applies(g) is expected, overrides
        assert not model.fused_applies(g.dgl)  # a DGL graph without its matrices (or a sampled block)
        with torch.no_grad():  # inference never takes it (no backward to hand the buffers back)
            assert not model.fused_applies(g)


def test_pool_reuses_buffers_and_row_block_products_accumulate(monkeypatch):
    import dualgnn.model.spmm as spmm

    pool = BufferPool()
    a = pool.take(4, 3)
    pool.give(a)
    assert pool.take(4, 3) is a and pool.take(4, 3) is not a
    pool.give(a)
    pool.clear()
    assert len(pool) == 0
    capped = BufferPool(max_free=2)
    capped.give(*(capped.take(4, 3) for _ in range(5)))
    assert len(capped) == 2  # the rest are freed, not kept
    monkeypatch.setattr(spmm, "ROWS_PER_BLOCK", 3)
    rng = np.random.default_rng(0)
    dense = torch.from_numpy((rng.random((10, 7)) < 0.3) * rng.random((10, 7))).float()
    x = torch.randn(7, 4)
    out = product_into(torch.empty(10, 4), dense.to_sparse_csr(), x)
    torch.testing.assert_close(out, dense @ x)
    product_into(out, dense.to_sparse_csr(), x, accumulate=True)
    torch.testing.assert_close(out, 2 * dense @ x)


def _run_model(model, g, inputs, encoder: bool, steps: int = 3, id_dropout: float = 0.0):
    """Per step: (s, t) and every parameter's gradient, for a loss that weighs each output cell differently; the
    forward pass through the one-function encoder step (``fused``) or the autograd modules."""
    model.config = model.config.replace(fused=encoder)
    assert model.fused_applies(g) is encoder
    rng = torch.Generator().manual_seed(1)
    out = []
    for _ in range(steps):
        model.zero_grad()
        mask = (torch.rand(len(inputs), generator=rng) >= id_dropout).float()
        s, t = model(g, inputs, id_mask=mask)
        ws, wt = torch.randn(s.shape, generator=rng), torch.randn(t.shape, generator=rng)
        ((s * ws).sum() + (t * wt).sum()).backward()
        out.append(([s.detach().clone(), t.detach().clone()],
                    {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}))
    return out


@pytest.mark.parametrize("overrides", [{}, {"activation": "none", "target_bias": False},
                                       {"num_layers": 3, "layer_combine": "last", "id_embeddings": False},
                                       {"num_layers": 1, "use_numeric": False, "use_categorical": False}])
def test_encoder_step_equals_the_module_composition(overrides):
    """Outputs and every parameter gradient (tables, padding row, id vectors under a dropout mask, bias) of the
    one-function encoder equal those of the per-module forward, over steps that reuse pooled buffers."""
    graph, feats, *_ = planted()
    config = TrainConfig.preset("default", hidden_dim=8, **overrides)
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    g = training_graph(graph, split, config)
    inputs = NodeInputs.from_features(feats)
    assert inputs.categorical.shape[1] > 0 and (inputs.categorical == 0).any()  # tables and padding rows in use
    torch.manual_seed(0)
    model = build_model(config, inputs)
    fused = _run_model(model, g, inputs, True, id_dropout=0.3)
    plain = _run_model(model, g, inputs, False, id_dropout=0.3)
    assert len(model.pool) > 0
    for (f_out, f_grads), (p_out, p_grads) in zip(fused, plain):
        for a, b in zip(f_out, p_out):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        assert f_grads.keys() == p_grads.keys()
        for k in f_grads:
            torch.testing.assert_close(f_grads[k], p_grads[k], atol=1e-5, rtol=1e-4, msg=k)


def test_train_no_fused_trains_through_autograd_and_records_it(tmp_path):
    """`dualgnn train --no-fused`: the switch reaches the model's config (and so any later resume or refresh)."""
    import json

    from tests.test_reliability import build_args, cli_ok, write_shop

    cli_ok(*build_args(write_shop(tmp_path / "shop"), tmp_path / "graph"))
    cli_ok("train", tmp_path / "graph", "--out", tmp_path / "model", "--epochs", "1", "--dim", "16", "--no-fused",
           "--no-ranker", "--quiet")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["fused"] is False
