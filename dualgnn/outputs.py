"""Where commands write: an output path is claimed before the work starts, and nothing dualgnn did not make is
ever replaced.

The rules, for every command that takes ``--out``:

* a directory output (``build-graph``, ``train``) replaces nothing, an empty directory, or a dualgnn artifact of
  the same kind (its ``manifest.json`` names the kind); a file output replaces nothing or a file that dualgnn
  wrote (the caller says how to recognise one);
* an output is never one of the command's inputs, never contains one, and is never the current directory;
* the place is checked before the work (the parent is a directory, the file system takes a write), so a mistake
  costs seconds, not a training run;
* one writer at a time: a lock file beside the output (``.NAME.lock``) refuses a second run for the same path;
* the temporaries of a run that was killed (``.NAME.PID.*.tmp``) are swept by the next run for the same path,
  once their process is gone.

>>> with claim_output("model", kind="model", inputs=["graph"]):   # doctest: +SKIP
...     save_model("model", result, fingerprint)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from dualgnn.errors import DualGNNError

MANIFEST = "manifest.json"


class OutputError(DualGNNError):
    """An output path that dualgnn must not or cannot write: a user's file, an input, a read-only place."""


def _abs(path: str | Path) -> Path:
    return Path(os.path.abspath(path))


def temp_prefix(path: Path) -> str:
    """The name prefix of every temporary made for ``path``; the pid lets the next run tell a dead run's leftovers."""
    return f".{path.name}.{os.getpid()}."


def artifact_kind(directory: Path) -> str | None:
    """The kind a directory's manifest names (``graph``, ``model``), or None when it is no dualgnn artifact."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        return None
    return str(manifest.get("kind", "graph"))


#: The files ``dualgnn evaluate`` writes into its --out directory (by default ``eval/`` inside the graph); nothing
#: else there is touched.
REPORT_FILES = ("report.json", "report.png", "report.partial.json")

#: The names dualgnn writes at the top of each kind of artifact directory (some only with some options; ``.*.tmp``
#: and ``.*.lock`` are the temporaries and locks of a killed run). Any other entry is the user's: an artifact holding
#: one is not replaced, since the swap would delete it. A test builds every kind with every option and checks it
#: holds nothing else. ``eval`` (evaluate's default report folder) is dualgnn's while it holds only its reports.
OWNED = {
    "graph": ("manifest.json", "graph.npz", "features.npz", "features.json", "products.parquet", "text_cache.npz",
              "split.npz", "split-*.npz", "eval"),
    "model": ("manifest.json", "config.json", "weights.pt", "embeddings.npz", "history.json", "training_curve.png",
              "split.npz", "ids.parquet", "edges.npz", "features.npz", "features.json", "ranker.txt", "ranker.json",
              "ranker-classics.npz"),
    "partitions": ("manifest.json", "graph.json", "part[0-9]*", "split.npz", "catalog"),
}


def foreign_entries(directory: Path, kind: str) -> list[str]:
    """The names at the top of ``directory`` that dualgnn does not write into a ``kind`` artifact (:data:`OWNED`)."""
    def owned(path: Path, names: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(path.name, o) for o in (*names, ".*.tmp", ".*.lock"))

    def ours(p: Path) -> bool:
        if p.name == "eval" and "eval" in OWNED.get(kind, ()) and p.is_dir():
            return all(owned(f, REPORT_FILES) and not f.is_dir() for f in p.iterdir())
        return owned(p, OWNED.get(kind, ()))

    return sorted(p.name for p in directory.iterdir() if not ours(p))


def check_replaceable_dir(path: str | Path, kind: str) -> None:
    """:class:`OutputError` unless ``path`` is absent, an empty directory, or a dualgnn ``kind`` artifact."""
    path = _abs(path)
    if not path.exists() and not path.is_symlink():
        return
    what = f"--out {path}"
    if path.is_symlink():  # the swap would put a directory where the link was, and leave its target as it was
        raise OutputError(f"{what} is a symbolic link (to {os.readlink(path)}); dualgnn writes a {kind} directory "
                          "and will not replace the link", hint="name the directory itself, or a new one, as --out")
    if not path.is_dir():
        raise OutputError(f"{what} is an existing file; dualgnn writes a {kind} directory there and will not "
                          "replace it", hint="choose a new directory name for --out")
    if not any(path.iterdir()):
        return
    found = artifact_kind(path)
    if found is None:
        raise OutputError(f"{what} is a directory that is not a dualgnn {kind} artifact (no dualgnn manifest.json): "
                          "replacing it would delete its files", hint="choose a new directory name for --out, or "
                          "empty that directory yourself if its contents are not needed")
    if found != kind:
        raise OutputError(f"{what} holds a dualgnn {found} artifact; this command writes a {kind} artifact and will "
                          "not replace it", hint=f"write the {kind} to another directory")
    nested = sorted(p for p in path.iterdir() if p.is_dir() and artifact_kind(p) is not None)
    if nested:
        raise OutputError(f"{what} holds another dualgnn artifact, {nested[0]}: replacing {path} would delete it",
                          hint="move that directory out first, or write to another --out")
    foreign = foreign_entries(path, kind)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(f"{what} is a dualgnn {kind} artifact that also holds {shown}, which dualgnn did not write: "
                          f"replacing {path} would delete {'it' if len(foreign) == 1 else 'them'}",
                          hint="move those out of the directory first, or write to another --out")


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_not_input(path: str | Path, inputs: Iterable[str | Path]) -> None:
    """:class:`OutputError` when ``path`` is, or contains, one of ``inputs``, or is (or holds) the current directory."""
    real = Path(os.path.realpath(path))
    if _inside(Path(os.path.realpath(os.getcwd())), real):
        raise OutputError(f"--out {_abs(path)} is the current directory (or contains it); dualgnn will not replace "
                          "it", hint="name a new path inside it, e.g. --out ./out")
    for item in inputs:
        if item is None:
            continue
        if _inside(Path(os.path.realpath(item)), real):
            raise OutputError(f"--out {_abs(path)} is (or contains) {item}, an input of this command: writing there "
                              "would destroy it", hint="write the output to another path")


def check_writable_place(path: str | Path) -> None:
    """:class:`OutputError` when ``path``'s parent cannot be made or written (a file in the way, read-only, full)."""
    path = _abs(path)
    probe = path.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write {path}: {probe} is a file, not a directory",
                          hint="choose an --out path whose parent folders are directories")
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".dualgnn-probe."):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {probe} is not writable ({describe_os_error(exc)})",
                          hint="choose an --out path on a writable disk") from exc


