"""A shipped model learns from all of the shop's data; an evaluation model never sees its held-out pairs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dualgnn.config import TrainConfig
from dualgnn.graph import Edges, ProductGraph, merge_edges
from dualgnn.ids import IdMap
from dualgnn.split import SplitSettings, is_production, make_split, production_settings, whole_graph
from dualgnn.training.loop import train
from tests.planted_graph import PlantedFeatures

FAST = dict(epochs=8, patience=8, batch_size=64, hidden_dim=32, lr=1e-2)


def random_shop(n: int = 200, per_product: int = 3, seed: int = 0):
    """Co-purchases drawn at random, features of pure noise: a pair can only be known from its edge."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), per_product)
    dst = (src + rng.integers(1, n, len(src))) % n
    ids = IdMap([f"R{i:04d}" for i in range(n)])
    graph = ProductGraph(ids=ids, products=pd.DataFrame({"product_id": ids.ids}),
                         copurchase=merge_edges(src, dst, np.ones(len(src), np.float32), n), coview=Edges.empty())
    text = rng.normal(size=(n, 16)).astype(np.float32)
    feats = PlantedFeatures(text / np.linalg.norm(text, axis=1, keepdims=True), np.zeros((n, 3), np.int64),
                            (1, 1, 1), np.zeros((n, 2), np.float32))
    return graph, feats


def hit_rate(result, pairs: Edges, k: int = 10) -> float:
    scores = result.source[pairs.src] @ result.target.T
    scores[np.arange(len(pairs)), pairs.src] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :k]
    return float((top == pairs.dst[:, None]).any(axis=1).mean())


def test_a_pair_the_evaluation_split_held_out_is_in_the_shipped_models_list():
    graph, feats = random_shop()
    held_out = make_split(graph, SplitSettings())  # the old 75/5/20: its test pairs never reached the shipped model
    config = TrainConfig.preset("default", **FAST)
    evaluation = train(graph, feats, held_out, config, progress=False)
    shipped = train(graph, feats, make_split(graph, production_settings(0.05)), config, progress=False,
                    serve_split=whole_graph(graph))
    test = held_out.test_copurchase
    shipped_hr, evaluation_hr = hit_rate(shipped, test), hit_rate(evaluation, test)
    assert shipped_hr > 0.5 and shipped_hr > 3 * evaluation_hr, (shipped_hr, evaluation_hr)


def test_production_split_learns_every_edge_but_the_validation_slice():
    graph, _ = random_shop()
    split = make_split(graph, production_settings(0.05, seed=3))
    assert is_production(split.settings) and len(split.test_copurchase) == 0
    assert len(split.train_copurchase) + len(split.val_copurchase) == len(graph.copurchase)
    assert len(split.val_copurchase) == round(0.05 * len(graph.copurchase))
    assert len(make_split(graph, production_settings(0.0)).train_copurchase) == len(graph.copurchase)
    with pytest.raises(ValueError, match="validation share"):
        production_settings(0.7)


def test_served_vectors_propagate_over_the_validation_edges_too():
    graph, feats = random_shop()
    split = make_split(graph, production_settings(0.2))
    config = TrainConfig.preset("default", **{**FAST, "epochs": 2})
    over_training = train(graph, feats, split, config, progress=False)
    over_all = train(graph, feats, split, config, progress=False, serve_split=whole_graph(graph))
    # Same weights (same seed, same steps), other message-passing graph: the validation edges change the vectors.
    assert not np.allclose(over_training.source, over_all.source)
    assert [h["loss"] for h in over_training.history] == [h["loss"] for h in over_all.history]


def test_without_validation_the_whole_epoch_budget_runs():
    graph, feats = random_shop()
    split = make_split(graph, production_settings(0.0))
    result = train(graph, feats, split, TrainConfig.preset("default", **{**FAST, "epochs": 4, "patience": 1}),
                   progress=False)
    assert len(result.history) == 4 and np.isnan(result.best_val)


def test_cli_train_ships_by_default_and_says_what_it_learnt_from(tmp_path):
    from typer.testing import CliRunner

    from cli.app import _register, app
    from dualgnn.build import BuildInputs, build_artifacts
    from dualgnn.features.settings import FeatureSettings
    from tests.test_reliability import write_shop

    shop = write_shop(tmp_path / "shop")
    art = tmp_path / "art"
    build_artifacts(BuildInputs(products=shop / "products.csv", copurchase=shop / "copurchase.csv",
                                coview=shop / "coview.csv"), art, FeatureSettings(encoder="hashing", dim=32),
                    progress=False)
    _register()
    runner = CliRunner()
    shipped = runner.invoke(app, ["train", str(art), "--out", str(tmp_path / "m"), "--epochs", "1", "--dim", "16"])
    assert shipped.exit_code == 0, shipped.output
    assert "to ship" in shipped.output and "the served vectors use all 200" in shipped.output
    training = json.loads((tmp_path / "m" / "manifest.json").read_text())["training"]
    assert training["purpose"] == "production" and training["edges_learnt"] + training["validation_edges"] == 200
    held = runner.invoke(app, ["train", str(art), "--out", str(tmp_path / "e"), "--epochs", "1", "--dim", "16",
                               "--split", "0.75,0.05,0.2", "--split-seed", "1"])
    assert held.exit_code == 0 and "for evaluation" in held.output
    training = json.loads((tmp_path / "e" / "manifest.json").read_text())["training"]
    assert training["purpose"] == "evaluation" and training["held_out_edges"] == 40
    assert training["split"] == {"kind": "edge", "shares": [0.75, 0.05, 0.2], "seed": 1}
    bad = runner.invoke(app, ["train", str(art), "--out", str(tmp_path / "x"), "--split", "0.75,0.25"])
    assert bad.exit_code == 2 and "--split" in bad.output
