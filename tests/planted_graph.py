"""A planted product graph with a known answer, shared by the model / training / cold-start tests.

``groups`` brands, each with ``per_group`` phones and as many cases. Every phone links (copurchase) to every case of
its brand, never back; phones of a brand are co-viewed together. Text features: kind vector (phone / case) + brand
vector + noise, so a case's text is close to its brand's phones but clearly a case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dualgnn.graph import Edges, ProductGraph, merge_edges, symmetrise
from dualgnn.ids import IdMap


@dataclass
class PlantedFeatures:
    text: np.ndarray
    categorical: np.ndarray
    cardinalities: tuple
    numeric: np.ndarray


def planted(groups: int = 8, per_group: int = 5, dim: int = 32, seed: int = 0):
    """-> (graph, features, phones, cases, brand): ids of phones and cases, brand per product."""
    rng = np.random.default_rng(seed)
    n = 2 * groups * per_group
    kind = np.repeat([0, 1], groups * per_group)  # 0 phone, 1 case
    brand = np.tile(np.repeat(np.arange(groups), per_group), 2)
    kind_vec = rng.normal(size=(2, dim))
    brand_vec = rng.normal(size=(groups, dim))
    text = 1.5 * kind_vec[kind] + brand_vec[brand] + 0.3 * rng.normal(size=(n, dim))
    text = (text / np.linalg.norm(text, axis=1, keepdims=True)).astype(np.float32)
    phones, cases = np.flatnonzero(kind == 0), np.flatnonzero(kind == 1)
    src = np.array([p for p in phones for c in cases if brand[c] == brand[p]], np.int64)
    dst = np.array([c for p in phones for c in cases if brand[c] == brand[p]], np.int64)
    cv_src = np.array([a for a in phones for b in phones if a != b and brand[a] == brand[b]], np.int64)
    cv_dst = np.array([b for a in phones for b in phones if a != b and brand[a] == brand[b]], np.int64)
    ids = IdMap([f"P{i:04d}" for i in range(n)])
    products = pd.DataFrame({"product_id": ids.ids, "title": [f"{'phone case'.split()[k]} {b}" for k, b in zip(kind, brand)]})
    graph = ProductGraph(ids=ids, products=products,
                         copurchase=merge_edges(src, dst, np.ones(len(src), np.float32), n),
                         coview=symmetrise(Edges(cv_src, cv_dst, np.ones(len(cv_src), np.float32)), n))
    categorical = np.stack([brand + 1, kind + 1, np.zeros(n, int)], 1).astype(np.int64)
    feats = PlantedFeatures(text, categorical, (groups + 1, 3, 1), np.zeros((n, 2), np.float32))
    return graph, feats, phones, cases, brand


def planted_world(ratios: tuple[float, float, float], seed: int = 0):
    """-> (graph, features, split, phones, cases, brand): the planted graph with an edge split of ``ratios``."""
    from dualgnn.split import SplitSettings, make_split

    graph, feats, phones, cases, brand = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=ratios, seed=seed))
    return graph, feats, split, phones, cases, brand


def write_planted_artifacts(directory, groups: int = 8, per_group: int = 5, seed: int = 0):
    """The planted graph as a graph artifact directory (what `dualgnn build-graph` writes), for the commands.

    -> (directory, graph, phones, cases, brand)."""
    from pathlib import Path

    from dualgnn.artifacts import FORMAT_VERSION, MANIFEST, write_graph, write_json
    from dualgnn.features.settings import FeatureSettings
    from dualgnn.features.store import Features

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    graph, feats, phones, cases, brand = planted(groups, per_group, seed=seed)
    vocab = {"brand": [f"brand{i}" for i in range(groups)], "category_top": ["phone", "case"], "category_leaf": []}
    Features(text=feats.text, categorical=feats.categorical, numeric=feats.numeric,
             cardinalities=feats.cardinalities, vocab=vocab, numeric_stats={"log_price_mean": 0.0, "log_price_std": 1.0},
             settings=FeatureSettings().to_dict()).save(directory)
    write_graph(directory, graph)
    write_json(directory / MANIFEST, {"kind": "graph", "format_version": FORMAT_VERSION,
                                      "counts": {"products": graph.num_products}})
    return directory, graph, phones, cases, brand
