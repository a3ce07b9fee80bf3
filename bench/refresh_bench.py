"""The nightly refresh at scale: `dualgnn refresh` on a changed generated catalog, against one training epoch.

Uses the suite's catalog, graph and model of a size (``python bench/run.py --sizes 1m --stages build,train
--reuse --epochs 1m=1`` makes them under bench/results/work/1m), then makes "tonight's" catalog from it: 1% of
the products delisted (with their edges), 1% new products (copies of random products' metadata under new ids,
each bought with and viewed with the copied product's neighbours), builds its graph with the same settings, and
times the refresh in its own process (wall, CPU, peak RSS), twice: on tonight's graph and on the model's own.

    python bench/refresh_bench.py --size 1m          # prints a table, writes bench/results/refresh-*.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from suite.plan import build_inputs, parse_size  # noqa: E402
from suite.proc import dualgnn_cmd, run_measured, thread_env  # noqa: E402


def tonight(catalog: Path, out: Path, share: float = 0.01, seed: int = 0) -> dict:
    """Tonight's tables: ``share`` of products delisted, as many new ones wired like the products they copy."""
    rng = np.random.default_rng(seed)
    products = pd.read_parquet(catalog / "products.parquet")
    cp, cv = (pd.read_parquet(catalog / f"{t}.parquet") for t in ("copurchase", "coview"))
    n = len(products)
    k = int(n * share)
    gone = set(products["product_id"].iloc[rng.choice(n, k, replace=False)])
    twins = products.iloc[rng.choice(n, k, replace=False)]
    new = twins.assign(product_id=[f"NEW{i:07d}" for i in range(k)])
    rename = dict(zip(twins["product_id"], new["product_id"]))
    kept = lambda e: e[~e["src"].isin(gone) & ~e["dst"].isin(gone)]  # noqa: E731
    # A new product is bought before the products its twin is bought before, and viewed with the same ones.
    new_cp = cp[cp["src"].isin(rename)].assign(src=lambda e: e["src"].map(rename))
    new_cv = cv[cv["src"].isin(rename)].assign(src=lambda e: e["src"].map(rename))
    out.mkdir(parents=True, exist_ok=True)
    pd.concat([products[~products["product_id"].isin(gone)], new]).to_parquet(out / "products.parquet", index=False)
    kept(pd.concat([cp, new_cp])).to_parquet(out / "copurchase.parquet", index=False)
    kept(pd.concat([cv, new_cv])).to_parquet(out / "coview.parquet", index=False)
    return {"delisted": k, "added": k, "new_copurchase_rows": len(new_cp), "new_coview_rows": len(new_cv)}


def quick_model(size, steps: int):
    """A shipped model of ``size``'s graph after ``steps`` training steps (made once, in ``model-steps/``): a
    refresh costs the same whatever the weights learnt."""
    out = size.root / "model-steps"
    if not (out / "ids.parquet").exists():
        print("model:", measured([sys.executable, __file__, "--make-model", str(size.graph), str(out), str(steps)],
                                 thread_env(2)))
    return out


def make_model(graph_dir: Path, out: Path, steps: int) -> None:
    """The library calls of `dualgnn train` (production split, served over every edge), with a step budget."""
    from dualgnn.artifacts import graph_fingerprint, load_graph
    from dualgnn.config import TrainConfig
    from dualgnn.features.store import Features
    from dualgnn.model.catalog import write_catalog
    from dualgnn.model.io import save_model
    from dualgnn.split import make_split, production_settings, whole_graph
    from dualgnn.training.loop import train

    graph, features = load_graph(graph_dir), Features.load(graph_dir)
    split = make_split(graph, production_settings())
    config = TrainConfig.preset("default", epochs=1, max_steps_per_epoch=steps)
    result = train(graph, features, split, config, progress=False, serve_split=whole_graph(graph))
    save_model(out, result, graph_fingerprint(graph), features_fingerprint=features.fingerprint(),
               extra=[lambda d: split.save(d / "split.npz"), lambda d: write_catalog(d, graph, features)])


def measured(cmd: list[str], env: dict) -> dict:
    proc = run_measured(cmd, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return {"wall_s": round(proc.wall_seconds, 1), "cpu_s": round(proc.cpu_seconds, 1),
            "peak_gb": round(proc.peak_rss_bytes / 1e9, 2)}


def main() -> None:
    if sys.argv[1:2] == ["--make-model"]:
        return make_model(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1m")
    ap.add_argument("--work", type=Path, default=BENCH / "results" / "work")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0,
                    help="make the model here with only this many training steps (a refresh costs the same whatever "
                         "the weights learnt; for a machine where a full epoch does not fit the time)")
    args = ap.parse_args()
    size = parse_size(args.size, args.work)
    model_dir = quick_model(size, args.steps) if args.steps else size.model
    if not (model_dir / "ids.parquet").exists():
        raise SystemExit(f"no refreshable model at {model_dir}: run `python bench/run.py --sizes {size.label} "
                         f"--stages build,train --reuse --epochs {size.label}=1` first, or pass --steps N")
    env = thread_env(args.threads)
    night = size.root / "tonight"
    t0 = time.perf_counter()
    made = tonight(size.catalog, night / "catalog")
    made["tables_s"] = round(time.perf_counter() - t0, 1)
    inputs = [a.replace(str(size.catalog), str(night / "catalog")) for a in build_inputs(size)]
    build = measured(dualgnn_cmd() + ["build-graph", *inputs, "--encoder", "tfidf", "--out", str(night / "graph"),
                                      "--quiet"], env)
    rows = {}
    for name, graph in (("tonight's graph", night / "graph"), ("the model's own graph", size.graph)):
        rows[name] = measured(dualgnn_cmd() + ["refresh", str(graph), "--model", str(model_dir), "--out",
                                               str(night / "model"), "--threads", str(args.threads)], env)
        if name == "tonight's graph":
            rows[name]["changes"] = json.loads((night / "model" / "manifest.json").read_text())["training"]["changes"]
    history = json.loads((model_dir / "history.json").read_text())
    epoch = float(np.median([h["seconds"] for h in history]))
    print(f"refresh at {size.label} ({args.threads} threads); tonight: {made}; its build-graph {build}")
    print(f"{'refresh on':<24} {'wall s':>8} {'cpu s':>8} {'peak GB':>8} {'x training epoch':>17}")
    for name, row in rows.items():
        ratio = "-" if args.steps else f"{row['wall_s'] / epoch:.2f}"  # a step-budget model has no whole epoch
        print(f"{name:<24} {row['wall_s']:>8.1f} {row['cpu_s']:>8.1f} {row['peak_gb']:>8.2f} {ratio:>17}")
    if "changes" in rows["tonight's graph"]:
        print("what changed:", rows["tonight's graph"]["changes"])
    out = BENCH / "results" / f"refresh-{size.label}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"size": size.label, "tonight": made, "build_graph": build, "refresh": rows,
                               "training_epoch_s": epoch}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