def describe_os_error(exc: OSError) -> str:
    """A plain-words reason for the environment faults users meet when writing."""
    reasons = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.EDQUOT: "disk quota exceeded", errno.ENOTDIR: "a part of the path is a file",
               errno.EISDIR: "it is a directory", errno.ENAMETOOLONG: "the name is too long"}
    return reasons.get(exc.errno, exc.strerror or str(exc))


_PID = re.compile(r"\.(\d+)\.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(path: str | Path) -> int:
    """Remove the temporaries that killed runs left beside ``path``; returns how many were removed."""
    path = _abs(path)
    if not path.parent.is_dir():
        return 0
    removed = 0
    for entry in path.parent.glob(f".{glob.escape(path.name)}.*"):
        rest = entry.name[len(path.name) + 1:]
        match = _PID.match(rest)
        leftover = rest.endswith(".tmp") or ".old-" in rest
        if not match or not leftover or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``path`` for the block; :class:`OutputError` if another run holds it."""
    path = _abs(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise OutputError(f"another dualgnn run (pid {holder}) is writing {path}",
                              hint="wait for it to finish, or write to another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


@contextlib.contextmanager
def claim_output(path: str | Path, *, kind: str | None = None, inputs: Iterable[str | Path] = (),
                 is_ours: Callable[[Path], bool] | None = None, files: Iterable[str] | None = None) -> Iterator[Path]:
    """Check ``path`` before any work, lock it, sweep dead runs' temporaries; yield its absolute path.

    ``kind`` for a directory artifact (``graph``, ``model``), replaced whole; ``files`` for a directory into which
    the command writes these file names (``evaluate``'s report, ``synth``'s tables), others left alone; neither for
    a file output. ``is_ours`` is called on an existing file that would be replaced: True when dualgnn wrote it.
    """
    target = _abs(path)
    check_not_input(target, inputs)
    if kind is not None:
        check_replaceable_dir(target, kind)
    elif files is not None:
        if target.exists() and not target.is_dir():
            raise OutputError(f"--out {target} is an existing file; a directory is written there",
                              hint="choose a new directory name for --out")
        for name in files:
            if (target / name).exists() or (target / name).is_symlink():
                check_replaceable_file(target / name, is_ours, shown=f"{target / name} (in --out)")
    else:
        check_replaceable_file(target, is_ours)
    # The probe writes in the output's parent; for a directory of files that is the directory itself.
    check_writable_place(target / "probe" if files is not None else target)
    with output_lock(target):
        sweep_stale(target)
        yield target


def check_replaceable_file(path: Path, is_ours: Callable[[Path], bool] | None, shown: str | None = None) -> None:
    """:class:`OutputError` for a directory, or an existing file that ``is_ours`` does not recognise."""
    shown = shown or f"--out {path}"
    if path.is_dir():
        raise OutputError(f"{shown} is a directory; a file is written there",
                          hint="name a file, e.g. --out lists.parquet")
    if path.exists() and not (is_ours is not None and _safely(is_ours, path)):
        raise OutputError(f"{shown} is an existing file that dualgnn did not write; it will not be replaced",
                          hint="choose a new name for --out, or delete that file yourself")


def _safely(is_ours: Callable[[Path], bool], path: Path) -> bool:
    try:
        return bool(is_ours(path))
    except Exception:  # noqa: BLE001 - anything unreadable is not recognisably ours
        return False
