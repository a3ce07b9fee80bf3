"""How node features are built (:class:`FeatureSettings`): the text encoder and its sizes, validated on construction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from dualgnn.errors import SettingsError

ENCODERS = ("minilm", "tfidf", "hashing")


CATEGORICAL_FIELDS = ("brand", "category_top", "category_leaf")


NUMERIC_FIELDS = ("log_price", "price_missing")


@dataclass(frozen=True, kw_only=True)
class FeatureSettings:
    """How node features are built. Saved in features.json and reloaded with them.

    * ``encoder``: ``"minilm"`` (a sentence-transformers model, 384-d for MiniLM; a transformer pass per text, so
      far slower than the others: ``python bench/run.py --stages features-minilm``),
      ``"tfidf"`` (TF-IDF + truncated SVD to ``dim`` dims; fitted on the catalog) or ``"hashing"`` (hashed words
      + fixed random projection to ``dim`` dims; nothing fitted).
    * ``model_path``: a local sentence-transformers model directory for ``minilm``; None = packaged all-MiniLM-L6-v2.
    * ``dim``: output size of ``tfidf`` and ``hashing`` (``minilm`` has its model's size). More dims keep more of
      the TF-IDF signal but cost build time and feature memory in proportion at a million products.
    * ``batch_size``: texts per forward pass of the sentence model.
    * ``max_description_chars``: descriptions are cut to this many characters (MiniLM reads 256 word pieces).
    * ``min_count``: categorical values seen fewer times share id 0 with missing ones (a one-product brand would
      only let the model memorise that product).
    * ``max_terms``, ``fit_sample``: TF-IDF vocabulary size and how many texts (seeded sample) it is fitted on.

    >>> FeatureSettings(encoder="tfidf", dim=64).to_dict()["dim"]
    64
    """

    encoder: str = "minilm"
    model_path: str | None = None
    dim: int = 128
    batch_size: int = 64
    max_description_chars: int = 1000
    min_count: int = 2
    max_terms: int = 50_000
    fit_sample: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise SettingsError(f"encoder must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if self.model_path is not None and self.encoder != "minilm":
            raise SettingsError(f"model_path is only used by the minilm encoder, not {self.encoder!r}")
        for name, low in (("dim", 2), ("batch_size", 1), ("max_description_chars", 0), ("min_count", 1),
                          ("max_terms", 1), ("fit_sample", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SettingsError(f"{name} must be an integer >= {low}, not {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"seed must be a non-negative integer, not {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSettings":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise SettingsError(f"unknown feature settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def same_encoding(self, other: "FeatureSettings") -> bool:
        """True when both give the same features (they may differ in ``batch_size`` only)."""
        return {**self.to_dict(), "batch_size": 0} == {**other.to_dict(), "batch_size": 0}
