"""Find products by the words of their title (how a user gets the ids `recommend --product` takes).

>>> find_products(Path("music/products.parquet"), "dark hell", 5)   # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from dualgnn.errors import ArtifactError

COLUMNS = ("product_id", "title", "brand", "category")


def find_products(products_path: Path, text: str, limit: int = 20) -> pd.DataFrame:
    """Products whose title holds every word of ``text`` (case-insensitive), in catalog order, at most ``limit``."""
    words = [w for w in re.split(r"\s+", text.strip().casefold()) if w]
    try:
        available = _columns(products_path)
        products = pd.read_parquet(products_path, columns=[c for c in COLUMNS if c in available])
    except Exception as exc:  # noqa: BLE001 - a damaged artifact
        raise ArtifactError(f"cannot read {products_path}: {exc}", hint="rebuild the artifact") from exc
    if "title" not in products or not words:
        return products.iloc[:0]
    titles = products["title"].fillna("").astype(str).str.casefold()
    hit = pd.Series(True, index=products.index)
    for word in words:
        hit &= titles.str.contains(word, regex=False)
    return products[hit].head(limit).fillna("")


def _columns(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    return set(pq.read_schema(path).names)
