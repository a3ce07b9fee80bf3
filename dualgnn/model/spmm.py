"""Edge-weighted neighbour sums on a whole graph through torch CSR sparse-dense products.

Why: DGL 2.1's ``update_all(fn.u_mul_e(...), fn.sum(...))`` on CPU is the slow path of its sparse kernels, several
times slower each way than a torch CSR product (README "Performance" has the measured figures). The weighted
aggregation runs 4-6 such products per layer and step, so this is most of a full-graph training step.

For each edge type ``e`` (edges src -> dst with per-edge ``norm``) we keep ``A_e`` (n_dst, n_src) and its
transpose as CSR tensors: forward ``A_e @ x``, backward ``A_e^T @ grad`` (a custom autograd function, because
autograd through a CSR product would rebuild the transpose every step). They are built once per whole graph and
travel with it explicitly: a :class:`WholeGraph` is the DGL graph plus its matrices. Sampled blocks are plain DGL
blocks, without matrices, and use DGL's kernels.

>>> import torch
>>> from dualgnn._dgl_compat import dgl
>>> g = dgl.heterograph({("p", "e", "p"): (torch.tensor([0, 1]), torch.tensor([1, 1]))})
>>> g.edges["e"].data["norm"] = torch.tensor([[2.0], [3.0]])
>>> weighted_sum(WholeGraph.of(g), "e", torch.tensor([[1.0], [10.0]])).ravel().tolist()   # node 1: 2*1 + 3*10
[0.0, 32.0]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

def _csr(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, shape: tuple) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the two products used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(indptr, indices, values, size=shape,
                                       check_invariants=False)  # from scipy or a row slice: sorted, in range


def _to_torch(m: sp.csr_matrix) -> torch.Tensor:
    return _csr(torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64)),
                torch.from_numpy(m.data.astype(np.float32)), m.shape)


@dataclass(frozen=True, eq=False)
class WholeGraph:
    """A whole message-passing graph: the DGL heterograph ``dgl`` (edge types, ``weight`` and ``norm`` edata; DGL's
    kernels and samplers read it) and ``csr``, each relation's ``(A_e, A_e^T)`` pair for the weighted aggregation.

    Everything else of DGL's graph API (``num_edges``, ``edges``, ``in_degrees``, ``local_scope``, ...) is read from
    ``dgl``; DGL's free functions take ``.dgl``. A per-step variant (edges hidden from a training step) is a new
    object with other matrices (:meth:`with_relations`), never a change to this one.
    """

    dgl: object
    csr: Mapping[str, tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def of(cls, g) -> "WholeGraph":
        """``g`` (a DGL graph with edata ``norm`` (m, 1) on every edge type) and its matrices.

        Matrices are shared where the graph repeats itself, which is most of the memory at 1M products: a relation
        that is another's reverse (``copurchased_by`` of ``copurchase``) reuses its pair swapped, and a symmetric
        one (co-view, stored in both directions with symmetric norms) is its own transpose.
        """
        built: list[tuple[sp.csr_matrix, tuple]] = []
        mats = {}
        n = g.num_nodes()
        for etype in g.canonical_etypes:
            src, dst = (x.numpy() for x in g.edges(etype=etype))
            norm = g.edges[etype].data["norm"].reshape(-1).numpy()
            a = sp.csr_matrix((norm, (dst, src)), shape=(n, n))  # duplicates summed, as DGL's sum would
            a.sort_indices()
            mats[etype[1]] = _shared(a, built)
        return cls(g, mats)

    def with_relations(self, overrides: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> "WholeGraph":
        """The same graph whose matrices for the etypes in ``overrides`` are the given ``(A, A^T)`` pairs."""
        return WholeGraph(self.dgl, {**self.csr, **overrides})

    def num_dst_nodes(self) -> int:
        return self.dgl.num_nodes()

    def __getattr__(self, name: str):
        return getattr(self.dgl, name)


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return a.nnz == b.nnz and abs(a - b).max() <= 1e-6 * max(abs(a).max(), 1e-30)


def _shared(a: sp.csr_matrix, built: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, A^T) as torch CSR, reusing an already built pair when ``a`` equals its transpose (swapped)."""
    for prev_t, pair in built:
        if _same(a, prev_t):
            return pair[1], pair[0]
    at = a.T.tocsr()
    at.sort_indices()
    if _same(a, at):
        dense = _to_torch(a)
        pair = (dense, dense)
    else:
        pair = (_to_torch(a), _to_torch(at))
    built.append((at, pair))
    return pair


