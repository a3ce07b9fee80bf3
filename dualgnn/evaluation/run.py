"""`dualgnn evaluate`: every method on the same seeded splits, under the paper's protocols.

Protocols (full ranking over all products, never sampled negatives; see :mod:`dualgnn.metrics`):

* ``EQ1`` recommendation, edge split: each held-out co-purchase edge ``u -> v`` is a query ``u`` with target ``v``;
  ``u`` and its training out-neighbours are filtered. HR@k, MRR@k for k in 5, 10, 20.
* ``EQ3`` direction, edge split: held-out edges ``u -> v`` whose reverse is absent from the *whole* graph; accuracy
  of ``score(u, v) > score(v, u)`` (ties count half) and the AUC of telling the two apart.
* ``EQ3-balanced``: the EQ3 pairs whose target is not more popular (training co-purchase in-degree) than their
  source. On plain EQ3 "the more bought product is the target" is right 95-97% of the time on Amazon data; here
  popularity is wrong or tied by construction, so the figure measures direction beyond popularity.
* ``EQ4`` cold start, node split: test products lose every edge. Queries are cold products, targets their warm
  co-purchase out-neighbours (``cold -> warm``, the paper's form). ``EQ4-to-cold`` is the other side: a warm query
  whose held-out target is a cold product (``warm -> cold``). Every product is a candidate in both.
* ``EQ5`` selection bias, edge split: the EQ1 test set extended with transitive pairs. Rule: for every held-out
  edge ``a -> b`` and every co-view neighbour ``c`` of ``b`` (``b ~ c`` in the training co-view graph, which in an
  edge split is the whole co-view graph), add ``a -> c`` unless ``c == a``, ``a -> c`` is a training co-purchase
  edge, or it is already in the set (pairs are de-duplicated; weights are ignored).

Besides HR/MRR each ranking protocol reports, from the top-10 lists of its distinct queries (ties broken by the
lower product id, as in serving):

* ``coverage@10``: share of the catalog appearing in at least one top-10 list;
* ``popbias@10``: mean training in-degree percentile of the recommended products (mid-rank percentile among all
  products, so a random recommender scores about 0.5 and one recommending only the most bought products about 1).

>>> report = evaluate(graph, features, protocols=("EQ1",), methods=("popularity", "cooccurrence"))  # doctest: +SKIP
>>> report.metrics("cooccurrence", "EQ1")["HR@10"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dualgnn.classics.scorers import MethodSkipped
from dualgnn.errors import ArtifactError, DualGNNError
from dualgnn.evaluation.methods import BASELINES, EXTRA_BASELINES, GNN_VARIANTS, RANKERS, MethodContext, fit_method
from dualgnn.evaluation.protocols import Task, make_tasks, popularity_percentile
from dualgnn.graph import ProductGraph
from dualgnn.metrics import direction_scores, rank_targets
from dualgnn.scoring import Scorer, adjacency
from dualgnn.split import Split, SplitSettings, load_or_make_split

PROTOCOLS = ("EQ1", "EQ3", "EQ3-balanced", "EQ4", "EQ5")
EDGE_PROTOCOLS = ("EQ1", "EQ3", "EQ3-balanced", "EQ5")
TOP = 10


@dataclass
class EvalReport:
    """Rows of ``{"method", "protocol", metric: value, ...}`` plus what was evaluated (``meta``)."""

    rows: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def metrics(self, method: str, protocol: str) -> dict:
        for row in self.rows:
            if row["method"] == method and row["protocol"] == protocol:
                return row
        raise KeyError((method, protocol))

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r["method"] for r in self.rows))

    @property
    def protocols(self) -> list[str]:
        return list(dict.fromkeys(r["protocol"] for r in self.rows))

    def to_dict(self) -> dict:
        return {"meta": self.meta, "rows": self.rows}


def evaluate(graph: ProductGraph, features=None, *, protocols: Sequence[str] = PROTOCOLS,
             methods: Sequence[str] | None = None, split_settings: SplitSettings | None = None,
             max_queries: int | None = None, model_dir: str | Path | None = None, epochs: int | None = None,
             split_dir: str | Path | None = None, progress: bool | Callable[[str], None] = True,
             checkpoint: Callable[[EvalReport], None] | None = None, dataset: str | None = None,
             model_seed: int | None = None) -> EvalReport:
    """Evaluate ``methods`` under ``protocols``; every method sees the same splits.

    ``split_settings`` gives ratios and seed (default 75/5/20, seed 0); EQ1/EQ3/EQ5 use its edge form, EQ4 its node
    form. With ``split_dir`` (normally the artifact directory) splits are loaded from / saved to it, so repeated runs
    and ``dualgnn train`` share them. ``max_queries`` samples that many held-out pairs per protocol (seeded).
    ``model_dir``: a trained model used for the ``dualgnn`` row on the edge split instead of training one (its
    EQ4 row is still trained on the node split with the model's config: the model has seen the cold products).
    ``epochs``: the training budget of every GNN row (default: the default preset's). ``features``: a
    :class:`dualgnn.features.store.Features` (``.text`` ``(n, d)``); without it text kNN and the GNN rows are skipped.
    ``checkpoint`` is called with the report so far after every method (GNN rows take minutes: keep what is done).
    The tuned classics choose their values on the edge split's validation edges (``meta["tuning"]``); a node split
    reuses them. A method that cannot run (EASE^R on too many products) is left out with its reason
    (``meta["skipped"]``). ``dataset`` names the data in the report (the CLI passes the artifact directory's name).
    """
    log = progress if callable(progress) else (_stderr_log if progress else (lambda _msg: None))
    protocols = normalise_protocols(protocols)
    methods = resolve_methods(methods, features)
    settings = split_settings or SplitSettings()
    if "ranker" in methods and settings.ratios[1] == 0:  # before the GNN rows' minutes of training
        raise DualGNNError("the ranker learns from the split's validation edges, and this split has none",
                           hint="give the split a validation share, e.g. --split 0.75,0.05,0.2, or leave ranker "
                                "out of --methods")
    report = EvalReport(meta={"num_products": graph.num_products, "copurchase_edges": len(graph.copurchase),
                              "coview_edges": len(graph.coview), "protocols": list(protocols),
                              "methods": list(methods), "max_queries": max_queries, "epochs": epochs,
                              "model_dir": str(model_dir) if model_dir else None, "splits": {},
                              "tasks": {}, "seconds": {}, "tuning": {}, "skipped": {},
                              "dataset": dataset or (Path(split_dir).name if split_dir else None)})
    tuned: dict = {}  # shared by the splits: the node split reuses the edge split's tuned values
    plan = [("edge", [p for p in protocols if p in EDGE_PROTOCOLS]), ("node", ["EQ4"] if "EQ4" in protocols else [])]
    for kind, prots in plan:
        if not prots:
            continue
        split = load_or_make_split(graph, replace(settings, kind=kind), split_dir)
        if kind == "edge" and model_dir is not None and "dualgnn" in methods:
            _check_model_split(split, model_dir, split_dir, log)
        report.meta["splits"][kind] = split.describe()
        tasks = make_tasks(graph, split, prots, max_queries, settings.seed)
        for t in tasks:
            report.meta["tasks"][t.protocol] = {"pairs": len(t.src), "pairs_before_sampling": t.total}
            sampled = f" (sampled from {t.total:,})" if t.total > len(t.src) else ""
            log(f"{t.protocol}: {len(t.src):,} held-out pairs{sampled}")
        exclude = adjacency(split.train_copurchase.src, split.train_copurchase.dst, graph.num_products)
        pop_pct = popularity_percentile(split.train_copurchase, graph.num_products)
        tuning_split = split if kind == "edge" else load_or_make_split(graph, replace(settings, kind="edge"), split_dir)
        ctx = MethodContext(graph=graph, features=features, split=split, epochs=epochs,
                            model_dir=Path(model_dir) if model_dir else None, log=log, tuning_split=tuning_split,
                            tuned=tuned, seed=settings.seed, model_seed=model_seed)
        for method in methods:
            t0 = time.perf_counter()
            try:
                scorer = fit_method(method, ctx)
            except MethodSkipped as exc:
                log(f"{method:>18} skipped: {exc.message}")
                report.meta["skipped"][method] = exc.message
                continue
            fit_s = time.perf_counter() - t0
            _record_tuning(report, method, kind, getattr(scorer, "tuning", None))
            for task in tasks:
                t1 = time.perf_counter()
                row = {"method": method, "protocol": task.protocol, "pairs": len(task.src)}
                row.update(run_task(scorer, task, exclude, pop_pct))
                row["seconds"] = round(fit_s + time.perf_counter() - t1, 2)
                report.rows.append(row)
                log(f"{method:>18} {task.protocol:<11} " + _brief(row))
            report.meta["seconds"][f"{method}/{kind}"] = round(time.perf_counter() - t0, 2)
            if checkpoint is not None:
                checkpoint(report)
    return report


def _record_tuning(report: EvalReport, method: str, kind: str, tuning: dict | None) -> None:
    if tuning is None:
        return
    if tuning.get("per_split"):  # fitted on each split's own validation edges (the ranker)
        report.meta["tuning"][f"{method}/{kind}"] = dict(tuning)
        return
    entry = report.meta["tuning"].setdefault(method, dict(tuning))
    if kind == "node":
        entry["node_split"] = ("the edge split's tuned values, refitted on the node split's training edges "
                               "(cold products have no edges: their rows are all zero whatever the values)")


def _check_model_split(split: Split, model_dir: str | Path, split_dir: str | Path | None, log) -> None:
    """A stored model must be scored on the split it was trained on, else its held-out edges were training edges.

    ``dualgnn train`` leaves its split as ``split.npz`` in the model or the artifact directory; compare held-out sets.
    """
    dirs = [Path(model_dir)] + ([Path(split_dir)] if split_dir is not None else [])
    for path in (d / "split.npz" for d in dirs):
        if path.exists():
            used = Split.load(path)
            if used.fingerprint and split.fingerprint and used.fingerprint != split.fingerprint:
                raise ArtifactError(f"{model_dir} was trained on another graph than this artifact directory "
                                    f"({path} names other products)",
                                    hint="evaluate the model with the artifact directory it was trained on")
            if used.settings.kind == "edge" and used.settings.ratios[2] == 0:
                raise ArtifactError(f"{model_dir} is a model to ship: it learnt from every co-purchase edge, the "
                                    "held-out pairs of this evaluation included, so its scores would be inflated",
                                    hint="train one for evaluation with `dualgnn train ARTIFACTS --split "
                                         "0.75,0.05,0.2 --out MODEL`, or omit --model and evaluate trains its own")
            if not (np.array_equal(used.test_copurchase.src, split.test_copurchase.src)
                    and np.array_equal(used.test_copurchase.dst, split.test_copurchase.dst)):
                def shown(settings) -> str:
                    return f"--split {','.join(f'{r:g}' for r in settings.ratios)} --split-seed {settings.seed}"

                raise ArtifactError(f"the model was trained on another split ({shown(used.settings)}, saved in "
                                    f"{path}) than the one asked for ({shown(split.settings)})",
                                    hint=f"evaluate it with {shown(used.settings)}")
            return
    log("warning: no split.npz beside the model; cannot check it was trained on this split (leakage if not)")


def normalise_protocols(protocols: Sequence[str]) -> list[str]:
    canonical = {p.upper(): p for p in PROTOCOLS}
    out = []
    for p in protocols:
        p = p.strip().upper()
        if p not in canonical:
            raise DualGNNError(f"unknown protocol {p!r}", hint=f"choose from {', '.join(PROTOCOLS)}")
        out.append(canonical[p])
    if not out:
        raise DualGNNError("no protocol to evaluate", hint=f"pass some of {', '.join(PROTOCOLS)}")
    return list(dict.fromkeys(out))


def resolve_methods(methods: Sequence[str] | None, features) -> list[str]:
    """Validate names; ``None`` means every baseline plus the GNN rows when training is available."""
    known = list(BASELINES) + list(EXTRA_BASELINES) + list(GNN_VARIANTS) + list(RANKERS)
    if methods is None:
        methods = [m for m in BASELINES if m != "text-knn" or features is not None]
        if features is not None and _training_available():
            methods += list(GNN_VARIANTS) + list(RANKERS)
        return methods
    methods = [m.strip() for m in methods]
    for m in methods:
        if m not in known:
            raise DualGNNError(f"unknown method {m!r}", hint=f"choose from {', '.join(known)}")
        if features is None and (m == "text-knn" or m in GNN_VARIANTS or m in RANKERS):
            raise DualGNNError(f"method {m!r} needs product features", hint="build the artifact with features")
    return list(dict.fromkeys(methods))


def _training_available() -> bool:
    try:
        import dualgnn.training.loop  # noqa: F401
    except ImportError:
        return False
    return True


def run_task(scorer: Scorer, task: Task, exclude: sp.csr_matrix, pop_pct: np.ndarray) -> dict:
    if task.kind == "direction":
        return direction_scores(scorer, task.src, task.dst)
    if len(task.src) == 0:
        return {}
    out = rank_targets(scorer, task.src, task.dst, exclude).summary()
    queries = np.unique(task.src)
    seen = np.zeros(scorer.num_products, bool)
    pop_sum, pop_count = 0.0, 0
    step = max(1, (1 << 24) // max(scorer.num_products, 1))
    for i in range(0, len(queries), step):
        ids, _ = scorer.recommend(queries[i:i + step], TOP, exclude=exclude)
        ids = ids[ids >= 0]
        seen[ids] = True
        pop_sum += float(pop_pct[ids].sum())
        pop_count += len(ids)
    out[f"coverage@{TOP}"] = float(seen.mean())
    out[f"popbias@{TOP}"] = pop_sum / pop_count if pop_count else float("nan")
    return out


def _brief(row: dict) -> str:
    keys = ("HR@10", "MRR@10", "direction_acc", "direction_auc", f"coverage@{TOP}")
    return "  ".join(f"{k} {row[k]:.3f}" for k in keys if k in row) + f"  ({row['seconds']:.1f}s)"


def _stderr_log(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)

