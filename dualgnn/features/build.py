"""Node input features: a text embedding, categorical ids and numeric columns per product.

``build_features`` turns a products table (see :mod:`dualgnn.sources.base`) into :class:`Features`; ``transform_new``
does the same for products that arrive later (cold start) with the vocabularies, price statistics and text
encoder of an existing build. Text vectors are cached by a hash of (encoder identity, product text), so
rebuilding a catalog only encodes products whose text changed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.errors import ArtifactError, InputError
from dualgnn.features.cache import encode_cached
from dualgnn.features.sentence import SentenceEncoder
from dualgnn.features.settings import CATEGORICAL_FIELDS, NUMERIC_FIELDS, FeatureSettings
from dualgnn.features.store import Features
from dualgnn.features.text import product_text, text_values
from dualgnn.features.words import HashingEncoder, TfidfEncoder

log = logging.getLogger(__name__)


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

