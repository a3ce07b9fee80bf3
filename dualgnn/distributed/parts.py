"""A partition set on disk (``dualgnn partition``) and one part as a trainer process loads it.

Layout (written atomically, ``manifest.json`` last)::

    manifest.json      kind "partitions": parts, method, halo hops, the graph / features / split fingerprints,
                       what the model learns from, per-part counts
    graph.json         DGL's partition config (``dgl.distributed.partition_graph``)
    part{p}/           one per trainer: DGL's graph.dgl (its products, one-hop halo and edges; DGL's
                       node_feat.dgl and edge_feat.dgl beside it), ids.parquet (the ids map of its products: row i
                       is local node i), part.npz (every local product's catalog id, own/halo flag and features,
                       every local edge's relation, weight, training flag and norms on the training graph and on
                       the served one, the training edges and co-view pairs the part owns) and halo.npz (the
                       exchange plan: rows to send to each other part, halo rows to receive from each)
    split.npz          the split, as ``dualgnn train`` saves it (rank 0 validates on it; copied into the model)
    catalog/           what a model directory keeps of its catalog (ids, served edges, features reference)

>>> part = load_part(read_partitions(Path("parts")), rank=1)   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dualgnn.errors import ArtifactError

KIND = "partitions"
FORMAT = 1
RELATIONS = ("copurchase", "copurchased_by", "coview")


@dataclass(frozen=True)
class PartitionSet:
    """A partition directory whose manifest has been checked."""

    directory: Path
    manifest: dict

    @property
    def num_parts(self) -> int:
        return int(self.manifest["num_parts"])

    @property
    def products(self) -> int:
        return int(self.manifest["products"])

    def part_dir(self, p: int) -> Path:
        return self.directory / f"part{p}"


def read_partitions(directory: str | Path, expected_parts: int | None = None) -> PartitionSet:
    """Check ``directory`` is a complete partition set (and has ``expected_parts`` parts) before any work."""
    from dualgnn.artifacts import read_manifest

    directory = Path(directory)
    if directory.is_dir() and not (directory / "manifest.json").exists() and (directory / "graph.json").exists():
        raise ArtifactError(f"{directory} has DGL partition files but no manifest.json: it was not made by "
                            "`dualgnn partition`, or that run was interrupted", hint="run `dualgnn partition` again")
    try:
        manifest = read_manifest(directory, kind=KIND)
    except ArtifactError as exc:
        raise ArtifactError(exc.message, hint="make it with `dualgnn partition GRAPH --parts N --out DIR`") from exc
    pset = PartitionSet(directory, manifest)
    if expected_parts is not None and expected_parts != pset.num_parts:
        raise ArtifactError(f"{directory} holds {pset.num_parts} parts but {expected_parts} processes were started",
                            hint=f"start exactly {pset.num_parts} trainer processes (one per part), or re-partition "
                                 f"with --parts {expected_parts}")
    for p in range(pset.num_parts):
        for name in ("part.npz", "halo.npz", "graph.dgl"):
            if not (pset.part_dir(p) / name).exists():
                raise ArtifactError(f"{pset.part_dir(p) / name} is missing: the partition set is incomplete",
                                    hint="copy every part directory to the machines, or run `dualgnn partition` again")
    return pset


@dataclass
class LocalPart:
    """What one trainer holds: its products and halo (``nodes``: catalog ids, ``own``: the part's own products),
    their inputs, the local graph training propagates over and the one the served vectors use (the same object
    when they are equal), and the positives the part owns, as rows of ``loss_rows`` (the local products the loss
    reads: own products and the far ends of own edges), and the halo exchange plan."""

    rank: int
    nodes: torch.Tensor
    own: torch.Tensor
    inputs: object
    train_graph: object
    serve_graph: object
    loss_rows: torch.Tensor
    edges: object  # dualgnn.training.steps.TrainEdges over loss_rows
    halo: object  # dualgnn.distributed.halo.HaloPlan


def load_part(pset: PartitionSet, rank: int, use_coview: bool = True) -> LocalPart:
    """Part ``rank``: DGL's local graph (``dgl.distributed.load_partition``) with the norms of the whole graph."""
    from dualgnn._dgl_compat import dgl
    from dualgnn.artifacts import read_npz
    from dualgnn.distributed.halo import HaloPlan
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.training.steps import TrainEdges

    z = read_npz(pset.part_dir(rank) / "part.npz")
    try:
        pg, *_ = dgl.distributed.load_partition(str(pset.directory / pset.manifest["dgl_config"]), rank)
    except Exception as exc:  # noqa: BLE001 - DGL raises assorted errors on missing or damaged files
        raise ArtifactError(f"cannot load part {rank} of {pset.directory}: {exc}",
                            hint="run `dualgnn partition` again") from exc
    n = len(z["nodes"])
    if pg.num_nodes() != n or pg.num_edges() != len(z["edge_relation"]):
        raise ArtifactError(f"{pset.part_dir(rank)}: part.npz does not describe graph.dgl",
                            hint="run `dualgnn partition` again")
    src, dst = (x.numpy() for x in pg.edges())
    relation, train = z["edge_relation"], z["edge_train"]
    keep_cv = np.ones(len(relation), bool) if use_coview else relation != RELATIONS.index("coview")
    train_graph = _local_graph(dgl, n, src, dst, relation, z["edge_weight"], z["edge_norm_train"], train & keep_cv)
    same = bool(train.all()) and np.array_equal(z["edge_norm_train"], z["edge_norm_serve"])
    serve_graph = train_graph if same else _local_graph(dgl, n, src, dst, relation, z["edge_weight"],
                                                        z["edge_norm_serve"], keep_cv)
    cv_src, cv_dst = (z["cv_src"], z["cv_dst"]) if use_coview else (z["cv_src"][:0], z["cv_dst"][:0])
    edges = TrainEdges(*(torch.from_numpy(np.ascontiguousarray(a)) for a in
                         (z["pos_src"], z["pos_dst"], z["one_way"], cv_src, cv_dst)))
    features = _Rows(z["text"], z["categorical"], z["numeric"], tuple(pset.manifest["inputs"]["cardinalities"]))
    h = read_npz(pset.part_dir(rank) / "halo.npz")
    plan = HaloPlan(torch.from_numpy(h["send_rows"]), h["send_counts"].tolist(), torch.from_numpy(h["recv_rows"]),
                    h["recv_counts"].tolist())
    if len(plan.send_counts) != pset.num_parts:
        raise ArtifactError(f"{pset.part_dir(rank) / 'halo.npz'} plans for {len(plan.send_counts)} parts, not "
                            f"{pset.num_parts}", hint="run `dualgnn partition` again")
    return LocalPart(rank, torch.from_numpy(z["nodes"]), torch.from_numpy(z["inner"]),
                     NodeInputs.from_features(features), train_graph, serve_graph,
                     torch.from_numpy(z["loss_rows"]), edges, plan)


@dataclass
class _Rows:
    """A part's feature rows in the shape :meth:`NodeInputs.from_features` reads."""

    text: np.ndarray
    categorical: np.ndarray
    numeric: np.ndarray
    cardinalities: tuple


def _local_graph(dgl, n: int, src, dst, relation, weight, norm, keep):
    """The part's heterograph over the ``keep`` edges, with edata ``weight`` and the whole graph's ``norm``, and
    the CSR matrices the weighted aggregation multiplies with (a :class:`dualgnn.model.spmm.WholeGraph`)."""
    from dualgnn.model.spmm import WholeGraph

    data, edata = {}, {}
    for r, name in enumerate(RELATIONS):
        sel = np.flatnonzero(keep & (relation == r))
        data[("product", name, "product")] = (torch.from_numpy(src[sel]), torch.from_numpy(dst[sel]))
        edata[name] = (torch.from_numpy(weight[sel]), torch.from_numpy(norm[sel]).unsqueeze(1))
    g = dgl.heterograph(data, num_nodes_dict={"product": n}, idtype=torch.int64)
    for name, (w, nm) in edata.items():
        g.edges[name].data["weight"] = w
        g.edges[name].data["norm"] = nm
    return WholeGraph.of(g)
