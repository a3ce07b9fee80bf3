"""What every reader returns: products and the two edge tables, still keyed by the shop's own product ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dualgnn.errors import SkipReport

#: Metadata columns a products table may carry besides ``product_id``; all optional.
METADATA_COLUMNS = ("title", "description", "category", "brand", "price")
EDGE_COLUMNS = ("src", "dst", "weight")


@dataclass
class RawData:
    """Products and edges as read, before ids are mapped.

    * ``products``: one row per product, column ``product_id`` (str, unique) plus any of ``METADATA_COLUMNS``
      (``category`` is a path joined by " > "; ``price`` float with NaN for missing; text columns str, "" missing).
    * ``copurchase``: columns ``src``, ``dst`` (str product ids), ``weight`` (float32 > 0). Direction src -> dst
      means "bought dst with or after src". Duplicates and self-loops may be present: the graph builder merges them.
    * ``coview``: same columns; symmetric relation, each pair may appear once or in both directions.
    * Edge tables also carry ``line`` (1-based) and, from readers of several files, ``path``: where each edge
      comes from, for the graph builder's warnings.
    * ``skipped``: what the reader skipped or repaired, with counts and the first location of each reason.
    * ``inputs``: the files read, for the manifest's checksums.
    """

    products: pd.DataFrame
    copurchase: pd.DataFrame
    coview: pd.DataFrame
    skipped: SkipReport = field(default_factory=SkipReport)
    inputs: list[Path] = field(default_factory=list)


def empty_edges() -> pd.DataFrame:
    return pd.DataFrame({"src": pd.Series([], dtype=object), "dst": pd.Series([], dtype=object),
                         "weight": pd.Series([], dtype=np.float32)})


def normalise_products(products: pd.DataFrame) -> pd.DataFrame:
    """Give a products table the canonical dtypes: str ids, str text ("" missing), float price (NaN missing)."""
    out = pd.DataFrame({"product_id": products["product_id"].astype(str)})
    for col in METADATA_COLUMNS:
        if col not in products.columns:
            continue
        if col == "price":
            out[col] = pd.to_numeric(products[col], errors="coerce").astype(np.float64)
        else:
            values = products[col]
            out[col] = values.astype(object).where(values.notna(), "").astype(str)
    return out.reset_index(drop=True)


_FILE_BITS = 40  # lines below 2**40 per file


def place(lines: np.ndarray | int, file_index: int) -> np.ndarray | int:
    """``lines`` of file ``file_index`` as one int64 "place" each, ordered by file, then line (see :func:`unplace`).

    Readers of several files aggregate edges by place, so "the first line" of an edge stays one file's line.
    """
    return lines + (file_index << _FILE_BITS)


def unplace(edges: pd.DataFrame, paths: list) -> pd.DataFrame:
    """``edges`` whose ``line`` holds places -> ``line`` (1-based, within its file) plus ``path`` (the file)."""
    places = edges["line"].to_numpy(np.int64)
    files = np.asarray([str(p) for p in paths], dtype=object)
    return edges.assign(line=places & ((1 << _FILE_BITS) - 1), path=files[places >> _FILE_BITS])
