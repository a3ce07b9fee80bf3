"""The held-out pairs of each protocol (EQ1, EQ3, EQ3-balanced, EQ4, EQ4-to-cold, EQ5) on one split; see
:mod:`dualgnn.evaluation.run` for what each measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from dualgnn.graph import Edges, ProductGraph
from dualgnn.scoring import adjacency
from dualgnn.split import Split


@dataclass
class Task:
    """One protocol's held-out pairs on one split. ``kind`` is ``rank`` (HR/MRR) or ``direction`` (EQ3)."""

    protocol: str
    kind: str
    src: np.ndarray
    dst: np.ndarray
    total: int  # pairs before sampling


def make_tasks(graph: ProductGraph, split: Split, protocols: Sequence[str], max_queries: int | None,
               seed: int) -> list[Task]:
    """Held-out pairs per protocol (see the module docstring), sampled to ``max_queries`` with ``seed``."""
    n = graph.num_products
    test = split.test_copurchase
    pairs: dict[str, tuple[str, Edges]] = {}
    for p in protocols:
        if p == "EQ1":
            pairs[p] = ("rank", test)
        elif p == "EQ3":
            pairs[p] = ("direction", one_way(test, graph))
        elif p == "EQ3-balanced":
            pairs[p] = ("direction", popularity_balanced(one_way(test, graph), split.train_copurchase, n))
        elif p == "EQ5":
            pairs[p] = ("rank", transitive_extension(test, split.train_copurchase, split.train_coview, n))
        elif p == "EQ4":
            cold = np.zeros(n, bool)
            cold[split.cold] = True
            pairs["EQ4"] = ("rank", test.subset(cold[test.src] & ~cold[test.dst]))
            pairs["EQ4-to-cold"] = ("rank", test.subset(~cold[test.src] & cold[test.dst]))
    tasks = []
    for i, (name, (kind, e)) in enumerate(pairs.items()):
        idx = np.arange(len(e))
        if max_queries is not None and len(e) > max_queries:
            idx = np.sort(np.random.default_rng([seed, i]).choice(len(e), max_queries, replace=False))
        tasks.append(Task(name, kind, e.src[idx], e.dst[idx], len(e)))
    return tasks


def one_way(test: Edges, graph: ProductGraph) -> Edges:
    """Held-out edges whose reverse is absent from the *whole* graph (a reverse edge in training would leak)."""
    n = graph.num_products
    return test.subset(~np.isin(test.dst * np.int64(n) + test.src, graph.copurchase.keys(n)))


def popularity_balanced(pairs: Edges, train: Edges, n: int) -> Edges:
    """The pairs ``u -> v`` whose target is not more popular than the source: training co-purchase in-degree
    ``indeg[v] <= indeg[u]`` (EQ3-balanced).

    >>> e = lambda s, d: Edges(np.array(s), np.array(d), np.ones(len(s), np.float32))
    >>> b = popularity_balanced(e([0, 1, 2], [1, 0, 3]), e([3, 3, 0, 1, 1], [1, 0, 1, 0, 3]), 4)
    >>> list(zip(b.src.tolist(), b.dst.tolist()))   # indeg 0:2, 1:2, 3:1 (2 has none)
    [(0, 1), (1, 0)]
    """
    indeg = np.bincount(train.dst, minlength=n)
    return pairs.subset(indeg[pairs.dst] <= indeg[pairs.src])


def transitive_extension(test: Edges, train: Edges, coview: Edges, n: int) -> Edges:
    """``test`` plus every ``a -> c`` with ``a -> b`` in ``test`` and ``b ~ c`` in ``coview`` (EQ5), minus self
    pairs and training edges, de-duplicated. Weights are 1.

    >>> e = lambda s, d: Edges(np.array(s), np.array(d), np.ones(len(s), np.float32))
    >>> x = transitive_extension(e([0], [1]), e([0], [3]), e([1, 2, 1, 3, 1, 0], [2, 1, 3, 1, 0, 1]), 4)
    >>> sorted(zip(x.src.tolist(), x.dst.tolist()))
    [(0, 1), (0, 2)]
    """
    t = adjacency(test.src, test.dst, n)
    c = adjacency(coview.src, coview.dst, n)
    ext = (t + t @ c).tocoo()
    src, dst = ext.row.astype(np.int64), ext.col.astype(np.int64)
    keep = (src != dst) & ~np.isin(src * np.int64(n) + dst, train.keys(n))
    keys = np.unique(src[keep] * np.int64(n) + dst[keep])
    return Edges(keys // n, keys % n, np.ones(len(keys), np.float32))


def popularity_percentile(train: Edges, n: int) -> np.ndarray:
    """Mid-rank percentile of each product's training in-degree, shape ``(n,)``, mean 0.5 over the catalog."""
    indeg = np.bincount(train.dst, minlength=n)
    return (rankdata(indeg, method="average") - 0.5) / n
