"""The product graph: directed ``copurchase`` edges and symmetric ``coview`` edges over one node type.

Built from :class:`~dualgnn.sources.RawData` by :func:`build_graph`, which maps ids (through :class:`IdMap`),
drops self-loops, merges duplicates (weights add up; a sum past the float32 range is capped) and counts what
it drops or caps, such as edges whose ends are not in the catalog.
Direction is never symmetrised for co-purchase: ``src -> dst`` means "after ``src``, customers bought ``dst``".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dualgnn.errors import InputError, SkipReport
from dualgnn.ids import IdMap
from dualgnn.sources.base import RawData, normalise_products

#: Edge types of the DGL heterograph. ``copurchased_by`` is ``copurchase`` reversed: message passing over it
#: gives each product its co-purchase *in*-neighbours (the products it is recommended after).
COPURCHASE = ("product", "copurchase", "product")
COPURCHASED_BY = ("product", "copurchased_by", "product")
COVIEW = ("product", "coview", "product")
_F32_MAX = float(np.finfo(np.float32).max)  # merged weights are capped here (and counted) to stay finite


@dataclass(frozen=True)
class Edges:
    """Edges in internal ids: ``src``, ``dst`` int64 and ``weight`` float32, all shape ``(m,)``."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.src)

    @classmethod
    def empty(cls) -> "Edges":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def subset(self, mask_or_index: np.ndarray) -> "Edges":
        return Edges(self.src[mask_or_index], self.dst[mask_or_index], self.weight[mask_or_index])

    def keys(self, num_nodes: int) -> np.ndarray:
        """One int64 key per edge, ``src * num_nodes + dst``: for set operations on edges."""
        return self.src * np.int64(num_nodes) + self.dst


@dataclass
class ProductGraph:
    """Products (row ``i`` = node ``i``) and their edges. ``coview`` holds both directions of every pair."""

    ids: IdMap
    products: pd.DataFrame
    copurchase: Edges
    coview: Edges

    @property
    def num_products(self) -> int:
        return len(self.ids)

    def one_way_share(self) -> float:
        """Share of co-purchase edges u->v whose reverse v->u is absent."""
        return float(one_way_mask(self.copurchase, self.num_products).mean()) if len(self.copurchase) else 0.0

    def to_dgl(self, copurchase: Edges | None = None, coview: Edges | None = None):
        """A DGL heterograph with edge types ``copurchase``, ``copurchased_by`` and ``coview``, edata ``weight``.

        Pass ``copurchase`` / ``coview`` to build the graph from a subset (e.g. training edges only, so held-out
        edges never feed message passing).
        """
        import torch

        from dualgnn._dgl_compat import dgl

        cp = self.copurchase if copurchase is None else copurchase
        cv = self.coview if coview is None else coview
        g = dgl.heterograph(
            {
                COPURCHASE: (torch.from_numpy(cp.src), torch.from_numpy(cp.dst)),
                COPURCHASED_BY: (torch.from_numpy(cp.dst), torch.from_numpy(cp.src)),
                COVIEW: (torch.from_numpy(cv.src), torch.from_numpy(cv.dst)),
            },
            num_nodes_dict={"product": self.num_products},
            idtype=torch.int64,
        )
        g.edges[COPURCHASE].data["weight"] = torch.from_numpy(cp.weight)
        g.edges[COPURCHASED_BY].data["weight"] = torch.from_numpy(cp.weight)
        g.edges[COVIEW].data["weight"] = torch.from_numpy(cv.weight)
        return g


def one_way_mask(edges: Edges, num_nodes: int) -> np.ndarray:
    """Boolean mask over ``edges``: True where the reverse edge is not in ``edges``."""
    keys = edges.keys(num_nodes)
    reverse = edges.dst * np.int64(num_nodes) + edges.src
    return ~np.isin(reverse, keys)


