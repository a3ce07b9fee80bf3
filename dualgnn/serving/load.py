"""Assemble a :class:`~dualgnn.serving.recommender.Recommender` from artifacts: graph + model, checked to belong together.

Also the inputs of ``dualgnn recommend``: id files (one id per line), the in-stock list, and cold-start products
(any reader format -> features against the saved ones -> cold-start forward pass -> appended to the catalog).

>>> graph, rec = load_recommender("artifacts/", "model/")      # doctest: +SKIP
>>> rec.recommend(rec.encode(["B01"]), 10)                            # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dualgnn.artifacts import graph_fingerprint, load_graph, read_manifest, read_vectors
from dualgnn.errors import ArtifactError, InputError, SkipReport, UnknownIdError
from dualgnn.graph import ProductGraph
from dualgnn.scoring import adjacency
from dualgnn.serving.recommender import Recommender
from dualgnn.sources._open import read_utf8


def check_fingerprint(model_fingerprint: str | None, graph: ProductGraph, model_dir: str | Path) -> None:
    """:class:`ArtifactError` unless the model was trained on ``graph`` (same id map, hence same row order)."""
    expected = graph_fingerprint(graph)
    if model_fingerprint != expected:
        raise ArtifactError(
            f"{model_dir} was trained on another graph (model fingerprint {model_fingerprint}, graph {expected}): "
            "its rows would be matched to the wrong products",
            hint="pass the artifact directory the model was trained on, or retrain: dualgnn train ARTIFACTS")


def load_embeddings(model_dir: str | Path) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``(source (n, d), target (n, d), graph fingerprint)`` of a model directory, without loading the network.

    Serving warm products needs only the stored vectors; the weights (and torch) are loaded for cold start only.
    """
    manifest = read_manifest(model_dir, kind="model")
    source, target = read_vectors(model_dir)
    return source, target, manifest.get("graph_fingerprint")


def load_recommender(artifacts: str | Path, model_dir: str | Path, *, index_kind: str = "auto",
                     num_queries: int | None = None, threads: int = 0,
                     ranked: bool = True) -> tuple[ProductGraph, Recommender]:
    """``(graph, Recommender)`` for an artifact directory and a model trained on it (fingerprints checked).
    ``ranked``: the model's ranker (when it has one) ranks catalog queries (:mod:`dualgnn.ranking.production`)."""
    graph = load_graph(artifacts)
    source, target, fingerprint = load_embeddings(model_dir)
    check_fingerprint(fingerprint, graph, model_dir)
    rec = recommender_for(graph, source, target, index_kind=index_kind, num_queries=num_queries, threads=threads)
    if ranked:
        from dualgnn.ranking.production import has_ranker, load_shipped_ranker

        if has_ranker(model_dir):
            from dualgnn.features.store import Features

            # The recommender's own target index (built on first use, after the caller's plan) retrieves the
            # ranker's GNN candidates too: one index, one choice of kind and threads.
            rec.use_ranker(load_shipped_ranker(graph, Features.load(artifacts), model_dir, rec.source, rec.target,
                                               index_kind=index_kind, threads=threads, index=rec.catalog_index))
    return graph, rec


def recommender_for(graph: ProductGraph, source: np.ndarray, target: np.ndarray, **index_opts) -> Recommender:
    """A recommender over ``graph``'s catalog whose ``exclude_linked`` uses its co-purchase out-neighbours."""
    cp = graph.copurchase
    return Recommender(graph.products, source, target, linked=adjacency(cp.src, cp.dst, graph.num_products),
                       ids=graph.ids, **index_opts)


