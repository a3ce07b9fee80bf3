"""Lines nested too deeply to parse safely are emptied before parsing, and counted.

A JSON line like ``[[[[...]]]]`` 1,000 levels deep makes :func:`json.loads` raise RecursionError, a value a few
hundred levels deep overflows the stack when it is printed or cleaned, and pyarrow's JSON reader crashes the
process (segmentation fault) from about 20,000 levels. No product or event record nests more than a few levels,
so :func:`blank_deep_lines` empties every line nested more than :data:`MAX_DEPTH` levels (its newline stays, so
line numbers do not move) and counts it in the :class:`~dualgnn.errors.SkipReport`.

Cost: one vectorised pass over the bytes counting ``[`` and ``{`` per line; only lines with more than
:data:`MAX_DEPTH` of them (rare) are scanned exactly, skipping brackets inside quoted strings.

>>> skipped = SkipReport()
>>> blank_deep_lines(b'{"a": 1}\\n' + b"[" * 200 + b"]" * 200 + b"\\n", "x.jsonl", skipped)
b'{"a": 1}\\n\\n'
>>> skipped.lines()
['lines nested more than 100 levels deep: 1 (first at x.jsonl, line 2: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[)']
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dualgnn.errors import InputError, SkipReport

MAX_DEPTH = 100
_CHUNK = 1 << 26  # bytes per vectorised step: bounds the temporary arrays on multi-GB files
# Quoted strings (JSON "..." or Python '...', with escapes) are skipped whole; brackets outside them count.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[\[{(]|[\]})]')


def _positions(buf: np.ndarray, opener: bool) -> np.ndarray:
    """Offsets of ``[`` / ``{`` (``opener``) or of newlines, int64, ascending; chunked to bound memory."""
    parts = [np.zeros(0, np.int64)]
    for start in range(0, len(buf), _CHUNK):
        chunk = buf[start: start + _CHUNK]
        hit = ((chunk | 0x20) == ord("{")) if opener else (chunk == ord("\n"))  # "[" | 0x20 == "{"
        parts.append(np.flatnonzero(hit) + start)
    return np.concatenate(parts)


def nesting_depth(line: bytes) -> int:
    """Deepest bracket nesting (``[``, ``{``, ``(``) of one line, ignoring brackets inside quoted strings."""
    depth = peak = 0
    for match in _TOKEN.finditer(line):
        token = match.group()
        if len(token) == 1:
            depth += 1 if token in b"[{(" else -1
            peak = max(peak, depth)
    return peak


def blank_deep_lines(data: bytes, path: str | Path, skipped: SkipReport) -> bytes:
    """``data`` with each line nested more than :data:`MAX_DEPTH` levels emptied (newline kept) and counted.

    :class:`InputError` if that leaves nothing to read.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    opens = _positions(buf, opener=True)
    if len(opens) <= MAX_DEPTH:
        return data
    newlines = _positions(buf, opener=False)
    per_line = np.bincount(np.searchsorted(newlines, opens))  # a newline ends its line: side="left"
    starts = np.concatenate([[0], newlines + 1])
    ends = np.append(newlines, len(data))
    deep = [int(i) for i in np.flatnonzero(per_line > MAX_DEPTH)
            if nesting_depth(data[starts[i]: ends[i]]) > MAX_DEPTH]
    if not deep:
        return data
    first = data[starts[deep[0]]: ends[deep[0]]][:40].decode("utf-8", "replace")
    skipped.add(f"lines nested more than {MAX_DEPTH} levels deep", path, deep[0] + 1, len(deep), example=first)
    pieces, kept_from = [], 0
    for i in deep:
        pieces.append(data[kept_from: starts[i]])
        kept_from = ends[i]
    pieces.append(data[kept_from:])
    out = b"".join(pieces)
    if not out.strip():
        raise InputError(f"every line is nested more than {MAX_DEPTH} levels deep", path=path,
                         hint="one flat record per line is expected; was the file written by another program?")
    return out
