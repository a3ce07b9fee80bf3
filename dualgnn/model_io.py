"""Model directories and training checkpoints. Nothing is pickled: JSON, npz and ``state_dict`` files loaded with
``torch.load(weights_only=True)``.

A model directory (written atomically; manifest.json last)::

    manifest.json       kind "model", format version, graph fingerprint, counts
    config.json         the TrainConfig
    weights.pt          the model's state_dict
    embeddings.npz      source, target float32 (n, d): the served vectors (see DualGNN.serve)
    history.json        one record per epoch
    training_curve.png  loss and validation HR@10 per epoch

>>> save_model(Path("model"), result, graph_fingerprint(graph))  # doctest: +SKIP
>>> loaded = load_model(Path("model")); loaded.source.shape  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dualgnn.artifacts import FORMAT_VERSION, MANIFEST, atomic_dir, atomic_path, read_manifest, read_npz, write_json, write_npz
from dualgnn.config import TrainConfig
from dualgnn.errors import ArtifactError, DualGNNError
from dualgnn.model import DualGNN


@dataclass
class LoadedModel:
    config: TrainConfig
    model: DualGNN
    source: np.ndarray
    target: np.ndarray
    fingerprint: str
    history: list[dict] = field(default_factory=list)


def _model_shapes(model: DualGNN) -> dict:
    """What is needed to rebuild the module before loading its weights."""
    tower = model.tower
    return {"text_dim": tower.text.in_features,
            "cardinalities": [emb.num_embeddings for emb in tower.categorical],
            "numeric_dim": tower.numeric.in_features if tower.numeric is not None else 0,
            "num_nodes": tower.ids.num_embeddings if tower.ids is not None else 0}


def save_model(out_dir: str | Path, result, graph_fingerprint: str) -> Path:
    """Write ``result`` (a :class:`dualgnn.train.TrainResult`) as a model directory, replacing ``out_dir``."""
    from dualgnn.train import write_training_curve

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "config.json", result.config.to_dict())
        with atomic_path(tmp / "weights.pt") as w:
            torch.save(result.model.state_dict(), w)
        write_npz(tmp / "embeddings.npz", source=result.source.astype(np.float32),
                  target=result.target.astype(np.float32))
        write_json(tmp / "history.json", result.history)
        if result.history:
            write_training_curve(tmp / "training_curve.png", result.history)
        write_json(tmp / MANIFEST, {
            "kind": "model", "format_version": FORMAT_VERSION, "graph_fingerprint": graph_fingerprint,
            "counts": {"products": int(len(result.source)), "vector_dim": int(result.source.shape[1])},
            "best_epoch": int(result.best_epoch), "best_val_hr10": float(result.best_val),
            "shapes": _model_shapes(result.model)})
    return out_dir


def load_model(directory: str | Path) -> LoadedModel:
    """Load a model directory; :class:`ArtifactError` if it is missing, incomplete, corrupt or of another version."""
    directory = Path(directory)
    manifest = read_manifest(directory, kind="model")
    try:
        config = TrainConfig.from_dict(json.loads((directory / "config.json").read_text()))
        history = json.loads((directory / "history.json").read_text())
    except (OSError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{directory}: cannot read config.json / history.json: {exc}",
                            hint="retrain with `dualgnn train`") from exc
    shapes = manifest.get("shapes", {})
    try:
        model = DualGNN(config, int(shapes["text_dim"]), tuple(shapes["cardinalities"]), int(shapes["numeric_dim"]),
                        int(shapes["num_nodes"]) or int(manifest["counts"]["products"]))
        model.load_state_dict(torch.load(directory / "weights.pt", weights_only=True))
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise ArtifactError(f"{directory}: cannot load weights.pt: {exc}", hint="retrain with `dualgnn train`") from exc
    model.eval()
    emb = read_npz(directory / "embeddings.npz")
    if "source" not in emb or "target" not in emb or emb["source"].shape != emb["target"].shape:
        raise ArtifactError(f"{directory}/embeddings.npz lacks matching source/target arrays")
    return LoadedModel(config, model, emb["source"], emb["target"], str(manifest.get("graph_fingerprint", "")), history)


class Checkpointer:
    """``out_dir/checkpoints/last.pt``: model, optimizer, RNG, epoch, history and best weights, replaced atomically
    every epoch, so an interrupted run resumes where it stopped and draws the same batches."""

    def __init__(self, out_dir: str | Path, config: TrainConfig) -> None:
        self.path = Path(out_dir) / "checkpoints" / "last.pt"
        self.config = config

    def save(self, model, optimizer, generator: torch.Generator, state: dict) -> None:
        payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                   "config": json.dumps(self.config.to_dict(), sort_keys=True), **state}
        with atomic_path(self.path) as tmp:
            torch.save(payload, tmp)

    def restore(self, model, optimizer, generator: torch.Generator) -> dict | None:
        """Load the last checkpoint into the given objects and return the loop state; None if there is none."""
        if not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is a user-facing artifact problem
            raise ArtifactError(f"cannot read checkpoint {self.path}: {exc}", hint="delete it to start over") from exc
        saved = json.loads(payload["config"])
        mine = self.config.to_dict()
        # The epoch budget and patience may change between runs; anything else would mix two experiments.
        diff = sorted(k for k in mine if k not in ("epochs", "patience") and saved.get(k) != mine[k])
        if diff:
            raise DualGNNError(f"checkpoint {self.path} was made with other settings ({', '.join(diff)})",
                               hint="resume with the same settings, or train into a new directory")
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        restored = {k: payload[k] for k in ("epoch", "history", "best_state", "best_epoch", "best_val", "bad_epochs")}
        return {**restored, "ema": payload.get("ema"), "ema_steps": int(payload.get("ema_steps", 0))}
