"""Opening input files: gzip by magic bytes, truncated streams, invalid UTF-8, CSV / JSON lines with line numbers.

Every text reader goes through :func:`read_utf8`, so the three readers treat damaged files the same way: a file
that cannot be used at all raises :class:`~dualgnn.errors.InputError`; damage that leaves usable records (a cut
gzip stream, a few undecodable bytes) is repaired and counted in the :class:`~dualgnn.errors.SkipReport`.
:func:`parse_jsonl` (and :func:`~dualgnn.sources._csv.parse_csv`) then parse the repaired bytes with pyarrow,
skipping (and counting) bad rows and attaching each row's 1-based line number.

>>> skipped = SkipReport()
>>> data = read_utf8("meta.json.gz", skipped, expected="Amazon metadata")   # doctest: +SKIP
>>> data.count(b"\\n"), skipped.lines()                                     # doctest: +SKIP
(7419, [])
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from dualgnn.errors import InputError, SkipReport
from dualgnn.sources._nesting import blank_deep_lines

GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 22
# pyarrow's parse block: a record longer than this fails, so it is far above any sane row (default 1 MB).
BLOCK = 1 << 25


def check_file(path: str | Path) -> Path:
    """``path`` as a Path, or :class:`InputError` if it does not exist, is not a regular file or cannot be read."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=p, hint="check the path and the working directory")
    if not p.is_file():
        raise InputError("not a file", path=p, hint="pass the file itself, not a directory")
    try:
        open(p, "rb").close()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", path=p,
                         hint="check the file's permissions") from None
    return p


def is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic bytes (the extension is not trusted)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _gunzip(path: Path, skipped: SkipReport) -> bytes:
    """Decompress a whole gzip file; a cut or corrupt stream keeps the complete lines before the damage."""
    parts: list[bytes] = []
    damage = None
    with gzip.open(path, "rb") as f:
        try:
            # read1, not read: read(n) loops until n bytes and loses the whole chunk when the stream breaks;
            # read1 returns each piece as soon as it is decompressed, so everything before the damage is kept.
            while chunk := f.read1(_CHUNK):
                parts.append(chunk)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            damage = exc
    data = b"".join(parts)
    if damage is None:
        return data
    # The last line is probably incomplete: keep only complete lines.
    data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        raise InputError(f"not a readable gzip file ({damage})", path=path,
                         hint="the file starts like gzip but cannot be decompressed; re-download or re-compress it")
    kept = data.count(b"\n")
    # EOFError: the file was cut short. Otherwise the bytes are damaged (bad deflate data, CRC mismatch, junk
    # after the stream), and the text just before the damage may be wrong too: the message says so.
    what = "truncated" if isinstance(damage, EOFError) else "damaged (earlier lines may be corrupt too)"
    skipped.add(f"gzip stream {what}: records after line {kept:,} lost", path, kept + 1, example=str(damage))
    return data


def _repair_utf8(data: bytes, path: Path, skipped: SkipReport) -> bytes:
    """Valid UTF-8 bytes: undecodable bytes become U+FFFD and each line holding one is counted once."""
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError as exc:
        first = exc.start
    # Only damaged files get here, so a per-line loop (from the first bad line on) is affordable.
    start = data.rfind(b"\n", 0, first) + 1
    first_line = data.count(b"\n", 0, start) + 1
    bad = 0
    for raw_line in data[start:].split(b"\n"):
        try:
            raw_line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    example = data[start: data.find(b"\n", start) if b"\n" in data[start:] else len(data)][:60]
    skipped.add("lines with invalid UTF-8 (bytes replaced)", path, first_line, bad,
                example=example.decode("utf-8", "replace"))
    return data.decode("utf-8", "replace").encode("utf-8")


