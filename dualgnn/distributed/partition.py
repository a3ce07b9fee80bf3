"""``dualgnn partition``: one graph artifact -> N parts for N trainer processes (:mod:`dualgnn.distributed.parts`).

DGL's ``partition_graph`` (METIS, or random) assigns every product to one part and gives each part a one-hop
halo: its own products' direct neighbours, with the edges into its own products. Propagating over a part and
exchanging the halo rows after every layer (:mod:`dualgnn.distributed.halo`) gives every own and halo product
exactly the whole graph's vectors, for any number of layers (tests/test_distributed.py checks it). Each part also
gets its exchange plan (``halo.npz``): which of its rows other parts hold as halo, which rows it receives.

What DGL stores only for a part's own nodes and edges, and the trainers need for the halo too, is written beside
its files in ``part.npz``: every local product's catalog id and features, and every local edge's normalisation
weight, computed here on the whole training graph (a halo product's degree counts edges the part does not hold).
Each training edge ``u -> v`` (and co-view pair) belongs to the part that owns ``u``, so every edge is a positive
of exactly one trainer, and its far end ``v`` is in the part's halo.

>>> run_partition(PartitionRequest(artifacts=Path("graph"), out=Path("parts"), parts=4))   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dualgnn.distributed.parts import FORMAT, KIND, RELATIONS
from dualgnn.errors import SettingsError
from dualgnn.graph import Edges, one_way_mask
from dualgnn.split import Split, SplitSettings, production_settings

METHODS = ("metis", "random")
GRAPH_NAME = "graph"  # DGL's name for the partitioned graph: its config is PARTS/graph.json


@dataclass(frozen=True, kw_only=True)
class PartitionRequest:
    """Everything ``dualgnn partition`` was asked: the artifact, the number of parts, how to cut (``balance_edges``:
    METIS balances the parts' edges, which a step's time follows, not only their products), and the split the
    trainers learn from (as ``dualgnn train``'s)."""

    artifacts: Path
    out: Path
    parts: int
    method: str = "metis"
    balance_edges: bool = True
    validation: float = 0.05
    split: tuple[float, float, float] | None = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.parts < 1:
            raise SettingsError(f"--parts must be at least 1, not {self.parts}", option="--parts")
        if self.method not in METHODS:
            raise SettingsError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}",
                                option="--method")
        self.split_settings()

    @property
    def production(self) -> bool:
        return self.split is None

    def split_settings(self) -> SplitSettings:
        if self.production:
            return production_settings(self.validation, self.split_seed)
        return SplitSettings(kind="edge", ratios=self.split, seed=self.split_seed)


def run_partition(req: PartitionRequest, say=lambda _line: None) -> dict:
    """Partition ``req.artifacts`` into ``req.out`` (written atomically); returns the manifest."""
    from dualgnn.artifacts import atomic_dir, graph_fingerprint, load_graph, write_json
    from dualgnn.features.store import Features
    from dualgnn.model.catalog import write_catalog
    from dualgnn.outputs import claim_output
    from dualgnn.split import load_or_make_split
    from dualgnn.training.checkpoints import data_fingerprints
    from dualgnn.training.run import training_summary

    with claim_output(req.out, kind=KIND, inputs=[req.artifacts]):
        t0 = time.perf_counter()
        graph = load_graph(req.artifacts)
        if req.parts > graph.num_products:
            raise SettingsError(f"--parts {req.parts} is more than the {graph.num_products:,} products of "
                                f"{req.artifacts}: every part needs products of its own", option="--parts")
        features = Features.load(req.artifacts)
        split = load_or_make_split(graph, req.split_settings(), req.artifacts)
        served = graph.copurchase if req.production else split.train_copurchase
        with atomic_dir(req.out, KIND) as tmp:
            g, edge_data = _served_graph(graph, split, served)
            t1 = time.perf_counter()
            say(f"partitioning {graph.num_products:,} products into {req.parts} parts ({req.method}, one-hop halo)")
            from dualgnn._dgl_compat import dgl

            dgl.seed(req.split_seed)  # the random cut draws from DGL's own generator: the same seed, the same parts
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # DGL narrates every phase on stdout
                    orig_nids, orig_eids = dgl.distributed.partition_graph(
                        g, GRAPH_NAME, req.parts, str(tmp), part_method=req.method, num_hops=1,
                        balance_edges=req.balance_edges, return_mapping=True)
            except dgl.DGLError as exc:  # seen with parts of one or two products each: a part with no subgraph
                raise SettingsError(
                    f"DGL could not cut {graph.num_products:,} products into {req.parts} parts "
                    f"({str(exc).splitlines()[0][:200]})", option="--parts",
                    hint="use fewer parts: one per trainer process, each with many products") from exc
            seconds_dgl = time.perf_counter() - t1
            del g
            parts = _write_parts(tmp, graph, features, split, req.parts, orig_nids, orig_eids, edge_data)
            split.save(tmp / "split.npz")
            (tmp / "catalog").mkdir()
            write_catalog(tmp / "catalog", graph, features, served)
            manifest = {
                "kind": KIND, "format_version": FORMAT, "num_parts": req.parts, "method": req.method,
                "balance_edges": req.balance_edges,
                "halo_hops": 1, "products": graph.num_products,
                "train_edges": len(split.train_copurchase), "coview_pairs": len(split.train_coview),
                "graph_fingerprint": graph_fingerprint(graph), "features_fingerprint": features.fingerprint(),
                "fingerprints": data_fingerprints(graph, features, split),
                "training": training_summary(graph, split, req.production),
                "inputs": {"text_dim": int(features.text.shape[1]), "numeric_dim": int(features.numeric.shape[1]),
                           "cardinalities": list(features.cardinalities)},
                "dgl_config": f"{GRAPH_NAME}.json", "parts": parts,
                "seconds": {"dgl_partition_graph": round(seconds_dgl, 2),
                            "total": round(time.perf_counter() - t0, 2)}}
            write_json(tmp / "manifest.json", manifest)
    return manifest


