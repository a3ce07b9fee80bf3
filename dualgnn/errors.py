"""The one error type users see, and the ledger of input that was skipped.

The library raises :class:`DualGNNError` (or a subclass) for every mistake a user can make; the CLI turns it into
a one-paragraph message and exit code 1. Anything else reaching the CLI is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class DualGNNError(Exception):
    """A user-facing error: bad input, a missing file, an artifact that does not fit.

    ``path`` and ``line`` locate the problem (line numbers are 1-based); ``hint`` says what to do about it.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 hint: str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}" + (f", line {self.line}" if self.line is not None else "") + ": "
        text = where + self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SettingsError(DualGNNError, ValueError):
    """A setting out of range or of the wrong kind. Every validated settings object raises it, so the CLI has one
    way to report a bad option (exit code 2, naming ``option`` when it is known); it is a ``ValueError`` too."""

    def __init__(self, message: str, *, option: str | None = None, hint: str | None = None) -> None:
        self.option = option
        super().__init__(message, hint=hint)


class InputError(DualGNNError):
    """An input file is missing, empty, unreadable or lacks what is needed."""


class UnknownIdError(DualGNNError):
    """A product id that is not in the catalog or the model."""


class ArtifactError(DualGNNError):
    """An artifact directory is missing, incomplete, of another format version, or from another graph."""


@dataclass
class SkipReport:
    """Counts of input records that were skipped or repaired, by reason, with the first place each was seen.

    Readers call :meth:`add`; the CLI prints :meth:`lines` as warnings. Nothing is skipped silently.

    >>> r = SkipReport(); r.add("malformed JSON", "a.jsonl", 3); r.add("malformed JSON", "a.jsonl", 9)
    >>> r.lines()
    ['malformed JSON: 2 (first at a.jsonl, line 3)']
    """

    counts: Counter = field(default_factory=Counter)
    first_seen: dict = field(default_factory=dict)

    def add(self, reason: str, path: str | Path | None = None, line: int | None = None, n: int = 1,
            example: str | None = None) -> None:
        """Count ``n`` records skipped for ``reason``; the first call per reason records where (and an example)."""
        if n <= 0:
            return
        self.counts[reason] += n
        if reason not in self.first_seen:
            self.first_seen[reason] = (str(path) if path is not None else None, line, example)

    def merge(self, other: "SkipReport") -> None:
        for reason, n in other.counts.items():
            path, line, example = other.first_seen.get(reason, (None, None, None))
            self.add(reason, path, line, n, example)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        out = []
        for reason, n in self.counts.most_common():
            path, line, example = self.first_seen.get(reason, (None, None, None))
            where = ""
            if path is not None:
                where = f" (first at {path}" + (f", line {line}" if line is not None else "")
                where += (f": {example}" if example else "") + ")"
            elif example:
                where = f" (e.g. {example})"
            out.append(f"{reason}: {n:,}{where}")
        return out

    def to_dict(self) -> dict:
        return {reason: {"count": n, "first_at": self.first_seen.get(reason)} for reason, n in self.counts.items()}
