"""The ranker a shop ships: fitted by ``dualgnn train`` beside the GNN, read over every edge by ``recommend``.

**Which edges train it (no leakage).** A shipped model learns from every co-purchase edge but a seeded validation
slice. The ranker is fitted on that slice exactly as ``evaluate`` fits it on a split's validation edges: its
features (path counts, degrees, the tuned classics' scores, the GNN's vectors propagated over the *training* graph)
are computed without the slice, so a validation pair stands to them as tomorrow's co-purchase will stand to
today's graph. The classics' values are tuned on the same slice. Then everything is re-read over the whole graph
for serving: the served GNN vectors (which propagate over every edge), the classics refitted with their tuned
values on every edge, every edge's paths and degrees. The ranker itself (``ranker.txt``, LightGBM's text format)
and what it reads (``ranker.json``: the features, the classics' values, candidate sizes) live in the model
directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dualgnn.errors import ArtifactError
from dualgnn.graph import ProductGraph
from dualgnn.ranking.candidates import RankInputs
from dualgnn.split import Split, whole_graph

#: The tuned classics the ranker reads; the first retrieves candidates. PageRank is not among them: on music's
#: validation pairs (out of fold, seeds 0 and 1) the ranker scored HR@10 / MRR@10 0.627 / 0.322 and 0.656 / 0.338
#: with it (100 candidates a source), 0.622 / 0.330 and 0.656 / 0.336 without it at 50 a source (a pair is
#: 0.0014), gift cards' were level, and its four-step rows were the export's largest cost (1.8 ms a query at 100k
#: products even cut to 200 entries a step).
RANKER_CLASSICS = ("rp3beta",)
#: Entries each row of the ranker's classics keeps (RP3beta's neighbours per product): whole profile rows cost
#: 11 ms a query at 100k products, and the ranker reads a classic's top ``classic_k`` and its scores at its
#: candidates.
CLASSIC_KEEP = 200
#: Validation queries the ranker is fitted on at most (a seeded sample beyond): its cross-validated fit costs
#: queries x candidates x grid points x folds x trees; music's 1,415 queries fit in 60 s, and at 20,000 queries a
#: 100k catalog's fit had not ended after 37 minutes.
MAX_QUERIES = 3_000
#: Inner validation queries (those that choose the ranker's trees and leaves) below which its comparison with the
#: GNN says nothing: a small shop's ranker is then not shipped, and recommend ranks with the GNN alone.
MIN_INNER_QUERIES = 50


def ranker_classics(copurchase, coview, num_products: int, params: dict, saved: dict | None = None) -> dict:
    """The ranker's classics (name -> scorer, in ``params``' order) fitted on these edges with their tuned values,
    their propagated rows cut to :data:`CLASSIC_KEEP` entries: the same in ``evaluate``, ``train`` and serving.
    ``saved``: name -> item-item matrix already formed on these edges (:func:`save_served_classics`)."""
    from dualgnn.classics.scorers import ProfileScorer, TrainGraph
    from dualgnn.classics.tuning import fit_classic

    out, graph = {}, None
    for name, p in params.items():
        cut = {**p, "structure": {**p["structure"], "keep": CLASSIC_KEEP}}
        if saved and name in saved:
            graph = graph or TrainGraph(copurchase, coview, num_products)
            out[name] = ProfileScorer(graph, cut["structure"], cut["knobs"], saved[name])
            out[name].name = name
        else:
            out[name] = fit_classic(name, copurchase, coview, num_products, cut)
    return out


#: The served classics' item-item matrices (RP3beta's 200 best neighbours per product over every edge), formed once
#: by ``train`` instead of at every start of ``recommend`` / ``serve`` (13 s at 100k generated products; on the 1M
#: catalog, whose hubs make each row's two hops far longer, a third of the rows took 18 minutes). Keyed by a hash
#: of the graph's edges: a refreshed graph forms them again.
SERVED_CLASSICS = "ranker-classics.npz"


def edges_key(graph: ProductGraph) -> str:
    """A short hash of the graph's size and every co-purchase and co-view edge with its weight."""
    import hashlib

    h = hashlib.sha256(str(graph.num_products).encode())
    for edges in (graph.copurchase, graph.coview):
        for part in (edges.src, edges.dst, edges.weight):
            h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()[:16]


