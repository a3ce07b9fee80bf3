"""Artifact directories, written atomically and loaded with a format-version check.

A graph artifact directory holds::

    manifest.json     format version, counts, input checksums, settings (written last: no manifest, no artifact)
    products.parquet  product_id (the id map: row i is internal id i) and metadata
    graph.npz         copurchase_{src,dst,weight}, coview_{src,dst,weight} (coview holds both directions)
    features.npz/.json  node input features (see dualgnn.features)
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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError as exc:
        raise ArtifactError(f"missing artifact file {path}") from exc
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
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it in when the block succeeds.

    An interrupted run leaves the old directory (or none) in place, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
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
        raise ArtifactError(f"no artifact directory at {directory}",
                            hint="create it with `dualgnn build-graph ... --out DIR`")
    mpath = directory / MANIFEST
    if not mpath.exists():
        raise ArtifactError(f"{directory} has no {MANIFEST}: it is not a complete dualgnn artifact",
                            hint="rebuild it (an interrupted run leaves no manifest)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{mpath} is not valid JSON: {exc}", hint="rebuild the artifact") from exc
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
    graph = ProductGraph(
        ids=IdMap(products["product_id"].to_numpy()),
        products=products,
        copurchase=Edges(z["copurchase_src"], z["copurchase_dst"], z["copurchase_weight"]),
        coview=Edges(z["coview_src"], z["coview_dst"], z["coview_weight"]),
    )
    counts = manifest.get("counts", {})
    if counts.get("products") not in (None, graph.num_products):
        raise ArtifactError(f"{directory}: manifest says {counts['products']} products, files hold {graph.num_products}",
                            hint="rebuild the artifact")
    return graph


def graph_fingerprint(graph: ProductGraph) -> str:
    """A short hash of the id map: models and splits record it so a model is never used with another graph."""
    h = hashlib.sha256()
    for pid in graph.ids.ids:
        h.update(str(pid).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]
