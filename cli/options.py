"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ArtifactsDir = Annotated[Path, typer.Argument(help="Graph artifact directory written by `dualgnn build-graph`.")]
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Model directory written by `dualgnn train`.")]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Directory to write (replaced atomically).")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same result.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Threads = Annotated[int, typer.Option("--threads", min=0, max=512,
                                       help="CPU threads for torch and Faiss (0 = all cores).")]
