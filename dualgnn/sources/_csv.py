"""Delimited text -> DataFrame of str columns plus each row's physical ``line``; bad rows skipped and counted.

pyarrow parses; this module places the rows. pyarrow numbers records, not lines, and a record spans several lines
when a quoted value holds newlines, so each record's extent is measured (newline runs in its values) to give the
physical line of every row, blank lines included.

A quote that is never closed makes pyarrow read the following lines as part of one value: to the end of the file
(one bad row) or to the next quote (one good-looking row with a long value). A record spanning several lines
whose quoting is not well formed (a closing quote followed by something other than a delimiter or a newline, or
no closing quote) is therefore counted as one malformed row, and the lines after its first are parsed again on
their own, so only the broken line is lost.

>>> skipped = SkipReport()
>>> df = parse_csv(b'id,title\\nA,"two\\nlines"\\nB,"oops\\nC,ok\\n', Path("t.csv"), ",", skipped)
>>> list(zip(df["id"], df["line"]))
[('A', 2), ('C', 5)]
>>> skipped.lines()
['rows with an unterminated quote (the lines after it were read on their own): 1 (first at t.csv, line 4: B,"oops)']
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dualgnn.errors import InputError, SkipReport
from dualgnn.sources._open import BLOCK, PhysicalLines

WRONG_FIELDS = "malformed rows (wrong number of fields)"
UNTERMINATED = "rows with an unterminated quote (the lines after it were read on their own)"


def _quote_pattern(sep: str) -> re.Pattern:
    """A well-formed record: fields either quoted (``""`` escapes a quote) or not starting with a quote."""
    d = re.escape(sep)
    field = rf'(?:"(?:[^"]|"")*+"|[^"{d}\r\n][^{d}\r\n]*+|)'  # possessive: a failed match never backtracks
    return re.compile(rf"{field}(?:{d}{field})*")


def _parse(source, names: list[str], sep: str, skip_rows: int, path: Path):
    """pyarrow's parse of ``source``: (table of str columns, [(record number, text)] of bad records)."""
    bad: list[tuple[int, str]] = []

    def on_bad_row(row) -> str:
        bad.append((row.number - skip_rows if row.number is not None else 0, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            source,
            # Single-threaded: only then does pyarrow number the bad rows (and on 2 cores it is as fast).
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=skip_rows,
                                           block_size=BLOCK),
            parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_bad_row, newlines_in_values=True),
            # Every column as text: ids like "007" must not become 7; numeric columns are converted by the caller.
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: {exc}", path=path,
                         hint="check the delimiter and quoting; the first line must be the header") from None
    return table, bad


def _good_spans(table: pa.Table) -> np.ndarray:
    """Nonblank lines each good row spans: 1 + its values' runs of newlines (a run holds the blank lines)."""
    spans = np.ones(table.num_rows, np.int64)
    for column in table.columns:
        runs = pc.count_substring_regex(pc.replace_substring(column, "\r\n", "\n"), "\n+")
        spans += pc.fill_null(runs, 0).to_numpy(zero_copy_only=False)
    return spans


def _extents(table: pa.Table, bad: list[tuple[int, str]], first: int, end: int):
    """``(is_bad, starts, spans)`` per record of one parse of nonblank lines ``first..end - 1``: whether pyarrow
    rejected it, the nonblank index of its first line and how many nonblank lines it spans."""
    records = table.num_rows + len(bad)
    is_bad = np.zeros(records, bool)
    is_bad[[n - 1 for n, _ in bad]] = True
    spans = np.ones(records, np.int64)
    if end - first != records:  # some record spans several lines
        spans[~is_bad] = _good_spans(table)
        spans[is_bad] = [sum(1 for line in text.split("\n") if line not in ("", "\r")) for _, text in bad]
    starts = first + np.concatenate([[0], np.cumsum(spans)[:-1]]).astype(np.int64)
    if records:  # a quote left open runs to the end: the last record holds whatever is left
        spans[-1] = end - starts[-1]
        if spans[-1] < 1:  # not expected: keep record numbers rather than guess
            starts, spans = first + np.arange(records), np.ones(records, np.int64)
    return is_bad, starts, spans


