"""Training with known answers: the planted phones -> cases graph, save -> load, resume, NaN loss, paper preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualgnn.artifacts import graph_fingerprint
from dualgnn.config import TrainConfig
from dualgnn.errors import ArtifactError
from dualgnn.metrics import direction_scores, rank_targets
from dualgnn.model.io import load_model, save_model
from dualgnn.scoring import EmbeddingScorer, adjacency
from dualgnn.training.loop import NonFiniteLossError, train
from tests.planted_graph import planted, planted_world

torch.set_num_threads(2)
FAST = dict(epochs=8, patience=8, batch_size=64, hidden_dim=32, lr=1e-2, fanouts=(20, 10))


@pytest.fixture(scope="module")
def world():
    return planted_world((0.8, 0.1, 0.1))


@pytest.fixture(scope="module")
def trained(world):
    graph, feats, split, *_ = world
    return train(graph, feats, split, TrainConfig.preset("default", **FAST), progress=False)


def test_planted_direction_is_learned(world, trained):
    """Held-out phone -> case edges rank near the top; cases do not lead back to phones."""
    graph, _, split, phones, cases, brand = world
    n = graph.num_products
    scorer = EmbeddingScorer(trained.source, trained.target)
    te, tr = split.test_copurchase, split.train_copurchase
    stats = rank_targets(scorer, te.src, te.dst, adjacency(tr.src, tr.dst, n)).summary()
    assert stats["HR@5"] > 0.8
    d = direction_scores(scorer, graph.copurchase.src, graph.copurchase.dst)
    assert d["direction_acc"] > 0.95
    # Phones score low for their cases: case -> phone well below phone -> case, pair by pair. The served score
    # blends in lam * (reverse score), which scales every forward-backward gap by (1 - lam).
    pairs = graph.copurchase
    fwd = (trained.source[pairs.src] * trained.target[pairs.dst]).sum(1)
    bwd = (trained.source[pairs.dst] * trained.target[pairs.src]).sum(1)
    assert (fwd - bwd).mean() > 0.1 * (1 - trained.config.blend)
    ids, _ = scorer.recommend(phones, 5)
    assert (brand[ids] == brand[phones][:, None]).mean() > 0.8 and np.isin(ids, cases).mean() > 0.8
    after_case, _ = scorer.recommend(cases, 5)  # half the catalog is phones; other cases fill the lists
    assert np.isin(after_case, phones).mean() < 0.1


def test_history_and_early_stopping_keep_the_best(trained):
    assert trained.best_epoch >= 1
    vals = [h["val_hr10"] for h in trained.history]
    assert trained.best_val == pytest.approx(max(vals))


def test_save_load_gives_identical_recommendations(world, trained, tmp_path):
    graph = world[0]
    save_model(tmp_path / "model", trained, graph_fingerprint(graph))
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(loaded.source, trained.source)
    assert loaded.config == trained.config and loaded.fingerprint == graph_fingerprint(graph)
    q = np.arange(10)
    a = EmbeddingScorer(trained.source, trained.target).recommend(q, 5)[0]
    b = EmbeddingScorer(loaded.source, loaded.target).recommend(q, 5)[0]
    np.testing.assert_array_equal(a, b)
    # The reloaded network reproduces the stored embeddings.
    from dualgnn.model.embed import embed_all, training_graph
    from dualgnn.model.inputs import NodeInputs

    s, _ = embed_all(loaded.model, training_graph(graph, world[2], loaded.config), NodeInputs.from_features(world[1]))
    np.testing.assert_allclose(s, loaded.source, atol=1e-5)
    (tmp_path / "model" / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError):
        load_model(tmp_path / "model")


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_continues_to_the_same_state(world, tmp_path, ema_decay):
    graph, feats, split, *_ = world
    config = TrainConfig.preset("default", **{**FAST, "epochs": 4, "patience": 10, "ema_decay": ema_decay})
    full = train(graph, feats, split, config, out_dir=tmp_path / "a", progress=False)
    train(graph, feats, split, config.replace(epochs=2), out_dir=tmp_path / "b", progress=False)  # "interrupted"
    resumed = train(graph, feats, split, config, out_dir=tmp_path / "b", resume=True, progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    np.testing.assert_allclose(resumed.source, full.source, atol=1e-5)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history], rel=1e-5)
    assert (tmp_path / "b" / "training_curve.png").exists() and (tmp_path / "b" / "history.json").exists()


def test_nan_loss_raises_a_clear_error(world):
    graph, feats, split, *_ = world
    bad = type(feats)(feats.text.copy(), feats.categorical, feats.cardinalities, feats.numeric)
    bad.text[3] = np.nan
    with pytest.raises(NonFiniteLossError, match="lower --lr"):
        train(graph, bad, split, TrainConfig.preset("default", **{**FAST, "epochs": 1}), progress=False)


@pytest.mark.parametrize("preset,overrides", [
    ("paper", dict(epochs=2, hidden_dim=16)),
    ("default", dict(epochs=2, loss="warp", aggregation="attention", hidden_dim=16)),
    ("default", dict(epochs=2, mode="sampled", num_layers=2, fanouts=(5, 5), hidden_dim=16, batch_size=64)),
    ("default", dict(epochs=2, dual=False, directed=False, blend=0.0, hidden_dim=16)),
])
def test_other_presets_and_modes_train(world, preset, overrides):
    graph, feats, split, *_ = world
    res = train(graph, feats, split, TrainConfig.preset(preset, **overrides), progress=False)
    assert np.isfinite(res.source).all() and len(res.history) == 2
    assert np.isfinite(res.history[-1]["loss"])


def test_cli_train_end_to_end(tmp_path):
    """build-graph tables -> `dualgnn train` -> a loadable model directory beside its split; bad options fail cleanly."""
    import pandas as pd
    from typer.testing import CliRunner

    from cli.app import _register, app
    from dualgnn.build import BuildInputs, build_artifacts
    from dualgnn.features.settings import FeatureSettings

    graph, *_ = planted()
    ids = graph.ids.ids
    graph.products.to_csv(tmp_path / "products.csv", index=False)
    for name in ("copurchase", "coview"):
        e = getattr(graph, name)
        pd.DataFrame({"src": ids[e.src], "dst": ids[e.dst]}).to_csv(tmp_path / f"{name}.csv", index=False)
    art = tmp_path / "art"
    build_artifacts(BuildInputs(products=tmp_path / "products.csv", copurchase=tmp_path / "copurchase.csv",
                                coview=tmp_path / "coview.csv"), art, FeatureSettings(encoder="hashing", dim=32),
                    progress=False)
    _register()
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["train", str(art), "--out", str(out), "--epochs", "2", "--dim", "16", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "best validation HR@10" in result.output
    loaded = load_model(out)
    assert loaded.source.shape[0] == graph.num_products and (out / "split.npz").exists()
    assert (out / "training_curve.png").exists() and len(loaded.history) == 2
    bad = CliRunner().invoke(app, ["train", str(art), "--out", str(out), "--loss", "hinge"])
    assert bad.exit_code != 0 and "loss must be one of" in bad.output


def test_auto_mode_keeps_big_graphs_in_memory_when_they_fit():
    from dualgnn.training.loop import choose_mode

    config = TrainConfig.preset("default")
    # 1M products, 30M edges: ~10 GB for a full-graph step (measured 10.5 GB) fits a 14 GB budget ...
    assert choose_mode(config, 1_000_000, 30_000_000, budget=14 * 2**30) == "full"
    # ... not a 4 GB one; attention keeps per-edge tensors, so it needs far more.
    assert choose_mode(config, 1_000_000, 30_000_000, budget=4 * 2**30) == "sampled"
    assert choose_mode(config.replace(aggregation="attention"), 1_000_000, 30_000_000, budget=14 * 2**30) == "sampled"
    assert choose_mode(config.replace(mode="sampled"), 100, 100) == "sampled"


def test_ema_averages_the_weights_and_is_what_gets_exported(world):
    """With ema_decay the exported vectors come from averaged weights: different from the raw run's, and the
    averaging warms up (the first update copies the weights, later ones move a fraction of the way)."""
    from dualgnn.training.optim import new_ema, update_ema

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = update_ema(new_ema(model, 0.9), model, 0.9, 1)  # buffers made in advance: the first step copies
    assert torch.equal(ema["weight"], update_ema(None, model, 0.9, 1)["weight"])
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema = update_ema(ema, model, 0.9, 100)  # decay 0.9: 1 + 0.1 * (3 - 1)
    assert torch.allclose(ema["weight"], torch.full((1, 2), 1.2))
    ema = update_ema(ema, model, 0.9, 2)  # warm-up decay (1 + 2) / (10 + 2)
    assert torch.allclose(ema["weight"], torch.full((1, 2), 1.2 + (1 - 3 / 12) * 1.8))
    assert update_ema(ema, model, 0.0, 5) is None
    graph, feats, split, *_ = world
    plain = train(graph, feats, split, TrainConfig.preset("default", **FAST, ema_decay=0.0), progress=False)
    averaged = train(graph, feats, split, TrainConfig.preset("default", **FAST, ema_decay=0.9), progress=False)
    assert not np.allclose(plain.source, averaged.source)
    assert averaged.best_val > 0.5


def test_optimizer_state_made_up_front_changes_nothing(world):
    """init_optimizer_state gives the same trajectory as Adam's lazy state (same weights after two steps)."""
    from dualgnn.training.optim import init_optimizer_state, make_optimizer

    results = []
    for eager in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        opt = make_optimizer(model, TrainConfig.preset("default", weight_decay=1e-3))
        if eager:
            init_optimizer_state(opt)
            assert all(len(opt.state[p]) for p in model.parameters())
            assert all(p.grad is None for p in model.parameters())
        for step in range(2):
            opt.zero_grad()
            model(torch.ones(2, 4) * (step + 1)).pow(2).sum().backward()
            opt.step()
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_training_with_hidden_positives_learns_the_planted_graph(world, mode):
    """hide_positives (and edge_dropout on whole-graph steps) through the real trainer, both step kinds."""
    graph, feats, split, *_ = world
    config = TrainConfig.preset("default", **FAST, hide_positives=True, edge_dropout=0.1, mode=mode)
    result = train(graph, feats, split, config, progress=False)
    assert result.best_val > 0.5