def _served_graph(graph, split: Split, served: Edges):
    """The DGL graph to cut (every edge the served vectors propagate over) and, per relation, each edge's weight,
    whether training propagates over it, and its normalisation on the training graph and on the served one.

    No leakage: held-out test edges are not in ``served`` (an evaluation split serves its training edges), and
    the validation slice of a production split only ever gets a serving norm (its training norm is 0)."""
    from dualgnn.model.encoder import edge_norms

    n = graph.num_products
    train_keys = split.train_copurchase.keys(n)
    in_training = np.isin(served.keys(n), train_keys)
    cv = split.train_coview
    g = graph.to_dgl(copurchase=served, coview=cv)
    data = {}
    for name, (src, dst, w, train) in {
            "copurchase": (served.src, served.dst, served.weight, in_training),
            "copurchased_by": (served.dst, served.src, served.weight, in_training),
            "coview": (cv.src, cv.dst, cv.weight, np.ones(len(cv), bool))}.items():
        s, d, wt = torch.from_numpy(src), torch.from_numpy(dst), torch.from_numpy(w)
        data[name] = {"weight": w.astype(np.float32), "train": train,
                      "norm_train": edge_norms(s, d, wt * torch.from_numpy(train), n).numpy(),
                      "norm_serve": edge_norms(s, d, wt, n).numpy()}
    return g, data


def _write_parts(tmp: Path, graph, features, split: Split, num_parts: int, orig_nids, orig_eids,
                 edge_data: dict) -> list[dict]:
    """``part{p}/part.npz``, ``halo.npz`` and ``ids.parquet`` for every part; returns per-part counts."""
    from dualgnn._dgl_compat import dgl
    from dualgnn.artifacts import write_npz

    n = graph.num_products
    config = str(tmp / f"{GRAPH_NAME}.json")
    node_orig = _per_type(orig_nids, "product").numpy()
    owner = np.empty(n, np.int64)
    counts = []
    cp, cv = split.train_copurchase, split.train_coview
    one_way = one_way_mask(cp, n)
    held = []  # per part: (catalog ids of its local rows, own flags)
    for p in range(num_parts):
        pg, _, _, book, _, _, etypes = dgl.distributed.load_partition(config, p)
        if p == 0:  # the partition book is global: every product's owner at once
            owner[node_orig] = book.nid2partid(torch.arange(n)).numpy()
        _, per_type = book.map_to_per_ntype(pg.ndata[dgl.NID])
        nodes = node_orig[per_type.numpy()]
        inner = pg.ndata["inner_node"].numpy().astype(bool)
        local = np.full(n, -1, np.int64)
        local[nodes] = np.arange(len(nodes))
        etype_ids, per_type_e = book.map_to_per_etype(pg.edata[dgl.EID])
        arrays = _local_edges(pg.edata[dgl.ETYPE].numpy(), etype_ids.numpy(), per_type_e.numpy(), etypes,
                              orig_eids, edge_data)
        mine = owner[cp.src] == p
        cv_mine = owner[cv.src] == p
        ends = [local[cp.src[mine]], local[cp.dst[mine]], local[cv.src[cv_mine]], local[cv.dst[cv_mine]]]
        if any((e < 0).any() for e in ends):
            raise RuntimeError(f"part {p}: an end of one of its edges is outside its halo")  # DGL contract broken
        rows = np.unique(np.concatenate([np.flatnonzero(inner), ends[1], ends[3]]))
        pos = [np.searchsorted(rows, e) for e in ends]
        directory = tmp / f"part{p}"
        write_npz(directory / "part.npz", nodes=nodes, inner=inner, text=features.text[nodes],
                  categorical=features.categorical[nodes], numeric=features.numeric[nodes], loss_rows=rows,
                  pos_src=pos[0], pos_dst=pos[1], one_way=one_way[mine], cv_src=pos[2], cv_dst=pos[3], **arrays)
        pd.DataFrame({"product_id": graph.ids.ids[nodes]}).to_parquet(directory / "ids.parquet", index=False)
        held.append((nodes, inner))
        counts.append({"own_products": int(inner.sum()), "halo_products": int((~inner).sum()),
                       "local_edges": int(pg.num_edges()), "train_edges": int(mine.sum()),
                       "coview_pairs": int(cv_mine.sum())})
    for p, plan in enumerate(_halo_plans(held, owner)):
        write_npz(tmp / f"part{p}" / "halo.npz", **plan)
    return counts


