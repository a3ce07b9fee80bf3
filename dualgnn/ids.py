"""External product ids <-> internal node ids, in exactly one place.

Internal id ``i`` is row ``i`` of the products table and node ``i`` of the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dualgnn.errors import InputError, UnknownIdError

#: Lookups of at most this many ids (given as a list) go id by id through the pandas index's kept hash table.
SMALL_LOOKUP = 1000


class IdMap:
    """A bijection between the shop's product ids (str) and ``0..n-1``.

    >>> m = IdMap(["B01", "B02"]); m.encode(["B02"]).tolist(), m.decode([0]).tolist()
    ([1], ['B01'])
    """

    def __init__(self, ids: Sequence[str] | np.ndarray | pd.Index) -> None:
        index = pd.Index(np.asarray(ids, dtype=object).astype(str), dtype=object)
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise InputError(f"duplicate product id {dup!r} in the catalog",
                             hint="product ids must be unique; the readers keep the first occurrence")
        self._index = index
        self._arrow = pa.array(index.to_numpy(), type=pa.string())

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, product_id: str) -> bool:
        return str(product_id) in self._index

    @property
    def ids(self) -> np.ndarray:
        """External ids in internal order, shape ``(n,)``, dtype object (str)."""
        return self._index.to_numpy()

    def lookup(self, ids: Iterable[str]) -> np.ndarray:
        """Internal ids, ``-1`` where an id is unknown. Shape ``(len(ids),)`` int64.

        Hashing runs in Arrow, several times faster than pandas' ``get_indexer`` on object strings, and edge lists
        are tens of millions long (build-graph's row of ``python bench/run.py`` shows the whole stage). But
        Arrow hashes the whole catalog on every call, so a few ids (a server's query) are looked up one by one
        in the pandas index's hash table, which is built once and kept.
        """
        if isinstance(ids, (list, tuple)) and len(ids) <= SMALL_LOOKUP:
            return np.array([self._position(str(v)) for v in ids], dtype=np.int64)
        values = _as_arrow_strings(ids)
        found = pc.index_in(values, value_set=self._arrow)
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def _position(self, product_id: str) -> int:
        try:
            return self._index.get_loc(product_id)  # an int: the ids are unique
        except KeyError:
            return -1

    def encode(self, ids: Iterable[str], *, source: str | Path | None = None) -> np.ndarray:
        """Internal ids for ``ids``; raises :class:`UnknownIdError` naming the first unknown id (and its position)."""
        idx = self.lookup(ids)
        missing = np.flatnonzero(idx < 0)
        if len(missing):
            first = int(missing[0])
            value = _as_arrow_strings(ids)[first].as_py()
            raise UnknownIdError(
                f"unknown product id {value!r}" + (f" (and {len(missing) - 1:,} more)" if len(missing) > 1 else ""),
                path=source, line=first + 1 if source is not None else None,
                hint="check the id against the catalog used to build the graph (dualgnn info ARTIFACTS)")
        return idx

    def decode(self, idx: Iterable[int] | np.ndarray) -> np.ndarray:
        """External ids for internal ids, dtype object (str)."""
        return self._index.to_numpy()[np.asarray(idx, dtype=np.int64)]


def _as_arrow_strings(ids: Iterable[str]) -> pa.Array:
    """``ids`` as an Arrow string array; non-string ids (numbers) are converted with ``str`` first."""
    values = np.asarray(list(ids) if not isinstance(ids, (np.ndarray, pd.Series, pd.Index)) else ids, dtype=object)
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values.astype(str), type=pa.string())
