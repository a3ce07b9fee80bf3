"""A cache of text vectors keyed by a hash of (encoder identity, text), so rebuilds only encode what changed.

The cache file (normally ``<artifacts>/text_cache.npz``) holds ``identity`` (str), ``keys`` (uint64 (m,), one per
product of the last build) and ``vectors`` (float32 (m, d)). Only one encoder's vectors are kept: switching
encoders starts a fresh cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dualgnn.artifacts import read_npz, write_npz
from dualgnn.errors import ArtifactError

log = logging.getLogger(__name__)



def text_keys(identity: str, texts: Sequence[str]) -> np.ndarray:
    """uint64 (n,): BLAKE2b of each text keyed by the encoder identity (cheap next to any encoder).

    64 bits make a collision between two of a million texts a 3e-8 event.
    """
    key = hashlib.blake2b(identity.encode("utf-8"), digest_size=32).digest()
    digests = b"".join(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest()
                       for t in texts)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def encode_cached(encoder, texts: Sequence[str], cache_path: Path | None, *, progress: bool = False) -> np.ndarray:
    """``encoder.encode(texts)`` as float32 (n, d), reusing vectors from ``cache_path`` and encoding each distinct
    new text once.

    The cache is rewritten (atomically) with exactly this catalog's keys and vectors, in catalog order, whenever
    they differ from what it held; writing ``out`` as it is avoids a second n x d copy at a million products.
    A damaged cache is ignored with a warning: it only saves time.
    """
    keys = text_keys(encoder.identity, texts)
    cached_keys, cached = _read_cache(cache_path, encoder.identity)
    order = np.argsort(cached_keys, kind="stable")
    sorted_keys = cached_keys[order]
    pos = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
    hit = sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), dtype=bool)
    miss = np.flatnonzero(~hit)
    # Duplicate texts (e.g. many products with no text at all) are encoded once.
    new_keys, first, inverse = np.unique(keys[miss], return_index=True, return_inverse=True)
    log.info("text cache: %d of %d products reused, %d distinct texts to encode", hit.sum(), len(keys), len(new_keys))
    fresh = encoder.encode([texts[i] for i in miss[first]], progress=progress) if len(miss) else None
    out = np.empty((len(texts), (cached if fresh is None else fresh).shape[1]), dtype=np.float32)
    if hit.any():
        out[hit] = cached[order[pos[hit]]]
    if fresh is not None:
        out[miss] = fresh[inverse.ravel()]
    if cache_path is not None and (len(miss) or not np.array_equal(keys, cached_keys)):
        write_npz(cache_path, identity=np.array(encoder.identity), keys=keys, vectors=out)
    return out


def _read_cache(cache_path: Path | None, identity: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Keys (uint64 (m,)) and vectors (float32 (m, d)) cached for ``identity``; empty when there are none."""
    empty = np.zeros(0, np.uint64), None
    if cache_path is None or not Path(cache_path).exists():
        return empty
    try:
        z = read_npz(cache_path)
        if str(z["identity"]) != identity:
            return empty  # another encoder's vectors: none of them can be reused
        keys, vectors = z["keys"], z["vectors"]
        if keys.dtype != np.uint64 or keys.ndim != 1 or vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError("keys and vectors do not fit together")
        return keys, vectors.astype(np.float32, copy=False)
    except (ArtifactError, KeyError, ValueError) as exc:
        log.warning("ignoring the text cache %s: %s", cache_path, exc)
        return empty
