"""Why was ``v`` recommended after ``q``? The strongest supporting path of at most two hops in the graph.

Edge weights are row-normalised per edge type, ``P[u, v] = w(u, v) / sum_x w(u, x)``: the share of ``u``'s
co-purchases (or co-views) that went to ``v``. A path's strength is the product of its normalised weights, so a
direct edge (one factor <= 1) outranks a two-hop path through the same evidence, and a two-hop path through a
hub (whose weight is spread thin) counts little. Candidate paths::

    q -copurchase-> v                  "customers who bought Q also bought this (12% of Q's co-purchases)"
    q -coview- v                       "viewed together with Q (8% of Q's co-views)"
    q -copurchase-> w -copurchase-> v  "customers who bought Q also bought W (30% of Q's co-purchases), and 12% of
                                        W's co-purchases are this"
    q -copurchase-> w -coview- v       "... also bought W (30% ...), which is viewed with this (20% of W's co-views)"
    q -coview- w -copurchase-> v       "viewed together with Q: W (40% of Q's co-views), and 12% of W's co-purchases
                                        are this"
    q -coview- w -coview- v            "viewed together with Q: W (40% ...), which is viewed with this (20% ...)"

The percentages are the normalised weights themselves, so a reader sees how strong each step is; co-purchase
weights are the reader's strengths (Amazon list positions, event counts, a table's ``weight`` column).

With no path, the reason is ``metadata`` (same category / brand / shared title words): the model's vectors
come from product text too, which is all a cold-start product has.

Everything is vectorised over (query, recommendation) pairs with sparse row products (scipy, in C), never a python
walk over the graph. Example::

    >>> ex = Explainer(graph)                                   # doctest: +SKIP
    >>> ex.explain(np.array([q]), np.array([v])).kind.tolist()  # doctest: +SKIP
    ['copurchase>coview']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dualgnn.graph import ProductGraph
from dualgnn.serving.tables import titles_of

DIRECT = {"copurchase": "customers who bought {q} also bought this ({a} of {q}'s co-purchases)",
          "coview": "viewed together with {q} ({a} of {q}'s co-views)"}
FIRST = {"copurchase": "customers who bought {q} also bought {w} ({a} of {q}'s co-purchases)",
         "coview": "viewed together with {q}: {w} ({a} of {q}'s co-views)"}
SECOND = {"copurchase": "and {b} of {w}'s co-purchases are this", "coview": "which is viewed with this ({b} of {w}'s co-views)"}
TWO_HOP = {(a, b): FIRST[a] + ", " + SECOND[b] for a in FIRST for b in SECOND}


def _share(x: float) -> str:
    """A normalised weight as a percentage a person reads at a glance ("<1%" rather than "0%")."""
    return f"{x:.0%}" if x >= 0.005 else "<1%"


@dataclass
class Explanations:
    """Per (query, recommendation) pair, shape ``(p,)``: path ``kind`` ("copurchase", "coview",
    "copurchase>coview", ... or "metadata"), intermediate product ``via`` (-1 if none) and ``strength``."""

    kind: np.ndarray
    via: np.ndarray
    strength: np.ndarray


def _row_normalised(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> sp.csr_matrix:
    m = sp.csr_matrix((weight.astype(np.float64), (src, dst)), shape=(n, n))
    m.sum_duplicates()
    m.sort_indices()
    totals = np.asarray(m.sum(axis=1)).ravel()
    m.data /= np.repeat(np.where(totals > 0, totals, 1.0), np.diff(m.indptr))
    return m


class Explainer:
    """Supporting paths over ``graph`` (the graph the model was trained on; cold products have no edges)."""

    def __init__(self, graph: ProductGraph, chunk: int = 200_000) -> None:
        self.graph, self.n, self.chunk = graph, graph.num_products, chunk
        g = graph
        self.mats = {"copurchase": _row_normalised(self.n, g.copurchase.src, g.copurchase.dst, g.copurchase.weight),
                     "coview": _row_normalised(self.n, g.coview.src, g.coview.dst, g.coview.weight)}
        # Column v of a matrix = row v of its transpose: the in-neighbours w of v with weight P[w, v].
        self.mats_t = {name: m.T.tocsr() for name, m in self.mats.items()}

    def explain(self, queries: np.ndarray, recs: np.ndarray) -> Explanations:
        """Strongest path per pair ``(queries[i], recs[i])``, both ``(p,)`` internal ids (>= n: cold, no edges)."""
        q, v = np.asarray(queries, np.int64), np.asarray(recs, np.int64)
        kind = np.full(len(q), "metadata", dtype=object)
        via, best = np.full(len(q), -1, np.int64), np.zeros(len(q))
        for lo in range(0, len(q), self.chunk):
            sl = slice(lo, lo + self.chunk)
            self._explain_chunk(q[sl], v[sl], kind[sl], via[sl], best[sl])
        return Explanations(kind, via, best)

    def _explain_chunk(self, q, v, kind, via, best) -> None:
        ok = (q >= 0) & (q < self.n) & (v >= 0) & (v < self.n)
        qs, vs = np.where(ok, q, 0), np.where(ok, v, 0)
        for name in DIRECT:
            s = np.where(ok, np.asarray(self.mats[name][qs, vs]).ravel(), 0.0)
            better = s > best
            kind[better], via[better], best[better] = name, -1, s[better]
        for first, second in TWO_HOP:
            # Row p of the element-wise product holds P1[q_p, w] * P2[w, v_p] for every middle product w: the
            # strengths of all paths q_p -> w -> v_p at once (sparse rows, merged in C). No self-loops exist, so
            # w is never q or v.
            paths = self.mats[first][qs].multiply(self.mats_t[second][vs]).tocsr()
            top = np.where(ok, paths.max(axis=1).toarray().ravel(), 0.0)
            arg = np.asarray(paths.argmax(axis=1)).ravel()
            better = top > best
            kind[better], via[better], best[better] = f"{first}>{second}", arg[better], top[better]

    def describe(self, queries: np.ndarray, recs: np.ndarray, products: "pd.DataFrame | ProductText") -> list[str]:
        """One sentence per pair, naming products by title (``products`` row i = internal id i, cold ones too).

        Pass a :class:`ProductText` kept between calls when explaining a few pairs at a time (a server): pulling
        the columns out of a large catalog costs more than explaining ten pairs."""
        ex = self.explain(queries, recs)
        text = products if isinstance(products, ProductText) else ProductText(products)
        out = []
        for qi, vi, k, w, s in zip(queries, recs, ex.kind, ex.via, ex.strength):
            if k in DIRECT:
                out.append(DIRECT[k].format(q=text.names[qi][:60], a=_share(s)))
            elif k != "metadata":
                first, second = k.split(">")
                a = self.mats[first][int(qi), int(w)]
                out.append(TWO_HOP[first, second].format(q=text.names[qi][:60], w=text.names[w][:60], a=_share(a),
                                                         b=_share(s / a if a > 0 else 0.0)))
            else:
                out.append(text.reason(int(qi), int(vi)))
        return out


class ProductText:
    """Names (title, else id), categories, brands and titles of a catalog as arrays (row i = internal id i), and
    the "metadata: ..." reason for pairs with no graph path: shared category, brand or title words, else the vectors.

    Columns are pulled out once as arrays: a per-pair ``DataFrame.iloc`` would dominate ``--all --explain``.
    """

    def __init__(self, products: pd.DataFrame) -> None:
        def column(name: str) -> np.ndarray:
            if name not in products:
                return np.full(len(products), "", dtype=object)
            return products[name].fillna("").astype(str).to_numpy()

        self.names = titles_of(products)
        self.category, self.brand, self.title = column("category"), column("brand"), column("title")

    def extended(self, products: pd.DataFrame) -> "ProductText":
        """This catalog's text with ``products`` appended as rows ``n, n+1, ...`` (cold-start queries)."""
        more, out = ProductText(products), object.__new__(ProductText)
        for name in ("names", "category", "brand", "title"):
            setattr(out, name, np.concatenate([getattr(self, name), getattr(more, name)]))
        return out

    def reason(self, q: int, v: int) -> str:
        why = []
        for values, label in ((self.category, "same category"), (self.brand, "same brand")):
            if values[q] and values[q] == values[v]:
                why.append(f"{label} {values[q].split(' > ')[-1]!r}")
        words = sorted(w for w in set(self.title[q].lower().split()) & set(self.title[v].lower().split())
                       if len(w) > 2)
        if words:
            why.append("title words " + ", ".join(words[:3]))
        return "metadata: " + ("; ".join(why) if why else "similar product description (no graph path within 2 hops)")