def save_served_classics(graph: ProductGraph, params: dict, directory: Path) -> None:
    """Form the ranker's classics over every edge of ``graph`` and write those with a sparse item-item matrix to
    :data:`SERVED_CLASSICS` (npz: CSR arrays, the edges' key)."""
    from dualgnn.artifacts import write_npz

    classics = ranker_classics(graph.copurchase, graph.coview, graph.num_products, params)
    arrays = {"edges_key": np.array(edges_key(graph))}
    for name, scorer in classics.items():
        m = getattr(scorer, "item_item", None)
        if isinstance(m, sp.csr_matrix):
            arrays.update({f"{name}/indptr": m.indptr, f"{name}/indices": m.indices, f"{name}/data": m.data})
    write_npz(Path(directory) / SERVED_CLASSICS, **arrays)


def read_served_classics(graph: ProductGraph, directory: Path) -> dict:
    """name -> item-item matrix from :data:`SERVED_CLASSICS` when it was formed on ``graph``'s edges, else {}."""
    from dualgnn.artifacts import read_npz

    path = Path(directory) / SERVED_CLASSICS
    if not path.is_file():
        return {}
    z = read_npz(path)
    if str(z.get("edges_key", "")) != edges_key(graph):
        return {}
    n = graph.num_products
    names = {k.split("/")[0] for k in z if "/" in k}
    return {name: sp.csr_matrix((z[f"{name}/data"], z[f"{name}/indices"], z[f"{name}/indptr"]), shape=(n, n))
            for name in names}


def too_few_queries(validation) -> str | None:
    """Why a ranker fitted on ``validation`` edges could not be judged (too few queries for its inner validation
    share to reach :data:`MIN_INNER_QUERIES`), or None: checked before fitting, which a small shop need not pay."""
    from dualgnn.ranking.ranker import inner_count

    queries = len(np.unique(validation.src))
    if inner_count(queries) < MIN_INNER_QUERIES:
        return (f"its {queries} validation queries leave fewer than {MIN_INNER_QUERIES} to judge it "
                "(a larger catalog or validation share gives more)")
    return None


def worth_shipping(tuning: dict) -> str | None:
    """None when the fitted ranker should be shipped, else why not. It ships when its inner validation queries are
    enough to judge it and it ranks them at least as well as the GNN alone (MRR@10, then HR@10 on a tie): a second
    stage fitted on a handful of pairs learns their accidents (a phone's co-viewed twins, say) and would serve them.
    """
    queries, figures = tuning.get("inner_queries", 0), tuning.get("validation", {})
    if queries < MIN_INNER_QUERIES:
        return (f"{queries} inner validation queries judge it, fewer than {MIN_INNER_QUERIES} "
                "(a larger catalog or validation share gives more)")
    mine = (figures.get("MRR@10", 0.0), figures.get("HR@10", 0.0))
    gnn = (figures.get("gnn MRR@10", 0.0), figures.get("gnn HR@10", 0.0))
    if mine < gnn:
        return (f"on its inner validation queries it ranks below the GNN alone (MRR@10 {mine[0]:.3f} vs "
                f"{gnn[0]:.3f}, HR@10 {mine[1]:.3f} vs {gnn[1]:.3f})")
    return None


