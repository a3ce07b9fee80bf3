"""The nightly refresh: a changed catalog re-embedded with a trained model's weights, without training.

The encoder is inductive (DESIGN.md, "Production is not evaluation"): the weights map any product's features and
neighbourhood to its vectors. So for a new graph artifact (products added and removed, edges added and removed,
metadata changed) the served vectors are recomputed by one forward pass over every edge of the new graph:

* products are encoded with the model's own features reference (vocabularies, price statistics, text encoder);
  text vectors of the new artifact are reused when its encoder has the same identity (MiniLM, hashing), else
  (a refitted TF-IDF) re-encoded with the model's encoder;
* the per-product tables (learned id vectors, per-target bias) follow their product by id; a product the model
  never saw has none (masked to zero, as in cold start);
* a new product without any edge takes the cold-start path (its nearest warm products' edges).

>>> refreshed = refresh_model(graph, new_features, loaded, record)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from dualgnn.errors import ArtifactError
from dualgnn.features import build as feature_io
from dualgnn.features.settings import FeatureSettings
from dualgnn.graph import COPURCHASE, COVIEW, ProductGraph
from dualgnn.ids import IdMap
from dualgnn.model.catalog import CatalogRecord, edge_changes
from dualgnn.model.embed import embed_all, training_graph
from dualgnn.model.encoder import DualGNN
from dualgnn.model.inputs import NodeInputs
from dualgnn.model.io import TrainResult
from dualgnn.split import whole_graph

#: State-dict entries with one row per product (remapped by product id on refresh).
PER_PRODUCT = ("tower.ids.weight", "id_bias.weight")


@dataclass
class Refreshed:
    """What :func:`refresh_model` made: the model and vectors (for ``save_model``), the features it ran on and what
    changed since the model's catalog."""

    result: TrainResult
    features: object
    changes: dict = field(default_factory=dict)


def check_same_encoding(new_features, record: CatalogRecord, model_dir) -> None:
    """:class:`ArtifactError` unless the new artifact's features were built with the model's settings."""
    mine = FeatureSettings.from_dict(record.reference.settings)
    theirs = FeatureSettings.from_dict(new_features.settings)
    if not mine.same_encoding(theirs):
        differ = sorted(k for k, v in mine.to_dict().items() if theirs.to_dict().get(k) != v and k != "batch_size")
        raise ArtifactError(f"the new graph's features were built with other settings than {model_dir}'s "
                            f"({', '.join(differ)})", hint="rebuild the graph with the model's feature settings "
                            f"(e.g. --encoder {mine.encoder}), or train a new model on it")


def encode_like_model(graph: ProductGraph, new_features, record: CatalogRecord):
    """Features of every product of ``graph`` as the model learnt them (see the module docstring)."""
    ref = record.reference
    same_text = (new_features.encoder_state.identity == ref.encoder_state.identity
                 and new_features.text.shape[1] == ref.text.shape[1])
    # Looked up at call time (feature_io.transform_new), as every caller of the features module does.
    return feature_io.transform_new(graph.products, ref, text=new_features.text if same_text else None)


def features_for_model(graph: ProductGraph, artifact_features, loaded, model_dir):
    """The features to run ``loaded`` on for ``graph``'s products: the artifact's own when the model learnt from
    them, else the products encoded like the model (a refreshed model, or a graph rebuilt with new brands).

    :class:`ArtifactError` when neither is possible: the model keeps no features reference (trained before it was
    recorded) or the artifact was built with other feature settings.
    """
    from dualgnn.model.catalog import read_catalog

    trained_on = getattr(loaded, "features_fingerprint", "")  # "" for a model saved before it was recorded
    if not trained_on or trained_on == artifact_features.fingerprint():
        return artifact_features
    try:
        record = read_catalog(model_dir)
    except ArtifactError as exc:
        raise ArtifactError(
            f"{model_dir} was trained on other features than the graph holds (another text encoder, vocabulary "
            "of brands and categories, or price statistics), and keeps none of its own to encode them with",
            hint="retrain on this artifact directory (dualgnn train), or use the graph the model was trained on"
        ) from exc
    check_same_encoding(artifact_features, record, model_dir)
    return encode_like_model(graph, artifact_features, record)


def remapped_model(loaded, known_rows: np.ndarray, num_products: int) -> DualGNN:
    """The loaded model rebuilt for ``num_products`` rows; ``known_rows[i]`` is product i's row in the old tables
    (-1: a new product, whose per-product rows stay zero)."""
    old = loaded.model
    tower = old.tower
    model = DualGNN(loaded.config, tower.text.in_features, tuple(e.num_embeddings for e in tower.categorical),
                    tower.numeric.in_features if tower.numeric is not None else 0, num_products)
    state = old.state_dict()
    known = torch.from_numpy(known_rows >= 0)
    rows = torch.from_numpy(known_rows[known_rows >= 0])
    for key in PER_PRODUCT:
        if key in state:
            table = torch.zeros((num_products, state[key].shape[1]), dtype=state[key].dtype)
            table[known] = state[key][rows]
            state[key] = table
    model.load_state_dict(state)
    return model.eval()


def refresh_model(graph: ProductGraph, new_features, loaded, record: CatalogRecord) -> Refreshed:
    """Recompute ``loaded``'s served vectors over ``graph`` (all of its edges) with the trained weights."""
    changes = edge_changes(graph, record)
    features = encode_like_model(graph, new_features, record)
    known_rows = IdMap(record.ids).lookup(graph.ids.ids)
    model = remapped_model(loaded, known_rows, graph.num_products)
    g = training_graph(graph, whole_graph(graph), loaded.config)
    inputs = NodeInputs.from_features(features)
    degree = (g.in_degrees(etype=COPURCHASE) + g.out_degrees(etype=COPURCHASE) + g.in_degrees(etype=COVIEW)).numpy()
    cold = np.flatnonzero((degree == 0) & (known_rows < 0))  # new and unconnected: the cold-start path
    with torch.no_grad():
        source, target = embed_all(model, g, inputs, cold, known=known_rows >= 0)
    changes["cold_start_products"] = int(len(cold))
    result = TrainResult(loaded.config, model, source, target, list(loaded.history), 0, float("nan"))
    return Refreshed(result, features, changes)