def csr_from_parts(like: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A CSR tensor with the structure of ``like`` and new ``values`` (one per stored entry, same order)."""
    return _csr(like.crow_indices(), like.col_indices(), values, tuple(like.shape))


def has_csr(g, etype: str) -> bool:
    """True when ``g`` is a :class:`WholeGraph` with matrices for ``etype`` (not a sampled block)."""
    return isinstance(g, WholeGraph) and etype in g.csr


def dgl_graph(g):
    """The DGL graph or block itself (a :class:`WholeGraph`'s ``dgl``), for DGL's functions and kernels."""
    return g.dgl if isinstance(g, WholeGraph) else g


ROWS_PER_BLOCK = 65_536  # a (65,536 x 64) float32 block is 16.8 MB: below glibc's mmap ceiling, served from the heap


def row_block(a: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Rows ``start:stop`` of a CSR matrix as a CSR matrix (views of its index and value arrays)."""
    crow = a.crow_indices()
    lo, hi = int(crow[start]), int(crow[stop])
    return _csr(crow[start:stop + 1] - lo, a.col_indices()[lo:hi], a.values()[lo:hi], (stop - start, a.shape[1]))


def product_into(out: torch.Tensor, a: torch.Tensor, x: torch.Tensor, accumulate: bool = False) -> torch.Tensor:
    """``out = a @ x`` (or ``out += a @ x``) for a CSR ``a``, a row block at a time. torch's CSR product makes a
    temporary as large as its result besides the result itself (measured: two 256 MB mappings, 125k page faults,
    per product at 1M x 64); per block the temporary is 16.8 MB and reused from the heap."""
    rows = a.shape[0]
    for start in range(0, rows, ROWS_PER_BLOCK):
        stop = min(start + ROWS_PER_BLOCK, rows)
        if accumulate:
            out[start:stop].addmm_(row_block(a, start, stop), x)
        else:
            torch.mm(row_block(a, start, stop), x, out=out[start:stop])
    return out


def _product(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return product_into(torch.empty(a.shape[0], x.shape[1], dtype=x.dtype), a, x)


class _WeightedSum(torch.autograd.Function):
    """``A @ x``, optionally followed by an in-place ReLU (one (n, h) buffer instead of two, and the backward's
    mask reads the saved output, as ``relu``'s does)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, at: torch.Tensor, x: torch.Tensor, relu: bool) -> torch.Tensor:
        out = _product(a, x)
        ctx.at, ctx.relu = at, relu
        if relu:
            out.relu_()
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if ctx.relu:
            (out,) = ctx.saved_tensors
            grad = torch.ops.aten.threshold_backward(grad, out, 0.0)  # relu's own backward kernel
        return None, None, _product(ctx.at, grad.contiguous()), None


def weighted_sum_rows(g, etype: str, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Rows ``start:stop`` of :func:`weighted_sum` (no autograd): a product with a row slice of ``A_e``."""
    return torch.sparse.mm(row_block(g.csr[etype][0], start, stop), x)


def weighted_sum(g, etype: str, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """(n, h): row v = sum over ``etype`` edges u -> v of norm_uv * x[u] (then ReLU if ``relu``)."""
    a, at = g.csr[etype]
    return _WeightedSum.apply(a, at, x.contiguous(), relu)
