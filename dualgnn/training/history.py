"""What a training run shows and keeps of its epochs: the progress bar, ``history.json`` and the curve PNG.
"""

from __future__ import annotations

import json
from pathlib import Path

from dualgnn.artifacts import write_json
from dualgnn.model.io import write_training_curve


class EpochProgress:
    """A rich progress bar over epochs showing the last loss and validation HR@10 (silent when disabled)."""

    def __init__(self, epochs: int, *, enabled: bool, start: int = 0) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                TextColumn("{task.fields[info]}"), transient=False)
            self.task = self.bar.add_task("train", total=epochs, completed=start, info="")
            self.bar.start()

    def update(self, record: dict, best: float) -> None:
        if self.bar is None:
            return
        info = f"loss {record['loss']:.4f}"
        if "val_hr10" in record:
            info += f"  val HR@10 {record['val_hr10']:.3f} (best {best:.3f})"
        self.bar.update(self.task, advance=1, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def write_history(out_dir: Path, history: list[dict]) -> None:
    """history.json and training_curve.png (loss and validation HR@10 per epoch)."""
    write_json(out_dir / "history.json", history)
    write_training_curve(out_dir / "training_curve.png", history)


def load_history(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())
