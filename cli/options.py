"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ArtifactsDir = Annotated[Path, typer.Argument(help="Graph artifact directory written by `dualgnn build-graph`.")]
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Model directory written by `dualgnn train`.")]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Directory to write (replaced atomically).")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same result.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Threads = Annotated[int, typer.Option("--threads", min=0, max=512,
                                       help="CPU threads for torch and Faiss (0 = all cores).")]
SplitShares = Annotated[Optional[str], typer.Option(
    "--split", help="Train,validation,test shares of the evaluation split (held-out edges), e.g. 0.75,0.05,0.2.")]
SplitSeed = Annotated[int, typer.Option("--split-seed", help="Seed of the split (the model has its own --seed).")]

#: The evaluation split `dualgnn evaluate` uses when --split is not given (and `train --split-kind node`).
EVAL_SPLIT = (0.75, 0.05, 0.20)


def parse_shares(text: str | None, default: tuple[float, float, float] = EVAL_SPLIT) -> tuple[float, float, float]:
    """``"0.75,0.05,0.2"`` -> (0.75, 0.05, 0.2); a bad value is a bad option (exit code 2) naming --split."""
    if text is None:
        return default
    try:
        shares = tuple(float(v) for v in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != 3:
        raise typer.BadParameter(f"{text!r} is not three comma-separated shares, e.g. 0.75,0.05,0.2",
                                 param_hint="--split")
    return shares  # type: ignore[return-value]