def read_id_file(path: str | Path, skipped: SkipReport | None = None) -> tuple[list[str], list[int]]:
    """Ids of a file with one id per line (blank lines and ``#`` comments skipped) and their 1-based lines.

    Read like the input tables (:func:`~dualgnn.sources._open.read_utf8`): gzip detected by content, invalid
    UTF-8 replaced and counted in ``skipped``, an empty or missing file an :class:`InputError`.
    """
    data = read_utf8(path, SkipReport() if skipped is None else skipped, expected="one product id per line")
    ids, lines = [], []
    # split("\n"), not splitlines(): the latter also splits on \x85 and \u2028 and shifts line numbers.
    for n, line in enumerate(data.decode("utf-8").split("\n"), start=1):
        value = line.strip()
        if value and not value.startswith("#"):
            ids.append(value)
            lines.append(n)
    if not ids:
        raise InputError("the file lists no product ids", path=path, hint="one product id per line")
    return ids, lines


def encode_ids(rec: Recommender, ids: list[str], origin: str) -> np.ndarray:
    """Internal ids of ids given on the command line; :class:`UnknownIdError` names the id and ``origin``."""
    idx = rec.ids.lookup(ids)
    bad = np.flatnonzero(idx < 0)
    if len(bad):
        raise UnknownIdError(f"unknown product id {ids[bad[0]]!r} (from {origin})",
                             hint="check the id against the catalog used to build the graph")
    return idx


def encode_id_file(rec: Recommender, path: str | Path, skipped: SkipReport | None = None) -> np.ndarray:
    """Internal ids of every line of ``path``; :class:`UnknownIdError` names the unknown id and its line."""
    ids, lines = read_id_file(path, skipped)
    idx = rec.ids.lookup(ids)
    bad = np.flatnonzero(idx < 0)
    if len(bad):
        more = f" (and {len(bad) - 1:,} more)" if len(bad) > 1 else ""
        raise UnknownIdError(f"unknown product id {ids[bad[0]]!r}{more}", path=path, line=lines[bad[0]],
                             hint="check the id against the catalog used to build the graph")
    return idx


def read_in_stock(rec: Recommender, path: str | Path, skipped: SkipReport | None = None) -> tuple[np.ndarray, int]:
    """Internal ids of the in-stock file and the number of unknown ids (for the caller to warn about; not fatal:
    stock lists often name products the graph has not seen yet)."""
    ids, _ = read_id_file(path, skipped)
    idx = rec.ids.lookup(ids)
    return np.unique(idx[idx >= 0]), int((idx < 0).sum())


def add_new_products(rec: Recommender, graph: ProductGraph, model_dir: str | Path, artifacts: str | Path,
                     path: str | Path, *, as_targets: bool = False,
                     k_links: int = 10) -> tuple[np.ndarray, list[str]]:
    """Embed the products of ``path`` (any reader format) as cold-start products and append them to ``rec``.

    Features come from :func:`dualgnn.features.build.transform_new` against the saved features (same vocabularies,
    price statistics and text encoder); vectors from the cold-start forward pass over the training graph.
    Returns their internal ids in ``rec`` and the reader's warnings (rows skipped or repaired).
    """
    from dualgnn.features.build import transform_new
    from dualgnn.model import coldstart
    from dualgnn.sources.tables import read_products

    products, skipped = read_products(path)
    if len(products) == 0:
        raise InputError("the new-products file has no products", path=path)
    loaded, warm = load_cold_start(graph, model_dir, artifacts)
    new = transform_new(products, warm)
    source, target = coldstart.embed_new_products(loaded.model, loaded.config, graph.to_dgl(), warm, new,
                                                  k_links=k_links)
    new_ids = rec.add_products(products, np.asarray(source), np.asarray(target), as_targets=as_targets)
    return new_ids, [f"{path}: {line}" for line in skipped.lines()]


def load_cold_start(graph: ProductGraph, model_dir: str | Path, artifacts: str | Path):
    """``(LoadedModel, warm Features)`` for cold start, checked to belong to ``graph`` and to each other."""
    from dualgnn.features.store import Features
    from dualgnn.model.io import load_model
    from dualgnn.model.refresh import features_for_model

    loaded = load_model(model_dir)
    check_fingerprint(loaded.fingerprint, graph, model_dir)
    # The artifact's own features when the model learnt from them, else its products encoded like the model.
    warm = features_for_model(graph, Features.load(artifacts), loaded, model_dir)
    return loaded, warm
