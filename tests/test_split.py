"""Splits: deterministic, disjoint, and cold products keep no edge in the training graph."""

import numpy as np
import pandas as pd
import pytest

from dualgnn.graph import build_graph
from dualgnn.sources.base import RawData
from dualgnn.split import Split, SplitSettings, make_split


def _random_graph(n=200, m=1500, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(n)]
    cp = pd.DataFrame({"src": rng.choice(ids, m), "dst": rng.choice(ids, m), "weight": 1.0})
    cv = pd.DataFrame({"src": rng.choice(ids, m // 2), "dst": rng.choice(ids, m // 2), "weight": 1.0})
    return build_graph(RawData(pd.DataFrame({"product_id": ids}), cp, cv))[0]


def _keys(e, n):
    return set(e.keys(n).tolist())


def test_edge_split_is_disjoint_complete_and_seeded():
    g = _random_graph()
    s1, s2 = make_split(g, SplitSettings(seed=3)), make_split(g, SplitSettings(seed=3))
    n = g.num_products
    parts = [_keys(s1.train_copurchase, n), _keys(s1.val_copurchase, n), _keys(s1.test_copurchase, n)]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
    assert set().union(*parts) == _keys(g.copurchase, n)
    assert abs(len(parts[2]) / len(g.copurchase) - 0.2) < 0.01
    assert np.array_equal(s1.test_copurchase.src, s2.test_copurchase.src)
    assert not np.array_equal(make_split(g, SplitSettings(seed=4)).test_copurchase.src, s1.test_copurchase.src)


def test_node_split_cold_products_have_no_training_edges():
    g = _random_graph()
    s = make_split(g, SplitSettings(kind="node", seed=0))
    cold = set(s.cold.tolist())
    assert cold
    for e in (s.train_copurchase, s.train_coview):
        assert cold.isdisjoint(e.src.tolist()) and cold.isdisjoint(e.dst.tolist())
    for e in (s.val_copurchase, s.test_copurchase):
        touches = [(a in cold) != (b in cold) for a, b in zip(e.src.tolist(), e.dst.tolist())]
        assert all(touches)  # every held-out edge joins exactly one cold product to a warm one


def test_split_save_load_roundtrip(tmp_path):
    g = _random_graph()
    s = make_split(g, SplitSettings(kind="node", ratios=(0.7, 0.1, 0.2), seed=5))
    s.save(tmp_path / "split.npz")
    t = Split.load(tmp_path / "split.npz", graph=g)
    assert t.settings == s.settings and np.array_equal(t.cold, s.cold)
    assert np.array_equal(t.test_copurchase.dst, s.test_copurchase.dst)


@pytest.mark.parametrize("kwargs", [dict(kind="random"), dict(ratios=(0.5, 0.5, 0.5)), dict(ratios=(0.0, 0.5, 0.5))])
def test_bad_split_settings_raise(kwargs):
    with pytest.raises(ValueError):
        SplitSettings(**kwargs)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_numpy_or_torch_cannot_take_is_refused_by_the_settings(seed):
    from dualgnn.config import TrainConfig
    from dualgnn.errors import SettingsError

    with pytest.raises(SettingsError, match="seed must be from 0 to 4294967295") as info:
        SplitSettings(seed=seed)
    assert info.value.option == "--split-seed"
    with pytest.raises(SettingsError, match="seed must be from 0 to 4294967295"):
        TrainConfig(seed=seed)
