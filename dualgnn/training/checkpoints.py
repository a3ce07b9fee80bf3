"""Training checkpoints: replaced atomically every epoch, resumed only on the data and settings they were made on.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dualgnn.config import TrainConfig
from dualgnn.errors import ArtifactError, DualGNNError
from dualgnn.graph import ProductGraph
from dualgnn.model.io import load_state, save_state
from dualgnn.split import Split


class Checkpointer:
    """``out_dir/checkpoints/last.pt``: model, optimizer, RNG, epoch, history and best weights, replaced atomically
    every epoch, so an interrupted run resumes where it stopped and draws the same batches."""

    def __init__(self, out_dir: str | Path, config: TrainConfig, fingerprints: dict[str, str] | None = None) -> None:
        self.path = Path(out_dir) / "checkpoints" / "last.pt"
        self.config = config
        #: graph / features / split fingerprints: a run resumes only on the data it started on.
        self.fingerprints = dict(fingerprints or {})

    def save(self, model, optimizer, generator: torch.Generator, state: dict) -> None:
        payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                   "config": json.dumps(self.config.to_dict(), sort_keys=True),
                   "fingerprints": json.dumps(self.fingerprints, sort_keys=True), **state}
        save_state(payload, self.path)

    def restore(self, model, optimizer, generator: torch.Generator) -> dict | None:
        """Load the last checkpoint into the given objects and return the loop state; None if there is none."""
        if not self.path.exists():
            return None
        try:
            payload = load_state(self.path)
        except ArtifactError as exc:
            raise ArtifactError(exc.message, hint=f"delete {self.path.parent} to start over") from exc
        self._check_data(payload)
        saved = json.loads(payload["config"])
        mine = self.config.to_dict()
        # The epoch budget and patience may change between runs; anything else would mix two experiments.
        diff = sorted(k for k in mine if k not in ("epochs", "patience") and saved.get(k) != mine[k])
        if diff:
            raise DualGNNError(f"checkpoint {self.path} was made with other settings ({', '.join(diff)})",
                               hint="resume with the same settings, or train into a new directory")
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ArtifactError(f"checkpoint {self.path} does not fit this model ({exc})",
                                hint=f"delete {self.path.parent} to start over") from exc
        generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        restored = {k: payload[k] for k in ("epoch", "history", "best_state", "best_epoch", "best_val", "bad_epochs")}
        return {**restored, "ema": payload.get("ema"), "ema_steps": int(payload.get("ema_steps", 0))}

    def _check_data(self, payload: dict) -> None:
        """:class:`ArtifactError` unless the checkpoint was made on the same graph, features and split."""
        try:
            saved = json.loads(payload.get("fingerprints", "null"))
        except (TypeError, ValueError):
            saved = None
        if not isinstance(saved, dict):
            raise ArtifactError(f"checkpoint {self.path} does not record which graph it was trained on",
                                hint=f"delete {self.path.parent} to start over, or train into a new --out")
        differ = sorted(k for k, v in self.fingerprints.items() if saved.get(k) != v)
        if differ:
            raise ArtifactError(f"checkpoint {self.path} was made on another {' / '.join(differ)} than this run's",
                                hint="resume with the same graph artifact, or train into a new --out "
                                     "(without --resume)")


def data_fingerprints(graph: ProductGraph, features, split: Split) -> dict[str, str]:
    """What a checkpoint must match to be resumed: the graph's ids, the features' settings and the split's edges."""
    from dualgnn.artifacts import graph_fingerprint

    prints = {"graph": graph_fingerprint(graph), "split": split.digest()}
    if hasattr(features, "fingerprint"):
        prints["features"] = features.fingerprint()
    return prints
