"""What a model directory keeps of the catalog its vectors were computed on, so it can be refreshed alone.

Files (written inside the model directory's atomic swap, beside the weights)::

    ids.parquet      product_id: row i of embeddings.npz and of the per-product weight tables is this product
    edges.npz        copurchase_src/dst and coview_src/dst (each pair once, src < dst) as int32 row numbers: the
                     graph the served vectors propagated over (what `dualgnn refresh` compares a new graph with)
    features.json/.npz  the features' reference (no rows): vocabularies, price statistics, text encoder, so
                     products of a changed catalog are encoded exactly as the model learnt them

>>> record = read_catalog(Path("model"))   # doctest: +SKIP
>>> edge_changes(new_graph, record)["copurchase_added"]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.artifacts import read_npz, write_npz
from dualgnn.errors import ArtifactError
from dualgnn.graph import Edges, ProductGraph


@dataclass
class CatalogRecord:
    """A model's catalog: ``ids`` (n,) object; the served edges as row numbers into ``ids`` (co-view pairs once,
    src < dst); the features reference (no rows)."""

    ids: np.ndarray
    copurchase: tuple[np.ndarray, np.ndarray]
    coview: tuple[np.ndarray, np.ndarray]
    reference: object  # dualgnn.features.store.Features without rows


def write_catalog(directory: Path, graph: ProductGraph, features, served: Edges | None = None) -> None:
    """Write ids.parquet, edges.npz and the features reference of ``graph`` into ``directory``.

    ``served``: the co-purchase edges the vectors propagated over (default: all of ``graph``'s).
    """
    pd.DataFrame({"product_id": graph.ids.ids}).to_parquet(directory / "ids.parquet", index=False)
    cp = graph.copurchase if served is None else served
    one_way = graph.coview.src < graph.coview.dst
    write_npz(directory / "edges.npz", copurchase_src=cp.src.astype(np.int32), copurchase_dst=cp.dst.astype(np.int32),
              coview_src=graph.coview.src[one_way].astype(np.int32),
              coview_dst=graph.coview.dst[one_way].astype(np.int32))
    features.reference().save(directory)


def read_catalog(directory: str | Path) -> CatalogRecord:
    """The record :func:`write_catalog` wrote; :class:`ArtifactError` when the model predates it or it is damaged."""
    from dualgnn.features.store import Features

    directory = Path(directory)
    if not (directory / "ids.parquet").exists():
        raise ArtifactError(f"{directory} keeps no record of its catalog (ids.parquet): it was trained by an older "
                            "dualgnn", hint="retrain it once with `dualgnn train`; later refreshes need no training")
    try:
        ids = pd.read_parquet(directory / "ids.parquet")["product_id"].astype(str).to_numpy(dtype=object)
    except Exception as exc:  # noqa: BLE001 - damaged file
        raise ArtifactError(f"cannot read {directory / 'ids.parquet'}: {exc}", hint="retrain the model") from exc
    z = read_npz(directory / "edges.npz")
    try:
        copurchase = (z["copurchase_src"].astype(np.int64), z["copurchase_dst"].astype(np.int64))
        coview = (z["coview_src"].astype(np.int64), z["coview_dst"].astype(np.int64))
    except KeyError as exc:
        raise ArtifactError(f"{directory / 'edges.npz'} lacks {exc}", hint="retrain the model") from exc
    if any(len(a) and (a.min() < 0 or a.max() >= len(ids)) for a in (*copurchase, *coview)):
        raise ArtifactError(f"{directory / 'edges.npz'} names rows outside ids.parquet", hint="retrain the model")
    return CatalogRecord(ids, copurchase, coview, Features.load(directory))


def edge_changes(graph: ProductGraph, record: CatalogRecord) -> dict[str, int]:
    """Products and edges added / removed between ``record`` (the model's catalog) and ``graph`` (the new one)."""
    new_ids = graph.ids
    old_in_new = new_ids.lookup(record.ids)  # -1: removed since
    gone = old_in_new < 0
    # One id space for both: the new graph's rows, then the removed products after them.
    old_rows = old_in_new.copy()
    old_rows[gone] = len(new_ids) + np.arange(int(gone.sum()))
    size = np.int64(len(new_ids) + int(gone.sum()))
    one_way = graph.coview.src < graph.coview.dst
    new_keys = {"copurchase": graph.copurchase.src * size + graph.copurchase.dst,
                "coview": graph.coview.src[one_way] * size + graph.coview.dst[one_way]}
    changes = {"products_added": int(len(new_ids) - (~gone).sum()), "products_removed": int(gone.sum())}
    for name, (src, dst) in (("copurchase", record.copurchase), ("coview", record.coview)):
        a, b = old_rows[src], old_rows[dst]
        if name == "coview":  # the pair once, smaller row first, as in the new graph
            a, b = np.minimum(a, b), np.maximum(a, b)
        old_keys = a * size + b
        changes[f"{name}_added"] = int((~np.isin(new_keys[name], old_keys)).sum())
        changes[f"{name}_removed"] = int((~np.isin(old_keys, new_keys[name])).sum())
    return changes
