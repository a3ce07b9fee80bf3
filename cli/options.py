"""Options shared by several commands, defined once, each with one default."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from dualgnn.config import MAX_SEED

ArtifactsDir = Annotated[Path, typer.Argument(help="Graph artifact directory written by `dualgnn build-graph`.")]
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Model directory written by `dualgnn train`.")]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Directory to write (replaced atomically).")]
Seed = Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED,
                                   help="Random seed; the same seed gives the same result.")]
ModelSeed = Annotated[Optional[int], typer.Option(
    "--seed", min=0, max=MAX_SEED, help="Seed of the model (initialisation, batches); default: the preset's.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Threads = Annotated[int, typer.Option("--threads", min=0, max=512,
                                       help="CPU threads for torch and Faiss (0 = all cores).")]
SplitShares = Annotated[Optional[str], typer.Option(
    "--split", help="Train,validation,test shares of the evaluation split (held-out edges), e.g. 0.75,0.05,0.2.")]
SplitSeed = Annotated[int, typer.Option("--split-seed", min=0, max=MAX_SEED,
                                        help="Seed of the split (the model has its own --seed).")]
Validation = Annotated[float, typer.Option(
    "--validation", help="Production training (the default): the seeded share of co-purchase edges kept back "
    "to decide when to stop; the model learns from all the others, and its served vectors propagate over "
    "every edge. 0: no early stopping (the --epochs budget is run).")]
Preset = Annotated[str, typer.Option(help="Settings preset: default (measured best) or paper (as published).")]
Epochs = Annotated[Optional[int], typer.Option(min=1, help="Maximum epochs (early stopping may end sooner).")]
Layers = Annotated[Optional[int], typer.Option(min=0, help="Message-passing layers (hops).")]
Dim = Annotated[Optional[int], typer.Option(min=1, help="Embedding size.")]


class Index(str, Enum):
    """Faiss index kinds (:func:`dualgnn.index.choose_kind`)."""

    auto = "auto"
    exact = "exact"
    hnsw = "hnsw"
    ivf = "ivf"


IndexKind = Annotated[Index, typer.Option(
    "--index", help="Faiss index: auto (exact for small catalogs or few queries, else HNSW), exact, hnsw, ivf.")]


def set_threads(threads: int) -> None:
    """torch's thread count for this process (0 leaves torch's default: every core)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
