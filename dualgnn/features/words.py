"""The word-count text encoders: ``tfidf`` (TF-IDF fitted on the catalog, reduced by a truncated SVD; its state saved
as JSON + npz, never pickled) and ``hashing`` (hashed words times a fixed seeded sparse sign matrix; nothing fitted).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from dualgnn.features.text import _CHUNK, EncoderState, _chunk_starts, _normalise_rows

#: Tokenisation shared by fitting and encoding: words of 2+ characters, lower-cased, accents stripped
#: ("Beyoncé" and "Beyonce" are one term).
_ANALYZER = dict(lowercase=True, strip_accents="unicode", token_pattern=r"(?u)\b\w\w+\b")
_BUCKETS = 2 ** 18  # hash buckets of the bag of words; collisions are rare at catalog vocabularies
_SKETCH_NNZ = 4      # nonzeros per bucket row of the projection: fewer collisions than plain feature hashing


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

    Counts rather than 0/1: a word repeated in the description (the artist, say) is a stronger signal (it scored
    higher as text kNN on amazon-digital-music).
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
