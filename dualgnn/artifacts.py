"""Artifact directories, written atomically and loaded with a format-version check.

A graph artifact directory holds::

    manifest.json     format version, counts, input checksums, settings (written last: no manifest, no artifact)
    products.parquet  product_id (the id map: row i is internal id i) and metadata
    graph.npz         copurchase_{src,dst,weight}, coview_{src,dst,weight} (coview holds both directions)
    features.npz/.json  node input features (see dualgnn.features.build)
    text_cache.npz    text-embedding cache keyed by a hash of each product's text (makes rebuilds cheap)

Nothing is pickled: Parquet, npz (``allow_pickle=False``) and JSON only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dualgnn.errors import ArtifactError
from dualgnn.graph import Edges, ProductGraph
from dualgnn.ids import IdMap
from dualgnn.outputs import check_replaceable_dir, temp_prefix

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path`` (atomic on one filesystem).

    >>> with atomic_path("out.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files owner-only; artifacts get the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | Path, obj: Any) -> None:
    """Strict JSON (NaN and infinities become null, which every JSON reader accepts), written atomically."""
    text = json.dumps(json_safe(obj), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (recursively through dicts, lists and tuples)."""
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError as exc:
        raise ArtifactError(f"missing artifact file {path}",
                            hint="the directory lost one of its files: write it again with the command that made "
                                 "it (`dualgnn build-graph` for a graph, `dualgnn train` for a model)") from exc
    except Exception as exc:  # noqa: BLE001 - corrupt or truncated file
        raise ArtifactError(f"cannot read {path}: {exc}", hint="rebuild it; the file is damaged") from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


@contextlib.contextmanager
def atomic_dir(path: str | Path, kind: str) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it in when the block succeeds.

    An interrupted run leaves the old directory (or none) in place, never a half-written one. Only an empty
    directory or a dualgnn ``kind`` artifact is ever replaced (checked again at the swap: see dualgnn.outputs).
    """
    path = Path(os.path.abspath(path))
    check_replaceable_dir(path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        old = None
        check_replaceable_dir(path, kind)
        if path.exists():
            old = path.with_name(f"{temp_prefix(path)}old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def file_checksum(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_manifest(directory: str | Path, kind: str = "graph") -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        made_by = "`dualgnn train ARTIFACTS --out DIR`" if kind == "model" else "`dualgnn build-graph ... --out DIR`"
        what = "file, not a directory" if directory.exists() else "directory"
        raise ArtifactError(f"no {kind} artifact at {directory} (no such {what})", hint=f"create it with {made_by}")
    mpath = directory / MANIFEST
    if not mpath.exists():
        raise ArtifactError(f"{directory} has no {MANIFEST}: it is not a complete dualgnn artifact",
                            hint="rebuild it (an interrupted run leaves no manifest)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{mpath} is not valid JSON: {exc}", hint="rebuild the artifact") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{mpath} holds a JSON {type(manifest).__name__}, not a dualgnn manifest",
                            hint="rebuild the artifact")
    if manifest.get("kind", "graph") != kind:
        raise ArtifactError(f"{directory} holds a {manifest.get('kind')!r} artifact, not a {kind!r} one")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{directory} has format version {version}, this dualgnn reads version {FORMAT_VERSION}",
                            hint="rebuild it with this version of dualgnn")
    return manifest


def write_graph(directory: Path, graph: ProductGraph) -> None:
    """Write products.parquet and graph.npz into ``directory`` (normally the temporary dir of :func:`atomic_dir`)."""
    graph.products.to_parquet(directory / "products.parquet", index=False)
    write_npz(directory / "graph.npz",
              copurchase_src=graph.copurchase.src, copurchase_dst=graph.copurchase.dst,
              copurchase_weight=graph.copurchase.weight,
              coview_src=graph.coview.src, coview_dst=graph.coview.dst, coview_weight=graph.coview.weight)


def load_graph(directory: str | Path) -> ProductGraph:
    """Load the graph of an artifact directory (checks the manifest first)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        products = pd.read_parquet(directory / "products.parquet")
    except Exception as exc:  # noqa: BLE001
        raise ArtifactError(f"cannot read {directory / 'products.parquet'}: {exc}", hint="rebuild the artifact") from exc
    z = read_npz(directory / "graph.npz")
    try:
        graph = ProductGraph(
            ids=IdMap(products["product_id"].to_numpy()),
            products=products,
            copurchase=Edges(z["copurchase_src"], z["copurchase_dst"], z["copurchase_weight"]),
            coview=Edges(z["coview_src"], z["coview_dst"], z["coview_weight"]),
        )
    except KeyError as exc:
        raise ArtifactError(f"{directory}: products.parquet or graph.npz lacks {exc}", hint="rebuild the artifact") from exc
    problem = _edges_problem(graph)
    if problem:
        raise ArtifactError(f"{directory / 'graph.npz'} is damaged: {problem}", hint="rebuild the artifact")
    counts = manifest.get("counts", {})
    if counts.get("products") not in (None, graph.num_products):
        raise ArtifactError(f"{directory}: manifest says {counts['products']} products, files hold {graph.num_products}",
                            hint="rebuild the artifact")
    return graph


def read_vectors(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The served ``(source, target)`` float arrays of a model directory, checked: 2-D, same shape, finite."""
    path = Path(directory) / "embeddings.npz"
    emb = read_npz(path)
    source, target = emb.get("source"), emb.get("target")
    if source is None or target is None:
        raise ArtifactError(f"{path} lacks the source or target array", hint="retrain: dualgnn train ARTIFACTS")
    if source.ndim != 2 or source.shape != target.shape or source.dtype.kind != "f" or target.dtype.kind != "f":
        raise ArtifactError(f"{path}: source {source.dtype} {source.shape} and target {target.dtype} "
                            f"{target.shape} are not two float tables of the same shape",
                            hint="retrain: dualgnn train ARTIFACTS")
    if not (np.isfinite(source).all() and np.isfinite(target).all()):
        raise ArtifactError(f"{path} holds NaN or infinite vectors", hint="retrain: dualgnn train ARTIFACTS")
    return source, target


def _edges_problem(graph: ProductGraph) -> str | None:
    """What is wrong with the loaded edge arrays (lengths, dtypes, ids out of range, weights), or None."""
    n = graph.num_products
    for name in ("copurchase", "coview"):
        e: Edges = getattr(graph, name)
        if not (e.src.ndim == e.dst.ndim == e.weight.ndim == 1 and len(e.src) == len(e.dst) == len(e.weight)):
            return f"the {name} arrays differ in length"
        if e.src.dtype.kind not in "iu" or e.dst.dtype.kind not in "iu" or e.weight.dtype.kind != "f":
            return f"the {name} arrays have the wrong types"
        if len(e.src) and (min(e.src.min(), e.dst.min()) < 0 or max(e.src.max(), e.dst.max()) >= n):
            return f"a {name} edge names a product index outside 0..{n - 1}"
        if not np.isfinite(e.weight).all():
            return f"a {name} weight is NaN or infinite"
    return None


def graph_fingerprint(graph: ProductGraph) -> str:
    """A short hash of the id map: models and splits record it so a model is never used with another graph."""
    h = hashlib.sha256()
    for pid in graph.ids.ids:
        h.update(str(pid).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]
