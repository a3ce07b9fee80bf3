"""Write a synthetic catalog as generic tables (CSV, Parquet or JSON lines), each file atomically.

Files: ``products``, ``copurchase``, ``coview`` (and ``events``) with the format's extension, plus ``synth.json``
(settings, counts and the planted complements: enough to make the same files again).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dualgnn.artifacts import atomic_path
from dualgnn.errors import DualGNNError

if TYPE_CHECKING:
    from dualgnn.synth.catalog import SynthCatalog

FORMATS = ("csv", "parquet", "jsonl")


def write_catalog(catalog: "SynthCatalog", out_dir: str | Path, fmt: str = "csv", compress: bool = False) -> list[Path]:
    """Write the catalog's tables into ``out_dir`` (created if needed) and return the paths written.

    ``compress`` gzips CSV and JSON lines (``products.csv.gz``, which pandas reads directly) and switches Parquet
    from snappy to zstd. Each file is written to a temporary name and renamed, so a reader never sees half a file;
    other files in ``out_dir`` are left alone.

    >>> from dualgnn.synth.catalog import SynthSettings, generate
    >>> paths = write_catalog(generate(SynthSettings(n_products=100)), "out", "csv", compress=True)  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['products.csv.gz', 'copurchase.csv.gz', 'coview.csv.gz', 'synth.json']
    """
    if fmt not in FORMATS:
        raise DualGNNError(f"unknown output format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DualGNNError(f"{out_dir} exists and is not a directory", hint="pass a directory to --out")
    ext = _extension(fmt, compress)
    tables = {"products": catalog.products, "copurchase": catalog.copurchase, "coview": catalog.coview}
    if catalog.events is not None:
        tables["events"] = catalog.events
    written = []
    for name, frame in tables.items():
        path = out_dir / f"{name}.{ext}"
        _publish(path, lambda tmp: _WRITERS[fmt](frame, tmp, compress))
        written.append(path)
    meta = {"settings": catalog.settings.to_dict(), "counts": catalog.counts(),
            "files": [p.name for p in written], "complements": catalog.complements.to_dict(orient="records")}
    meta_path = out_dir / "synth.json"
    _publish(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
    return written + [meta_path]


def _extension(fmt: str, compress: bool) -> str:
    return fmt + (".gz" if compress and fmt != "parquet" else "")


def catalog_files(fmt: str, compress: bool, events: bool) -> list[str]:
    """The file names :func:`write_catalog` writes for these options (what `synth --out` may replace)."""
    names = ["products", "copurchase", "coview"] + (["events"] if events else [])
    return [f"{name}.{_extension(fmt, compress)}" for name in names] + ["synth.json"]


def is_synth_file(path: Path) -> bool:
    """True when ``path`` was written by an earlier `dualgnn synth`: its folder's synth.json lists it."""
    meta = json.loads((path.parent / "synth.json").read_text())
    return isinstance(meta, dict) and "settings" in meta and (path.name == "synth.json"
                                                               or path.name in meta.get("files", []))


def _publish(path: Path, write) -> None:
    """Write through a temporary file renamed over ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _write_parquet(frame: pd.DataFrame, path: Path, compress: bool) -> None:
    pq.write_table(_arrow(frame), path, compression="zstd" if compress else "snappy")


def _write_csv(frame: pd.DataFrame, path: Path, compress: bool) -> None:
    # Arrow's CSV writer is ~10x faster than DataFrame.to_csv; NaN prices become empty fields.
    options = pacsv.WriteOptions(quoting_style="needed")
    if not compress:
        pacsv.write_csv(_arrow(frame), str(path), options)
        return
    with _gzip(path) as fh:
        pacsv.write_csv(_arrow(frame), fh, options)


def _write_jsonl(frame: pd.DataFrame, path: Path, compress: bool) -> None:
    options = dict(orient="records", lines=True, date_format="iso", date_unit="s", force_ascii=False)
    if not compress:
        frame.to_json(path, **options)
        return
    with _gzip(path) as fh, io.TextIOWrapper(fh, encoding="utf-8") as text:
        frame.to_json(text, **options)


@contextlib.contextmanager
def _gzip(path: Path) -> Iterator[gzip.GzipFile]:
    # No file name and mtime=0 in the gzip header: the same seed gives byte-identical files.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6,
                                                 mtime=0) as fh:
        yield fh


_WRITERS = {"csv": _write_csv, "parquet": _write_parquet, "jsonl": _write_jsonl}
