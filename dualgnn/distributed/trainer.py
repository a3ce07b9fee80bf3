"""``dualgnn train-distributed``: one trainer process per part, the same model, loss and early stopping as
:func:`dualgnn.training.loop.train`, the same checkpoints and model directory.

Each process propagates over its part (own products + one-hop halo), exchanging the halo rows after every layer
(:mod:`dualgnn.distributed.halo`: exact vectors for its own products and their direct neighbours), and scores the
training edges its part owns. The model is
replicated: ``DistributedDataParallel`` averages the gradients of every step over the processes (gloo), so every
replica takes the same optimiser step. Every epoch has the single-machine trainer's number of steps; a process's
loss is weighted by its share of the step's edges, so the averaged gradient is that of the mean over all of them.

Negatives are local: a positive competes with the products its part's loss reads (own products and the far ends
of own edges), not with the whole catalog; the softmax's form (full, or uniform samples) still follows the
catalog's size. README "More than one machine" has what this changes on the planted graph.

Validation, early stopping, checkpoints and the model directory are rank 0's: every process embeds its own
products with the averaged weights, rank 0 gathers the (n, d) tables, scores the validation edges as ``train()``
does and tells the others the result, so all of them keep the same best weights and stop at the same epoch.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dualgnn.config import TrainConfig
from dualgnn.distributed.group import Group, checked, decide, gather_rows, mean_over
from dualgnn.distributed.parts import LocalPart, PartitionSet, load_part, read_partitions
from dualgnn.errors import SettingsError


@dataclass(frozen=True, kw_only=True)
class DistTrainRequest:
    """Everything ``dualgnn train-distributed`` was asked: the partition set, the model directory to write, the
    preset and its overrides (as ``dualgnn train``)."""

    parts: Path
    out: Path
    preset: str = "default"
    overrides: dict = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        config = self.config()
        refused = [(not config.directed, "directed=False (the symmetric baseline)"),
                   (config.hide_positives or config.edge_dropout > 0,
                    "hide_positives / edge_dropout (their norms are recomputed on a part's edges only)"),
                   (config.mode == "sampled", "mode=sampled (each part propagates over its whole local graph)")]
        for bad, what in refused:
            if bad:
                raise SettingsError(f"the distributed trainer does not train {what}",
                                    hint="train this configuration with `dualgnn train` on one machine")

    def config(self) -> TrainConfig:
        return TrainConfig.preset(self.preset, **self.overrides)

    def check(self, processes: int) -> PartitionSet:
        """The partition set, checked against the number of processes (before any work)."""
        return read_partitions(self.parts, processes)


def run_distributed_train(req: DistTrainRequest, group: Group, say=lambda _line: None):
    """This process's share of the training; rank 0 writes the model directory and returns a
    :class:`dualgnn.training.run.TrainOutcome` (the others return None)."""
    from dualgnn.outputs import claim_output
    from dualgnn.training.run import describe_training

    config = req.config()
    pset = checked(group, lambda: req.check(group.size))
    with contextlib.ExitStack() as stack:
        claim = lambda: stack.enter_context(claim_output(req.out, kind="model", inputs=[req.parts]))  # noqa: E731
        checked(group, claim if group.leader else lambda: None)
        part = checked(group, lambda: load_part(pset, group.rank, config.use_coview))
        learnt = pset.manifest["training"]
        if group.leader:
            say(describe_training(req.preset, pset.products, learnt) + f"; {group.size} processes, one per part")
        return _train(req, config, pset, part, group)


def _train(req: DistTrainRequest, config: TrainConfig, pset: PartitionSet, part: LocalPart, group: Group):
    import torch.distributed as dist

    from dualgnn.model.encoder import DualGNN
    from dualgnn.training.history import EpochProgress
    from dualgnn.training.loop import keep_best, run_epoch
    from dualgnn.training.memory import release_freed_memory
    from dualgnn.training.optim import averaged_weights, init_optimizer_state, make_optimizer, new_ema

    torch.manual_seed(config.seed)
    part.halo.group = dist.new_group(backend="gloo")  # its own group: never interleaved with DDP's all-reduces
    shapes = pset.manifest["inputs"]
    model = DualGNN(config, shapes["text_dim"], tuple(shapes["cardinalities"]), shapes["numeric_dim"], pset.products)
    ddp = torch.nn.parallel.DistributedDataParallel(model)  # starts every replica from rank 0's weights
    optimizer = make_optimizer(model, config)
    init_optimizer_state(optimizer)
    generator = torch.Generator().manual_seed(config.seed + 7919 * group.rank)  # rank 0: the single machine's
    step = _make_step(ddp, part, config, generator, pset)
    judge = _Judge(req, config, pset) if group.leader else None
    state = {"epoch": 0, "history": [], "best_state": None, "best_epoch": 0, "best_val": -math.inf, "bad_epochs": 0,
             "ema": new_ema(model, config.ema_decay), "ema_steps": 0}
    has_validation = pset.manifest["training"]["validation_edges"] > 0
    bar = EpochProgress(config.epochs, enabled=req.progress and group.leader)
    try:
        for epoch in range(1, config.epochs + 1):
            record = run_epoch(model, optimizer, step, state, config, epoch)
            record["loss"] = mean_over(record["loss"])  # each process's loss is weighted by its share of edges
            release_freed_memory()
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                with averaged_weights(model, state["ema"]):
                    s, t = _embed(model, part, part.train_graph, group, pset.products)
                    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                scores = decide(group, judge.score(s, t) if judge else None)
                keep_best(state, record, {"HR@10": scores[0], "MRR@10": scores[1]}, weights)
                del s, t, weights
            state["history"].append(record)
            state["epoch"] = epoch
            if judge:
                judge.checkpoint(model, optimizer, generator, state)
            bar.update(record, state["best_val"])
            if state["bad_epochs"] >= config.patience and has_validation:
                break  # the same decision on every process: they all hold the same state
    finally:
        bar.close()
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    source, target = _embed(model, part, part.serve_graph, group, pset.products)
    if judge is None:
        return None
    best_val = state["best_val"] if has_validation else float("nan")
    return judge.finish(model, source, target, state, best_val)


def _make_step(ddp, part: LocalPart, config: TrainConfig, generator: torch.Generator, pset: PartitionSet):
    """One epoch of this part's batch losses: as the single machine's whole-graph step, over the part's graph, with
    the single machine's number of steps and each loss weighted by the part's share of all training edges."""
    from dualgnn.training.chunked import chunked_loss
    from dualgnn.training.steps import full_batch_size, id_mask

    total = int(pset.manifest["train_edges"])
    n_batches = max(1, -(-total // full_batch_size(config, total)))
    weight = pset.num_parts * len(part.edges.src) / max(total, 1)
    n_local, rows, ids = len(part.nodes), part.loss_rows, part.nodes
    warm = torch.ones(n_local)

    def epoch():
        for batch in part.edges.batches(0, generator, n_batches=n_batches):
            mask = id_mask(n_local, warm, config.id_dropout, generator)
            s, t = ddp(part.train_graph, part.inputs, id_mask=mask, ids=ids, exchange=part.halo.exchange)
            if len(batch[0]) == 0:  # more steps than this part has edges: a zero step keeps the processes in step
                yield (s.sum() + t.sum()) * 0.0
                continue
            yield weight * chunked_loss(config, s[rows], t[rows], batch, generator, None, catalog=pset.products)

    return epoch


def _embed(model, part: LocalPart, graph, group: Group, total: int):
    """Served vectors of every product on rank 0 (None elsewhere): each process embeds its own products."""
    model.eval()
    s, t = model.embed_rows(graph, part.inputs, id_mask=torch.ones(len(part.nodes)), ids=part.nodes,
                            exchange=part.halo.exchange)
    own = part.own
    ids = part.nodes[own].numpy()
    return gather_rows(group, ids, s[own], total), gather_rows(group, ids, t[own], total)


class _Judge:
    """Rank 0's part: validation on the partition set's split, checkpoints, the model directory."""

    def __init__(self, req: DistTrainRequest, config: TrainConfig, pset: PartitionSet) -> None:
        from dualgnn.scoring import adjacency
        from dualgnn.split import Split
        from dualgnn.training.checkpoints import Checkpointer

        self.req, self.config, self.pset = req, config, pset
        self.split = Split.load(pset.directory / "split.npz")
        cp = self.split.train_copurchase
        self.exclude = adjacency(cp.src, cp.dst, pset.products)
        self.work = req.out.with_name(f".{req.out.name}.training")
        self.ckpt = Checkpointer(self.work, config, pset.manifest["fingerprints"])

    def score(self, source: np.ndarray, target: np.ndarray) -> list[float]:
        from dualgnn.training.loop import validation_score

        val = validation_score(source, target, self.split, self.exclude)
        return [val["HR@10"], val["MRR@10"]]

    def checkpoint(self, model, optimizer, generator, state: dict) -> None:
        self.ckpt.save(model, optimizer, generator, state)

    def finish(self, model, source, target, state: dict, best_val: float):
        from dualgnn.model.io import TrainResult, save_model
        from dualgnn.training.history import write_history
        from dualgnn.training.run import TrainOutcome

        result = TrainResult(self.config, model, source, target, state["history"], state["best_epoch"], best_val)
        write_history(self.work, result.history)
        manifest = self.pset.manifest
        save_model(self.req.out, result, manifest["graph_fingerprint"],
                   features_fingerprint=manifest["features_fingerprint"], extra=[self._copy_catalog],
                   training=manifest["training"])
        shutil.rmtree(self.work, ignore_errors=True)
        return TrainOutcome(self.req.out, manifest["training"], result.best_epoch, result.best_val,
                            len(result.history), int(manifest["training"]["validation_edges"]))

    def _copy_catalog(self, directory: Path) -> None:
        """The split and the catalog record (ids, served edges, features reference), as ``dualgnn train`` writes."""
        shutil.copy2(self.pset.directory / "split.npz", directory / "split.npz")
        for item in sorted((self.pset.directory / "catalog").iterdir()):
            shutil.copy2(item, directory / item.name)