def _map_edges(table: pd.DataFrame, ids: IdMap, kind: str, skipped: SkipReport, path: str | None) -> Edges:
    """External-id edge table -> merged internal Edges; out-of-catalog ends, self-loops, weights that are not
    positive numbers and merged weights past the float32 range are counted."""
    if len(table) == 0:
        return Edges.empty()
    src = ids.lookup(table["src"].to_numpy())
    dst = ids.lookup(table["dst"].to_numpy())
    weight = table["weight"].to_numpy(dtype=np.float32) if "weight" in table else np.ones(len(table), np.float32)

    def count(mask: np.ndarray, reason: str, example=None, n: int | None = None) -> None:
        """Count ``n`` (default: the rows where ``mask``) under ``reason``, located at the first such row: its
        line and its file (the table's ``path`` column, when it has one, names the file of each row)."""
        if not mask.any():
            return
        first = int(np.flatnonzero(mask)[0])
        where = str(table["path"].iloc[first]) if "path" in table else path
        line = int(table["line"].iloc[first]) if "line" in table else None
        skipped.add(reason, where, line, int(mask.sum()) if n is None else n,
                    example=example(first) if example else None)

    unknown = (src < 0) | (dst < 0)
    count(unknown, f"{kind} edges with an end not in the catalog",
          lambda i: repr(str(table["src"].iloc[i] if src[i] < 0 else table["dst"].iloc[i])))
    self_loop = (~unknown) & (src == dst)
    count(self_loop, f"{kind} self-loops", lambda i: repr(str(table["src"].iloc[i])))
    bad_weight = (~unknown) & (~self_loop) & ~(np.isfinite(weight) & (weight > 0))
    count(bad_weight, f"{kind} edges with a weight that is not a positive number")
    keep = np.flatnonzero(~(unknown | self_loop | bad_weight))
    keys, inverse, summed = _add_duplicates(src[keep], dst[keep], weight[keep], len(ids))
    # Checked after adding: duplicates of a large weight can sum past float32 (inf, then NaN norms in training).
    too_big = summed > _F32_MAX
    rows = np.zeros(len(table), bool)
    rows[keep] = too_big[inverse]
    count(rows, f"{kind} edges whose duplicates add up to more than {_F32_MAX:.1e} (capped)", n=int(too_big.sum()))
    return _edges_of(keys, np.minimum(summed, _F32_MAX), len(ids))



def _add_duplicates(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, num_nodes: int):
    """``(keys, inverse, weights)``: the distinct ``src * num_nodes + dst`` keys (sorted), each input row's
    position among them, and the float64 sum of each key's weights."""
    keys = src.astype(np.int64) * np.int64(num_nodes) + dst.astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse, np.bincount(inverse, weights=weight.astype(np.float64), minlength=len(uniq))


def _edges_of(keys: np.ndarray, weight: np.ndarray, num_nodes: int) -> Edges:
    return Edges((keys // num_nodes).astype(np.int64), (keys % num_nodes).astype(np.int64), weight.astype(np.float32))


def merge_edges(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, num_nodes: int) -> Edges:
    """Merge duplicate (src, dst) pairs by adding their weights; result sorted by (src, dst)."""
    if len(src) == 0:
        return Edges.empty()
    keys, _, summed = _add_duplicates(src, dst, weight, num_nodes)
    return _edges_of(keys, summed, num_nodes)


def symmetrise(edges: Edges, num_nodes: int) -> Edges:
    """Both directions of every pair; a pair listed both ways keeps the larger weight once per direction."""
    if len(edges) == 0:
        return edges
    lo = np.minimum(edges.src, edges.dst)
    hi = np.maximum(edges.src, edges.dst)
    keys = lo * np.int64(num_nodes) + hi
    order = np.lexsort((-edges.weight, keys))
    keys, w = keys[order], edges.weight[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, w = keys[first], w[first]
    a, b = keys // num_nodes, keys % num_nodes
    return merge_edges(np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w]), num_nodes)


def build_graph(raw: RawData, *, edge_paths: dict[str, str] | None = None) -> tuple[ProductGraph, SkipReport]:
    """Map ids and clean edges. Returns the graph and what was skipped (the reader's skips plus the builder's).

    ``edge_paths`` names the file each edge table came from (``{"copurchase": "...", "coview": "..."}``) so the
    report can point at it.
    """
    skipped = SkipReport()
    skipped.merge(raw.skipped)
    products = normalise_products(raw.products)
    if len(products) == 0:
        raise InputError("the catalog has no products", hint="check the products file or the metadata file")
    ids = IdMap(products["product_id"].to_numpy())
    paths = edge_paths or {}
    copurchase = _map_edges(raw.copurchase, ids, "copurchase", skipped, paths.get("copurchase"))
    coview_directed = _map_edges(raw.coview, ids, "coview", skipped, paths.get("coview"))
    coview = symmetrise(coview_directed, len(ids))
    return ProductGraph(ids=ids, products=products, copurchase=copurchase, coview=coview), skipped