def read_utf8(path: str | Path, skipped: SkipReport, *, expected: str) -> bytes:
    """The whole file as valid UTF-8 bytes, gunzipped if it is gzip, without a byte-order mark.

    ``expected`` describes the format for the error raised when the file is empty (or only blank lines).
    """
    p = check_file(path)
    if is_gzip(p):
        data = _gunzip(p, skipped)
    else:
        data = p.read_bytes()
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    if not data.strip():
        raise InputError("the file is empty", path=p, hint=f"expected {expected}")
    if b"\x00" in data[:1 << 16]:  # no text table holds NUL: read on, its bytes would make a garbled column list
        raise InputError("the file is not UTF-8 text: it holds NUL bytes (a binary file, or text saved as UTF-16)",
                         path=p, hint=f"expected {expected}, saved as UTF-8")
    return _repair_utf8(data, p, skipped)


def peek_text(path: str | Path, size: int = 1 << 16) -> str:
    """Up to ``size`` decompressed bytes from the start of the file as text (damage tolerated): for sniffing."""
    p = check_file(path)
    parts: list[bytes] = []
    with (gzip.open(p, "rb") if is_gzip(p) else open(p, "rb")) as f:
        try:
            while sum(map(len, parts)) < size and (chunk := f.read1(size)):
                parts.append(chunk)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            pass  # sniffing only: the real read reports the damage
    return b"".join(parts)[:size].decode("utf-8", "replace").lstrip("\ufeff")


class PhysicalLines:
    """Physical lines of ``data``: byte offsets ``starts`` / ``ends`` of 0-based line ``i``, and ``nonblank``, the
    1-based numbers of the lines that are not blank (``""`` or ``"\\r"``), shape ``(k,)`` int64.

    Parsers skip blank lines, so parsed record ``i`` starts on line ``nonblank[i]`` when no value spans lines.
    Vectorised: 1 M lines take a few milliseconds.
    """

    def __init__(self, data: bytes) -> None:
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buf == ord("\n"))
        if len(buf) and buf[-1] != ord("\n"):
            ends = np.append(ends, len(buf))  # last line without a newline
        starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64) if len(ends) else np.zeros(0, np.int64)
        length = ends - starts
        carriage = (length == 1) & (buf[np.minimum(starts, max(len(buf) - 1, 0))] == ord("\r"))
        self.starts, self.ends = starts, ends
        self.nonblank = (np.flatnonzero((length > 0) & ~carriage) + 1).astype(np.int64)

    def text(self, data: bytes, first: int, last: int) -> bytes:
        """Bytes of nonblank lines ``first..last`` (indices into ``nonblank``), the blank lines between included."""
        return data[self.starts[self.nonblank[first] - 1]: self.ends[self.nonblank[last] - 1]]


def parse_jsonl(data: bytes, path: Path, skipped: SkipReport) -> pd.DataFrame:
    """JSON lines (one object per line) as a DataFrame plus ``line``; malformed lines are skipped and counted.

    Fast path: pyarrow's vectorised reader. It rejects the whole file on one bad line or on a field whose type
    changes between lines; only then are the lines parsed one by one to find and skip the bad ones. Lines nested
    too deeply to parse safely are emptied first (:func:`~dualgnn.sources._nesting.blank_deep_lines`).
    """
    data = blank_deep_lines(data, path, skipped)
    lines = PhysicalLines(data)
    physical = lines.nonblank
    # Only lines that start an object go to pyarrow: it reads a "null" line as an empty record, and crashes the
    # process (segmentation fault) when the first line is one.
    objects = np.frombuffer(data, np.uint8)[lines.starts[physical - 1]] == ord("{")
    try:
        if objects.all():
            df = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=BLOCK)).to_pandas()
            if len(df) == len(physical):
                df["line"] = physical
                return df
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    records, lines = [], []
    for number, text in enumerate(data.split(b"\n"), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            skipped.add("malformed JSON lines", path, number, example=text[:60].decode("utf-8", "replace"))
            continue
        records.append(record)
        lines.append(number)
    df = pd.DataFrame.from_records(records)
    df["line"] = np.asarray(lines, np.int64)
    return df
