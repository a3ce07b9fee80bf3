"""Give a trained model (GNN only) the shipped ranker, for the export benchmark at a size where tuning is the cost.

``dualgnn train`` fits the ranker after tuning its classic (RP3beta) on the validation slice. On the generated 1M
catalog that tuning is the cost: about 12 minutes for each of RP3beta's eight structures (its profile rows reach
far through that graph's hubs), some 100 minutes before the ranker itself. This script takes a trained model's
copy and fits its ranker exactly as ``train`` does (``ranking/production.py: fit_shipped_ranker``: the model's own
validation slice and training graph, the same candidates, features and cross-validation), with the classic's values
read from another model's ``ranker.json`` (a smaller catalog of the same generator, tuned there) instead of tuned
again. The copy's manifest records the fit under ``training.ranker``, as ``train`` would, with ``classic_params_from``.
``--classics-cache DIR`` keeps the classic's item-item matrices (over the split's training edges and over every
edge, each keyed by a hash of its edges) between runs: at 1M products each takes tens of minutes to form.

    python bench/ranker_onto_model.py --graph WORK/1m/graph --model WORK/1m/model-final \\
        --params-from WORK/100k/model-ranked --out WORK/1m/model-ranked
    python bench/ranker_bench.py --size 1m --work WORK --reuse --repeats 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from dualgnn.artifacts import load_graph, write_json  # noqa: E402
from dualgnn.features.store import Features  # noqa: E402
from dualgnn.model.io import load_model  # noqa: E402
from dualgnn.ranking.production import (  # noqa: E402
    SERVED_CLASSICS, fit_shipped_ranker, read_served_classics, save_served_classics, save_shipped_ranker,
    worth_shipping)
from dualgnn.ranking.ranker import save_ranker  # noqa: E402
from dualgnn.split import Split  # noqa: E402


def cached_classics(directory: Path, graph, params: dict) -> dict:
    """The classics' matrices over ``graph``'s edges from ``directory``, formed and written there first when absent
    or formed on other edges."""
    saved = read_served_classics(graph, directory)
    if not saved:
        t0 = time.perf_counter()
        directory.mkdir(parents=True, exist_ok=True)
        save_served_classics(graph, params, directory)
        saved = read_served_classics(graph, directory)
        print(f"formed the classics over {len(graph.copurchase):,} co-purchase edges in "
              f"{time.perf_counter() - t0:.1f}s -> {directory}", flush=True)
    return saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True, help="a trained model directory (left unchanged)")
    ap.add_argument("--params-from", type=Path, required=True, help="a model directory whose ranker.json holds "
                    "the classics' tuned values")
    ap.add_argument("--out", type=Path, required=True, help="the copy to write (must not exist)")
    ap.add_argument("--classics-cache", type=Path, help="a directory keeping the classic's formed matrices")
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: give a new directory")
    params = json.loads((args.params_from / "ranker.json").read_text())["classic_params"]
    t0 = time.perf_counter()
    graph = load_graph(args.graph)
    features = Features.load(args.graph)
    loaded = load_model(args.model)
    split = Split.load(args.model / "split.npz", graph)
    print(f"loaded in {time.perf_counter() - t0:.1f}s; fitting the ranker on {len(split.val_copurchase):,} "
          f"validation edges with {params}", flush=True)
    t1 = time.perf_counter()
    train_graph = dataclasses.replace(graph, copurchase=split.train_copurchase, coview=split.train_coview)
    saved = cached_classics(args.classics_cache / "train", train_graph, params) if args.classics_cache else None
    ranker = fit_shipped_ranker(graph, features, split, SimpleNamespace(model=loaded.model, config=loaded.config),
                                seed=loaded.config.seed, params=params, saved=saved,
                                log=lambda m: print(m, flush=True))
    seconds = time.perf_counter() - t1
    tmp = args.out.with_name(args.out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(args.model, tmp)
    if args.classics_cache:
        cached_classics(args.classics_cache / "whole", graph, params)
        save_ranker(ranker, tmp, extra={"classic_params": ranker.classic_params})
        shutil.copy2(args.classics_cache / "whole" / SERVED_CLASSICS, tmp / SERVED_CLASSICS)
    else:
        save_shipped_ranker(ranker, tmp, graph)
    manifest = json.loads((tmp / "manifest.json").read_text())
    reason = worth_shipping(ranker.tuning)
    manifest["training"]["ranker"] = {"shipped": reason is None, **({"reason": reason} if reason else {}),
                                      **ranker.tuning, "classic_params_from": str(args.params_from),
                                      "fit_seconds_with_features": round(seconds, 1)}
    write_json(tmp / "manifest.json", manifest)
    tmp.rename(args.out)
    print(f"ranker fitted in {seconds:.1f}s (features, classics and LightGBM); wrote {args.out}")


if __name__ == "__main__":
    main()
