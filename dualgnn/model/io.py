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
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dualgnn.artifacts import (
    FORMAT_VERSION,
    MANIFEST,
    atomic_dir,
    atomic_path,
    read_manifest,
    read_vectors,
    write_json,
    write_npz,
)
from dualgnn.config import TrainConfig
from dualgnn.errors import ArtifactError, DualGNNError
from dualgnn.model.encoder import DualGNN
from dualgnn.outputs import describe_os_error


@dataclass
class LoadedModel:
    config: TrainConfig
    model: DualGNN
    source: np.ndarray
    target: np.ndarray
    fingerprint: str
    history: list[dict] = field(default_factory=list)
    #: Features.fingerprint() of the features it was trained on ("" for a model from before it was recorded).
    features_fingerprint: str = ""


def _model_shapes(model: DualGNN) -> dict:
    """What is needed to rebuild the module before loading its weights."""
    tower = model.tower
    return {"text_dim": tower.text.in_features,
            "cardinalities": [emb.num_embeddings for emb in tower.categorical],
            "numeric_dim": tower.numeric.in_features if tower.numeric is not None else 0,
            "num_nodes": tower.ids.num_embeddings if tower.ids is not None else 0}


def save_model(out_dir: str | Path, result, graph_fingerprint: str, *, features_fingerprint: str = "",
               extra: Iterable[Callable[[Path], None]] = (), training: dict | None = None) -> Path:
    """Write ``result`` (a :class:`dualgnn.model.io.TrainResult`) as a model directory, replacing ``out_dir``.

    ``extra``: functions that write more files into the directory, inside the same atomic swap.
    ``training`` goes into the manifest: what the model learnt from (purpose, split, edge counts).
    """
    from dualgnn.model.io import write_training_curve

    out_dir = Path(out_dir)
    with atomic_dir(out_dir, "model") as tmp:
        write_json(tmp / "config.json", result.config.to_dict())
        save_state(result.model.state_dict(), tmp / "weights.pt")
        write_npz(tmp / "embeddings.npz", source=result.source.astype(np.float32),
                  target=result.target.astype(np.float32))
        write_json(tmp / "history.json", result.history)
        if result.history:
            write_training_curve(tmp / "training_curve.png", result.history)
        for write in extra:
            write(tmp)
        write_json(tmp / MANIFEST, {
            "kind": "model", "format_version": FORMAT_VERSION, "graph_fingerprint": graph_fingerprint,
            "features_fingerprint": features_fingerprint, "training": training or {},
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
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{directory / MANIFEST}: the model shapes are missing or damaged ({exc})",
                            hint="retrain with `dualgnn train`") from exc
    try:
        model.load_state_dict(load_state(directory / "weights.pt"))
    except RuntimeError as exc:  # a state_dict of another architecture
        raise ArtifactError(f"{directory / 'weights.pt'} does not fit the model its config describes: {exc}",
                            hint="retrain with `dualgnn train`") from exc
    model.eval()
    source, target = read_vectors(directory)
    return LoadedModel(config, model, source, target, str(manifest.get("graph_fingerprint", "")), history,
                       str(manifest.get("features_fingerprint", "")))


def save_state(state: dict, path: Path) -> None:
    """``torch.save`` through a temporary file; a full disk or a read-only place becomes a plain error."""
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as "enforce fail at inline_container"
        raise write_failure(path, exc) from exc


def write_failure(path: Path, exc: BaseException) -> DualGNNError:
    """What to tell the user when writing ``path`` failed."""
    if isinstance(exc, OSError):
        reason = describe_os_error(exc)
    else:
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = -1
        reason = "no space left on the device" if 0 <= free < (64 << 20) else f"the write failed ({exc})"
    return DualGNNError(f"cannot write {path}: {reason}", hint="free some space or write to another disk")


def load_state(path: Path) -> dict:
    """A ``state_dict`` (or checkpoint) read with ``weights_only=True``; any damage becomes :class:`ArtifactError`."""
    if not path.exists():
        raise ArtifactError(f"missing model file {path}", hint="retrain with `dualgnn train`")
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - empty, truncated, garbage or a pickle that is not plain weights
        raise ArtifactError(f"cannot read {path}: it is empty, damaged or not a dualgnn weights file "
                            f"({type(exc).__name__})", hint="retrain with `dualgnn train`") from exc
    if not isinstance(state, dict):
        raise ArtifactError(f"{path} holds a {type(state).__name__}, not a weights dictionary",
                            hint="retrain with `dualgnn train`")
    return state


@dataclass
class TrainResult:
    """A trained model and its embeddings: ``source``, ``target`` float32 (n, hidden_dim), one row per product,
    computed on the training graph (cold products of a node split through the cold-start path)."""

    config: TrainConfig
    model: DualGNN
    source: np.ndarray
    target: np.ndarray
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val: float = float("nan")


def write_training_curve(path: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["loss"] for h in history], color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:blue")
    val = [(h["epoch"], h["val_hr10"]) for h in history if "val_hr10" in h]
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), color="tab:orange", marker="o", ms=3, label="validation HR@10")
        ax2.set_ylabel("validation HR@10", color="tab:orange")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
