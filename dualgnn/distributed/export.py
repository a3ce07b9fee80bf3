"""``dualgnn export-distributed``: every product's top-k list, computed by several processes, as one Parquet
dataset (a file per process, ``part-00000.parquet`` ...), equal to ``dualgnn recommend ... --all --out x.parquet``.

Rank 0 builds the target index the single-process export would build (same kind, same vectors) and writes it in
Faiss's own format; every process maps that one file and ranks its own contiguous range of the catalog's rows
with the single-process code (:func:`dualgnn.serving.run.rank_products`). Reading the dataset's files in name
order gives the single-process table row for row. The dataset is written into a temporary sibling and renamed
into place by rank 0 when every process is done, so an interrupted export never leaves one that reads.

>>> with process_group("env://") as group:                                             # doctest: +SKIP
...     run_parallel_export(ExportRequest(artifacts=Path("g"), model_dir=Path("m"), out=Path("lists")), group)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dualgnn.distributed.group import Group, checked, share_text
from dualgnn.errors import SettingsError
from dualgnn.outputs import OutputError

PART = re.compile(r"part-\d{5}\.parquet")


@dataclass(frozen=True, kw_only=True)
class ExportRequest:
    """What to export: the graph and model directories, the dataset directory to write, and the options of
    ``dualgnn recommend --all`` that apply to a whole catalog."""

    artifacts: Path
    model_dir: Path
    out: Path
    k: int = 10
    similar: bool = False
    exclude_same_category: bool = False
    exclude_linked: bool = False
    index_kind: str = "auto"
    threads: int = 0
    ranked: bool = True  #: the model's ranker (when it has one) ranks the lists, as ``recommend`` does

    def __post_init__(self) -> None:
        if self.k < 1:
            raise SettingsError(f"k must be at least 1, not {self.k}", option="-k")
        if self.index_kind not in ("auto", "exact", "hnsw", "ivf"):
            raise SettingsError(f"index must be auto, exact, hnsw or ivf, not {self.index_kind!r}", option="--index")

    def check_out(self) -> None:
        """:class:`OutputError` unless ``out`` may become the dataset: absent, empty, or an earlier export's."""
        from dualgnn.outputs import check_not_input, check_writable_place

        check_not_input(self.out, [self.artifacts, self.model_dir])
        if self.out.exists() and not self.out.is_dir():
            raise OutputError(f"--out {self.out} is an existing file; the export writes a directory of Parquet files",
                              hint="choose a new directory name for --out")
        if self.out.is_dir() and not is_export(self.out):
            raise OutputError(f"--out {self.out} is a directory that dualgnn's export did not write; it will not be "
                              "replaced", hint="choose a new directory name for --out")
        check_writable_place(self.out)


def is_export(directory: Path) -> bool:
    """True for an empty directory or one holding only ``part-NNNNN.parquet`` recommendation tables."""
    from dualgnn.serving.tables import is_recommendation_table

    entries = list(directory.iterdir())
    return all(PART.fullmatch(e.name) and e.is_file() and is_recommendation_table(e) for e in entries)


def query_range(rank: int, size: int, n: int) -> tuple[int, int]:
    """Process ``rank``'s rows ``lo:hi`` of ``n`` (contiguous, in rank order, sizes differing by at most one)."""
    return rank * n // size, (rank + 1) * n // size


def run_parallel_export(req: ExportRequest, group: Group) -> dict | None:
    """This process's range of the export; rank 0 returns a summary (rows, files, seconds), the others None."""
    from dualgnn.outputs import output_lock, sweep_stale, temp_prefix
    from dualgnn.serving.load import load_recommender

    t0 = time.perf_counter()
    out = Path(os.path.abspath(req.out))
    with contextlib.ExitStack() as stack:
        def claim() -> None:  # rank 0 holds the output's lock for the whole export
            req.check_out()
            stack.enter_context(output_lock(out))
            sweep_stale(out)

        checked(group, claim if group.leader else lambda: None)
        _, rec = checked(group, lambda: load_recommender(req.artifacts, req.model_dir, index_kind=req.index_kind,
                                                         threads=req.threads, ranked=req.ranked))
        n = len(rec)
        rec.plan(n)  # the whole catalog is queried, as by `recommend --all`: the same index kind
        role = "source" if req.similar else "target"
        tmp = None
        if group.leader:
            tmp = out.parent / f"{temp_prefix(out)}parts.tmp"
            tmp.mkdir()
        tmp = Path(share_text(group, str(tmp) if tmp else None))
        index_file = tmp.with_name(tmp.name.replace("parts.tmp", "index.tmp"))
        try:
            t1 = time.perf_counter()
            kind = None
            if group.leader:
                shared = rec.index_for(role)
                shared.save(index_file)
                kind = shared.kind
            kind = share_text(group, kind)  # after the file is complete
            seconds_index = time.perf_counter() - t1
            checked(group, lambda: _adopt(rec, index_file, role, kind, req, group))
            lo, hi = query_range(group.rank, group.size, n)
            # checked() is also the barrier: when it returns, every process has written its file
            checked(group, lambda: _write_range(rec, req, np.arange(lo, hi), tmp / f"part-{group.rank:05d}.parquet"))
            if not group.leader:
                return None
            index_file.unlink(missing_ok=True)
            _swap_in(tmp, out)
            return {"rows": n, "files": group.size, "index": kind, "seconds_index": seconds_index,
                    "seconds": time.perf_counter() - t0}
        finally:
            if group.leader:
                index_file.unlink(missing_ok=True)
                shutil.rmtree(tmp, ignore_errors=True)


def _adopt(rec, index_file: Path, role: str, kind: str, req: ExportRequest, group: Group) -> None:
    """Every process but rank 0 (which built it) searches the one shared index file."""
    from dualgnn.index import TargetIndex

    if group.leader:
        return
    vectors = rec.source if role == "source" else rec.target
    rows = np.arange(len(rec))
    rec.adopt(TargetIndex.load(index_file, vectors[rows], ids=rows, kind=kind, threads=req.threads), role)


def _write_range(rec, req: ExportRequest, q: np.ndarray, path: Path) -> None:
    """The lists of queries ``q``, written as the single-process export writes its table."""
    from dualgnn.serving.recommender import Filters
    from dualgnn.serving.run import rank_products
    from dualgnn.serving.tables import Lists, titles_of

    filters = Filters(exclude_same_category=req.exclude_same_category, exclude_linked=req.exclude_linked)
    ids, scores = rank_products(rec, q, req.k, filters, similar=req.similar)
    Lists(rec.ids.decode(q), titles_of(rec.products)[q], ids, scores, rec.products).write(path)


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename the finished dataset over ``out`` (an earlier export is moved aside first, then deleted)."""
    from dualgnn.outputs import temp_prefix

    old = None
    if out.exists():
        if not is_export(out):  # checked again at the swap: something else may have appeared meanwhile
            raise OutputError(f"--out {out} changed during the export and is no longer an export; not replaced")
        old = out.with_name(f"{temp_prefix(out)}old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

