"""Node input features: a text embedding, categorical ids and numeric columns per product.

``build_features`` turns a products table (see :mod:`dualgnn.sources.base`) into :class:`Features`; ``transform_new``
does the same for products that arrive later (cold start) with the vocabularies, price statistics and text
encoder of an existing build. Text vectors are cached by a hash of (encoder identity, product text), so
rebuilding a catalog only encodes products whose text changed.
"""

from __future__ import annotations

import hashlib

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dualgnn.artifacts import read_npz, write_json, write_npz
from dualgnn.errors import ArtifactError, InputError
from dualgnn.features.cache import encode_cached
from dualgnn.features.text import (
    EncoderState, HashingEncoder, SentenceEncoder, TfidfEncoder, product_text, text_values,
)

log = logging.getLogger(__name__)

ENCODERS = ("minilm", "tfidf", "hashing")
CATEGORICAL_FIELDS = ("brand", "category_top", "category_leaf")
NUMERIC_FIELDS = ("log_price", "price_missing")
FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class FeatureSettings:
    """How node features are built. Saved in features.json and reloaded with them.

    * ``encoder``: ``"minilm"`` (a sentence-transformers model, 384-d for MiniLM; slow: measured about 40 product
      texts of ~80 word pieces, or 470 short titles, per CPU-second),
      ``"tfidf"`` (TF-IDF + truncated SVD to ``dim`` dims; fitted on the catalog) or ``"hashing"`` (hashed words
      + fixed random projection to ``dim`` dims; nothing fitted).
    * ``model_path``: a local sentence-transformers model directory for ``minilm``; None = packaged all-MiniLM-L6-v2.
    * ``dim``: output size of ``tfidf`` and ``hashing`` (``minilm`` has its model's size). More dims keep more of
      the TF-IDF signal (text-kNN HR@10 on amazon-digital-music: 0.044 at 128, 0.056 at 256, 0.065 at 384) but
      each doubling doubled build time and feature memory at a million products.
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
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if self.model_path is not None and self.encoder != "minilm":
            raise ValueError(f"model_path is only used by the minilm encoder, not {self.encoder!r}")
        for name, low in (("dim", 2), ("batch_size", 1), ("max_description_chars", 0), ("min_count", 1),
                          ("max_terms", 1), ("fit_sample", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSettings":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown feature settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def same_encoding(self, other: "FeatureSettings") -> bool:
        """True when both give the same features (they may differ in ``batch_size`` only)."""
        return {**self.to_dict(), "batch_size": 0} == {**other.to_dict(), "batch_size": 0}


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


def build_features(products: pd.DataFrame, settings: FeatureSettings, *, cache_path: Path | None = None,
                   progress: bool = True) -> Features:
    """Features for every row of ``products`` (row i -> product i), fitting vocabularies and price statistics.

    ``cache_path`` (an .npz file, e.g. ``<artifacts>/text_cache.npz``) keeps text vectors between builds: only
    products whose text (or the encoder) changed are encoded, and the file is rewritten atomically with the
    vectors of this catalog.

    >>> products = pd.DataFrame({"product_id": ["a", "b"], "title": ["Blue Train", "Giant Steps"],
    ...                          "brand": ["Blue Note", "Atlantic"], "price": [9.99, None]})
    >>> feats = build_features(products, FeatureSettings(encoder="hashing", min_count=1), progress=False)
    >>> feats.categorical[:, 0].tolist(), feats.numeric[:, 1].tolist()
    ([2, 1], [0.0, 1.0])
    """
    if len(products) == 0:
        raise InputError("the products table is empty: there is nothing to build features for")
    texts = product_text(products, max_description_chars=settings.max_description_chars)
    if settings.encoder == "minilm":
        encoder = SentenceEncoder(settings.model_path, batch_size=settings.batch_size)
    elif settings.encoder == "tfidf":
        encoder = TfidfEncoder.fit(texts, dim=settings.dim, max_terms=settings.max_terms,
                                   fit_sample=settings.fit_sample, seed=settings.seed)
    else:
        encoder = HashingEncoder(dim=settings.dim, seed=settings.seed)
    text = encode_cached(encoder, texts, cache_path, progress=progress)

    values = _categorical_values(products)
    vocab = {f: _fit_vocab(values[f], settings.min_count) for f in CATEGORICAL_FIELDS}
    log_price, missing = _log_price(products)
    present = log_price[~missing]
    mean = float(present.mean()) if present.size else 0.0
    std = float(present.std()) if present.size else 0.0
    stats = {"log_price_mean": mean, "log_price_std": std if std > 1e-12 else 1.0}
    return _assemble(text, values, vocab, log_price, missing, stats, settings, encoder.state())


def transform_new(products: pd.DataFrame, reference: Features, *, settings: FeatureSettings | None = None,
                  progress: bool = False, text: np.ndarray | None = None) -> Features:
    """Features for products that were not in ``reference``'s build (cold start), comparable with its rows.

    Uses ``reference``'s vocabularies (unseen brands and categories -> 0), price statistics and text encoder
    (the saved TF-IDF state, or the same sentence model, loaded once per process). ``settings`` may only change
    ``batch_size``. For one product with the model already loaded this takes milliseconds. ``text``: the products'
    text vectors when they are already known from an encoder of the same identity (then nothing is encoded).
    """
    if text is not None:
        log_price, missing = _log_price(products)
        return _assemble(np.asarray(text, np.float32), _categorical_values(products), reference.vocab, log_price,
                         missing, reference.numeric_stats, FeatureSettings.from_dict(reference.settings),
                         reference.encoder_state, reference._derived)
    ref_settings = FeatureSettings.from_dict(reference.settings)
    if settings is not None and not settings.same_encoding(ref_settings):
        raise ValueError("transform_new must encode like the reference build; only batch_size may differ")
    settings = settings or ref_settings
    state = reference.encoder_state
    encoder = reference._derived.get(("encoder", settings.batch_size))
    if encoder is None:
        if state.name == "minilm":
            encoder = SentenceEncoder(settings.model_path, batch_size=settings.batch_size)
        elif state.name == "tfidf":
            encoder = TfidfEncoder.from_state(state)
        elif state.name == "hashing":
            encoder = HashingEncoder(dim=settings.dim, seed=settings.seed)
        else:
            raise ArtifactError(f"the reference features name no known text encoder ({state.name!r})",
                                hint="rebuild the features")
        if encoder.identity != state.identity:
            log.warning("the %s text encoder changed since the reference features were built (%s, now %s): new "
                        "products' vectors may not be comparable; rebuild the features", state.name,
                        state.identity, encoder.identity)
        reference._derived[("encoder", settings.batch_size)] = encoder
    texts = product_text(products, max_description_chars=settings.max_description_chars)
    text = encoder.encode(texts, progress=progress)
    log_price, missing = _log_price(products)
    return _assemble(text, _categorical_values(products), reference.vocab, log_price, missing,
                     reference.numeric_stats, settings, state, reference._derived)


def _assemble(text, values, vocab, log_price, missing, stats, settings, state, derived=None) -> Features:
    derived = {} if derived is None else derived
    for f in CATEGORICAL_FIELDS:
        if ("index", f) not in derived:
            derived[("index", f)] = pd.Index(list(vocab[f]), dtype=object)
    # Id i + 1 for vocab[i], 0 for anything else.
    categorical = np.stack([derived[("index", f)].get_indexer(values[f].to_numpy(dtype=object)) + 1
                            for f in CATEGORICAL_FIELDS], axis=1)
    scaled = np.where(missing, 0.0, (log_price - stats["log_price_mean"]) / stats["log_price_std"])
    numeric = np.stack([scaled, missing], axis=1).astype(np.float32)
    return Features(text=text, categorical=categorical.astype(np.int64).reshape(-1, len(CATEGORICAL_FIELDS)),
                    numeric=numeric.reshape(-1, len(NUMERIC_FIELDS)),
                    cardinalities=tuple(len(vocab[f]) + 1 for f in CATEGORICAL_FIELDS), vocab=vocab,
                    numeric_stats=stats, settings=settings.to_dict(), encoder_state=state)


# ---------------------------------------------------------------------------------------------- categorical

def _categorical_values(products: pd.DataFrame) -> dict[str, pd.Series]:
    """Normalised brand, top category and full category path per product ("" = missing).

    Brands are case-folded (sellers type "SONY" and "Sony"); category paths come from the shop's taxonomy and
    keep their case. The leaf is the whole path, since leaf names repeat under different parents.
    """
    def column(name: str, normalise) -> pd.Series:
        # Normalise each distinct value once: catalogs repeat brands and paths across millions of rows.
        if name not in products.columns:
            codes, uniques = np.zeros(len(products), dtype=np.int64), [""]
        else:
            codes, uniques = pd.factorize(text_values(products[name]))
        return pd.Series(np.array([normalise(v) for v in uniques], dtype=object)[codes], dtype=object)

    def path(value: str) -> str:
        return " > ".join(p for p in (" ".join(s.split()) for s in value.split(">")) if p)

    return {"brand": column("brand", lambda v: " ".join(v.split()).casefold()),
            "category_top": column("category", lambda v: path(v).split(" > ", 1)[0]),
            "category_leaf": column("category", path)}


def _fit_vocab(values: pd.Series, min_count: int) -> list[str]:
    """Values seen at least ``min_count`` times, most frequent first (ties by value, so builds are repeatable)."""
    counts = values[values != ""].value_counts()
    kept = counts[counts >= min_count]
    order = sorted(zip(kept.index.astype(str), kept.to_numpy()), key=lambda kv: (-kv[1], kv[0]))
    return [value for value, _ in order]


def _log_price(products: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """log1p(price) (float64, 0 where missing) and the missing mask; negative or non-finite prices count as missing."""
    if "price" not in products.columns:
        return np.zeros(len(products)), np.ones(len(products), dtype=bool)
    price = pd.to_numeric(products["price"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~np.isfinite(price) | (price < 0)
    return np.where(missing, 0.0, np.log1p(np.where(missing, 0.0, price))), missing