def fit_shipped_ranker(graph: ProductGraph, features, split: Split, result, *, seed: int = 0,
                       params: dict | None = None, saved: dict | None = None,
                       log: Callable[[str], None] = lambda _m: None):
    """The ranker for a model trained on ``split`` (``result``: its TrainResult, or anything with its ``model``
    and ``config``): returns the fitted :class:`~dualgnn.ranking.ranker.RankerScorer` with ``.classic_params``
    (name -> tuned values). ``params``: the classics' values, given instead of tuned on the split; ``saved``: their
    item-item matrices already formed on the split's training edges (:func:`read_served_classics`)."""
    from dualgnn.classics.tuning import tune
    from dualgnn.model.embed import embed_all, training_graph
    from dualgnn.model.inputs import NodeInputs
    from dualgnn.ranking.ranker import fit_ranker

    n = graph.num_products
    cold = np.asarray(split.cold, np.int64) if split.settings.kind == "node" else None
    source, target = embed_all(result.model, training_graph(graph, split, result.config),
                               NodeInputs.from_features(features), cold)
    if params is None:
        params = {}
        for name in RANKER_CLASSICS:
            tuned = tune(name, split.train_copurchase, split.train_coview, split.val_copurchase, n, seed=seed,
                         log=log)
            params[name] = tuned.params
            log(f"tuned {name} on {tuned.pairs:,} validation pairs in {tuned.seconds:.1f}s")
    params = {name: params[name] for name in RANKER_CLASSICS}
    classics = ranker_classics(split.train_copurchase, split.train_coview, n, params, saved=saved)
    inputs = RankInputs.from_split(split, n, source, target, classics, features)
    validation = split.val_copurchase
    queries = np.unique(validation.src)
    if len(queries) > MAX_QUERIES:
        keep = np.random.default_rng([seed, 16]).choice(queries, MAX_QUERIES, replace=False)
        validation = validation.subset(np.isin(validation.src, keep))
    scorer = fit_ranker(inputs, validation, seed=seed, log=log)
    scorer.classic_params = params
    return scorer


def save_shipped_ranker(scorer, directory: Path, graph: ProductGraph) -> None:
    """The ranker (``ranker.txt``, ``ranker.json``) and its classics formed over every edge of the served
    ``graph`` (:data:`SERVED_CLASSICS`)."""
    from dualgnn.ranking.ranker import save_ranker

    save_ranker(scorer, directory, extra={"classic_params": scorer.classic_params})
    save_served_classics(graph, scorer.classic_params, directory)


def copy_shipped_ranker(model_dir: str | Path, directory: Path, graph: ProductGraph) -> None:
    """Carry a model's ranker into the directory of its refreshed vectors (``dualgnn refresh``): the ranker reads
    the refreshed graph's paths, classics and vectors, as it reads a shipped model's whole graph; its classics are
    formed again over the refreshed ``graph``'s edges (:data:`SERVED_CLASSICS`)."""
    import shutil

    from dualgnn.ranking.ranker import check_ranker_file

    if not has_ranker(model_dir):
        return
    params = _classic_params(model_dir)
    check_ranker_file(model_dir, json.loads((Path(model_dir) / "ranker.json").read_text()))
    for name in ("ranker.txt", "ranker.json"):
        shutil.copy2(Path(model_dir) / name, directory / name)
    save_served_classics(graph, params, directory)


def _classic_params(model_dir: str | Path) -> dict:
    """The classics' tuned values a model's ranker was fitted with, in the fitted order (its ``ranker.json``)."""
    path = Path(model_dir) / "ranker.json"
    try:
        meta = json.loads(path.read_text())
        return {name: meta["classic_params"][name] for name in meta["classics"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path} is missing or damaged ({exc})",
                            hint="retrain with `dualgnn train`, or recommend with --gnn-only") from exc


def has_ranker(model_dir: str | Path) -> bool:
    """Whether ``model_dir`` ships a ranker: either of its two files is enough, so a ranker with one file lost is
    refused by name when it is loaded instead of being served as the pure GNN without a word."""
    return any((Path(model_dir) / name).is_file() for name in ("ranker.txt", "ranker.json"))


def load_shipped_ranker(graph: ProductGraph, features, model_dir: str | Path, source: np.ndarray,
                        target: np.ndarray, *, index_kind: str = "auto", index=None, threads: int = 0):
    """The model directory's ranker over the whole of ``graph``: its classics over every edge with their tuned
    values (read from :data:`SERVED_CLASSICS` when formed on these edges, else formed here), ``source`` /
    ``target`` the model's served vectors. ``index``: a callable giving the served target index to retrieve the
    GNN's candidates from (:class:`~dualgnn.ranking.candidates.RankInputs`)."""
    from dualgnn.ranking.ranker import load_ranker

    model_dir = Path(model_dir)
    params = _classic_params(model_dir)
    n = graph.num_products
    classics = ranker_classics(graph.copurchase, graph.coview, n, params,
                               saved=read_served_classics(graph, model_dir))
    whole = whole_graph(graph)
    inputs = RankInputs.from_split(whole, n, source, target, classics, features, index_kind=index_kind,
                                   index=index, threads=threads)
    return load_ranker(model_dir, inputs)
