"""The node features of a graph artifact (:class:`Features`): arrays, vocabularies and the text encoder's state,
saved as ``features.npz`` + ``features.json`` and fingerprinted for the models trained on them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dualgnn.artifacts import read_npz, write_json, write_npz
from dualgnn.errors import ArtifactError
from dualgnn.features.settings import CATEGORICAL_FIELDS, NUMERIC_FIELDS, FeatureSettings
from dualgnn.features.text import (
    EncoderState,
)

FORMAT_VERSION = 1


@dataclass(eq=False)  # arrays do not compare with ==; tests compare fields explicitly
class Features:
    """Node input features, row i = internal product id i.

    * ``text``: float32 (n, d), L2-normalised rows (a tfidf/hashing row is all zero when the product has no
      known word).
    * ``categorical``: int64 (n, 3), columns ``CATEGORICAL_FIELDS``; 0 = missing, rare or unknown.
    * ``cardinalities``: embedding-table size per categorical field, slot 0 included.
    * ``numeric``: float32 (n, 2): standardised log1p(price) (0 when missing) and a missing-price flag (0/1).
    * ``vocab``: field -> values; value ``vocab[f][i]`` has id ``i + 1``.
    * ``numeric_stats``: mean and std of log1p(price) used for standardising.
    * ``settings``: :meth:`FeatureSettings.to_dict`; ``encoder_state``: what transform_new needs to encode text.

    >>> feats = build_features(products, FeatureSettings(encoder="tfidf"))  # doctest: +SKIP
    >>> feats.text.shape, feats.categorical.shape, feats.numeric.shape  # doctest: +SKIP
    ((7419, 128), (7419, 3), (7419, 2))
    """

    text: np.ndarray
    categorical: np.ndarray
    numeric: np.ndarray
    cardinalities: tuple[int, ...]
    vocab: dict[str, list[str]]
    numeric_stats: dict[str, float]
    settings: dict[str, Any]
    encoder_state: EncoderState = field(default_factory=lambda: EncoderState("", ""))
    #: What transform_new derives from this object (encoders by batch size, vocabulary indexes), kept so that
    #: single-product calls stay cheap: rebuilding a 50k-term TF-IDF encoder alone takes about 0.1 s.
    _derived: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def num_products(self) -> int:
        return self.text.shape[0]

    def reference(self) -> "Features":
        """These features without their rows: what encodes more products like them (vocabularies, price statistics,
        text encoder). A model directory keeps it, so ``dualgnn refresh`` encodes a changed catalog as the model
        learnt it."""
        return Features(text=self.text[:0], categorical=self.categorical[:0], numeric=self.numeric[:0],
                        cardinalities=self.cardinalities, vocab=self.vocab, numeric_stats=self.numeric_stats,
                        settings=self.settings, encoder_state=self.encoder_state)

    def fingerprint(self) -> str:
        """A short hash of what a trained model depends on: settings, text encoder, vocabularies, price statistics.

        A model is used with these features only when it matches (a graph rebuilt with another encoder or new
        brands would feed the cold-start path ids and vectors the model never learnt).
        """
        state = self.encoder_state
        key = {"settings": {**self.settings, "batch_size": 0}, "encoder": [state.name, state.identity],
               "text_dim": int(self.text.shape[1]), "cardinalities": list(self.cardinalities), "vocab": self.vocab,
               "numeric_stats": self.numeric_stats}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def save(self, directory: str | Path) -> None:
        """Write ``features.npz`` (arrays) and ``features.json`` (the rest) into ``directory``, each atomically."""
        directory = Path(directory)
        state = self.encoder_state
        write_npz(directory / "features.npz", text=self.text, categorical=self.categorical, numeric=self.numeric,
                  **{f"encoder_{k}": v for k, v in state.arrays.items()})
        write_json(directory / "features.json", {
            "format_version": FORMAT_VERSION, "num_products": self.num_products, "text_dim": self.text.shape[1],
            "categorical_fields": list(CATEGORICAL_FIELDS), "numeric_fields": list(NUMERIC_FIELDS),
            "cardinalities": list(self.cardinalities), "vocab": self.vocab, "numeric_stats": self.numeric_stats,
            "settings": self.settings,
            "encoder": {"name": state.name, "identity": state.identity, "meta": state.meta,
                        "arrays": sorted(state.arrays)},
        })

    @classmethod
    def load(cls, directory: str | Path) -> "Features":
        """Read what :meth:`save` wrote; :class:`ArtifactError` if a file is missing, damaged or inconsistent."""
        directory = Path(directory)
        jpath = directory / "features.json"
        try:
            meta = json.loads(jpath.read_text())
        except FileNotFoundError as exc:
            raise ArtifactError(f"missing artifact file {jpath}", hint="rebuild the features") from exc
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read {jpath}: {exc}", hint="rebuild the features") from exc
        arrays = read_npz(directory / "features.npz")
        try:
            if meta["format_version"] != FORMAT_VERSION:
                raise ArtifactError(f"{jpath} has format version {meta['format_version']}, expected "
                                    f"{FORMAT_VERSION}", hint="rebuild the features with this version of dualgnn")
            enc = meta["encoder"]
            feats = cls(text=arrays["text"], categorical=arrays["categorical"], numeric=arrays["numeric"],
                        cardinalities=tuple(int(c) for c in meta["cardinalities"]), vocab=meta["vocab"],
                        numeric_stats=meta["numeric_stats"], settings=meta["settings"],
                        encoder_state=EncoderState(enc["name"], enc["identity"], enc["meta"],
                                                   {k: arrays[f"encoder_{k}"] for k in enc["arrays"]}))
            FeatureSettings.from_dict(feats.settings)
            problem = feats._inconsistency(meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{directory}: features.npz / features.json are incomplete or inconsistent ({exc})",
                                hint="rebuild the features") from exc
        if problem:
            raise ArtifactError(f"{directory}: {problem}", hint="rebuild the features")
        return feats

    def _inconsistency(self, meta: dict) -> str | None:
        n = meta["num_products"]
        if (tuple(meta["categorical_fields"]), tuple(meta["numeric_fields"])) != (CATEGORICAL_FIELDS, NUMERIC_FIELDS):
            return "written for other feature columns"
        if self.text.dtype != np.float32 or self.text.shape != (n, meta["text_dim"]):
            return f"text is {self.text.dtype} {self.text.shape}, features.json says float32 ({n}, {meta['text_dim']})"
        if self.categorical.dtype != np.int64 or self.categorical.shape != (n, len(CATEGORICAL_FIELDS)):
            return f"categorical is {self.categorical.dtype} {self.categorical.shape}"
        if self.numeric.dtype != np.float32 or self.numeric.shape != (n, len(NUMERIC_FIELDS)):
            return f"numeric is {self.numeric.dtype} {self.numeric.shape}"
        if self.cardinalities != tuple(len(self.vocab[f]) + 1 for f in CATEGORICAL_FIELDS):
            return "cardinalities do not match the vocabularies"
        if n and (self.categorical.min() < 0 or (self.categorical.max(axis=0) >= self.cardinalities).any()):
            return "categorical ids out of range"
        return None