def _halo_plans(held: list[tuple[np.ndarray, np.ndarray]], owner: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per part, the exchange plan of :class:`dualgnn.distributed.halo.HaloPlan`: for every ordered pair of parts
    (owner p, holder q), the products q holds as halo and p owns, in catalog-id order, as p's rows to send and
    q's rows to fill."""
    num_parts = len(held)
    order = [np.argsort(nodes, kind="stable") for nodes, _ in held]

    def rows(p: int, ids: np.ndarray) -> np.ndarray:  # local rows of catalog ids ``ids`` in part p
        nodes = held[p][0]
        return order[p][np.searchsorted(nodes[order[p]], ids)]

    send = [[None] * num_parts for _ in range(num_parts)]
    recv = [[None] * num_parts for _ in range(num_parts)]
    for q, (nodes, inner) in enumerate(held):
        halo = np.sort(nodes[~inner])
        for p in range(num_parts):
            ids = halo[owner[halo] == p] if p != q else halo[:0]
            send[p][q], recv[q][p] = rows(p, ids), rows(q, ids)
    return [{"send_rows": np.concatenate(send[p]).astype(np.int64),
             "send_counts": np.array([len(x) for x in send[p]], np.int64),
             "recv_rows": np.concatenate(recv[p]).astype(np.int64),
             "recv_counts": np.array([len(x) for x in recv[p]], np.int64)} for p in range(num_parts)]


def _local_edges(local_types, etype_ids, per_type, etypes, orig_eids, edge_data: dict) -> dict[str, np.ndarray]:
    """Per local edge (DGL's order in the part's graph.dgl): relation index, weight, training flag and norms."""
    names = [e[1] if isinstance(e, tuple) else e for e in etypes]
    if not np.array_equal(local_types, etype_ids):
        raise RuntimeError("DGL's edge types and its partition book disagree")  # DGL contract broken
    out = {"edge_relation": np.zeros(len(per_type), np.int8)}
    fields = {k: np.zeros(len(per_type), np.float32) for k in ("edge_weight", "edge_norm_train", "edge_norm_serve")}
    train = np.zeros(len(per_type), bool)
    for t, (etype, name) in enumerate(zip(etypes, names)):
        sel = np.flatnonzero(local_types == t)
        orig = _per_type(orig_eids, etype).numpy()[per_type[sel]]
        data = edge_data[name]
        out["edge_relation"][sel] = RELATIONS.index(name)
        fields["edge_weight"][sel] = data["weight"][orig]
        fields["edge_norm_train"][sel] = data["norm_train"][orig]
        fields["edge_norm_serve"][sel] = data["norm_serve"][orig]
        train[sel] = data["train"][orig]
    return {**out, **fields, "edge_train": train}


def _per_type(mapping, key):
    """DGL's id mapping of one node or edge type (a dict keyed by type name or canonical type, or one tensor)."""
    if not isinstance(mapping, dict):
        return mapping
    if key in mapping:
        return mapping[key]
    name = key[1] if isinstance(key, tuple) else key
    for k, v in mapping.items():
        if (k[1] if isinstance(k, tuple) else k) == name:
            return v
    raise KeyError(key)