LONE_CR = "lines with a stray carriage return (replaced by a space)"
_LONE_CR = re.compile(rb"\r(?!\n)")


def _blank_lone_carriage_returns(data: bytes, path: Path, skipped: SkipReport) -> bytes:
    """``data`` with each carriage return that ends no line (one not before a newline) made a space, each line
    holding one counted. pyarrow ends a record at a lone carriage return and line numbers count newlines, so one
    left in a value split its row in two, misnumbered the lines after it, or (in the last row) broke the reader."""
    if b"\r" not in data:
        return data
    hits = [m.start() for m in _LONE_CR.finditer(data)]
    if not hits:
        return data
    starts = np.array([data.rfind(b"\n", 0, h) + 1 for h in hits])
    first = int(starts[0])
    end = data.find(b"\n", first)
    example = data[first: end if end >= 0 else len(data)].replace(b"\r", b" ")[:60].decode("utf-8", "replace")
    skipped.add(LONE_CR, path, data.count(b"\n", 0, first) + 1, int(len(np.unique(starts))), example=example)
    return _LONE_CR.sub(b" ", data)


def parse_csv(data: bytes, path: Path, sep: str, skipped: SkipReport) -> pd.DataFrame:
    """A delimited file as a DataFrame of str columns (``""`` for empty cells) plus ``line``, its physical 1-based
    line (the header is line 1). Rows with the wrong number of fields or an unterminated quote are counted."""
    if b"\n" not in data and b"\r" in data:  # classic Mac line ends: give every reader (and line count) "\n"
        data = data.replace(b"\r", b"\n")
    data = _blank_lone_carriage_returns(data, path, skipped)
    header_text = data[: data.find(b"\n")] if b"\n" in data else data
    try:
        names = next(csv.reader([header_text.decode("utf-8").rstrip("\r")], delimiter=sep), [])
    except csv.Error as exc:
        raise InputError(f"cannot parse the header line: {exc}", path=path, line=1,
                         hint="the first line must be the column names, separated by the delimiter") from None
    lines, well_formed = PhysicalLines(data), _quote_pattern(sep)
    frames, bad_rows = [], []  # bad_rows: (line, reason, example), counted in line order at the end
    todo = [(io.BytesIO(data), 1, 1, len(lines.nonblank))]  # (source, skip_rows, first, end) in nonblank indices
    while todo:
        source, skip_rows, first, end = todo.pop()
        table, bad = _parse(source, names, sep, skip_rows, path)
        is_bad, starts, spans = _extents(table, bad, first, end)
        keep = np.ones(table.num_rows, bool)
        good_row = np.cumsum(~is_bad) - 1  # a good record's row in ``table``
        texts = dict(zip(np.flatnonzero(is_bad), (text for _, text in bad)))
        for record in np.flatnonzero(is_bad | (spans > 1)):
            s, span = int(starts[record]), int(spans[record])
            raw = lines.text(data, s, s + span - 1).decode("utf-8").removesuffix("\r")
            broken = not well_formed.fullmatch(raw)
            if not broken and not is_bad[record]:
                continue  # a good multi-line value
            if not is_bad[record]:
                keep[good_row[record]] = False
            example = (texts.get(record) or raw).split("\n", 1)[0][:60]
            bad_rows.append((int(lines.nonblank[min(s, len(lines.nonblank) - 1)]),
                             UNTERMINATED if broken else WRONG_FIELDS, example))
            if broken and span > 1:  # read the swallowed lines again, on their own
                chunk = lines.text(data, s + 1, s + span - 1)
                todo.append((pa.BufferReader(chunk), 0, s + 1, s + span))
        df = table.filter(pa.array(keep)).to_pandas()
        df["line"] = lines.nonblank[np.minimum(starts[~is_bad][keep], len(lines.nonblank) - 1)]
        frames.append(df)
    for line, reason, example in sorted(bad_rows):
        skipped.add(reason, path, line, example=example)
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).sort_values("line", kind="stable", ignore_index=True)
