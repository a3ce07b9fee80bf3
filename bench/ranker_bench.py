"""The second stage at scale: fitting the ranker (inside `dualgnn train`) and the whole-catalog export with it,
against the GNN alone, on a generated catalog.

Uses the suite's graph of a size (``python bench/run.py --sizes 100k --stages build --work WORK`` makes
``WORK/100k/graph``). Trains a shipped model on it in its own process (``dualgnn train --epochs E``; the ranker's
own fitting time is the manifest's ``training.ranker.seconds``), then times the whole-catalog export with the
model's ranker, as ``dualgnn recommend --all --out FILE.parquet`` (its query batches on ``--threads`` threads) and
as ``dualgnn export-distributed`` (that many processes of one thread), against ``recommend --all --gnn-only``, in
alternating order, each in a fresh process (wall and CPU seconds, peak RSS of all its processes together), and
prints the medians and their ratio to the GNN alone: they run side by side in one sitting, so the ratio holds on
a shared, noisy machine where the absolute seconds may not. At 1M products the model comes from
``bench/ranker_onto_model.py`` (``--reuse``): tuning RP3beta there is the cost.

    python bench/ranker_bench.py --size 100k --work WORK --epochs 2 --repeats 3
    python bench/ranker_bench.py --size 1m --work WORK --reuse --repeats 1 --modes processes

Prints a table and writes ``bench/results/ranker-SIZE-*.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from suite.plan import parse_size  # noqa: E402
from suite.proc import dualgnn_cmd, run_measured, thread_env  # noqa: E402
from suite.report import machine_facts  # noqa: E402

GNN_ONLY = "GNN only (--gnn-only)"
#: name -> (command, flags): ``recommend --all`` (the ranker's query batches on ``--threads`` threads) or
#: ``export-distributed`` (as many processes as threads, one thread each: the same lists as a Parquet dataset).
MODES = {"ranker (default)": ("recommend", []), "ranker, processes": ("export-distributed", []),
         GNN_ONLY: ("recommend", ["--gnn-only"])}


def measured(args: list, env: dict) -> dict:
    res = run_measured(dualgnn_cmd() + [str(a) for a in args], env=env)
    return {"wall_s": round(res.wall_seconds, 1), "cpu_s": round(res.cpu_seconds, 1),
            "peak_gb": round(max(res.peak_rss_bytes, res.peak_total_rss_bytes) / 1e9, 2)}


def train(graph: Path, model: Path, epochs: int, threads: int, env: dict) -> dict:
    """Train a shipped model (GNN and ranker) and read what the ranker cost and scored from its manifest."""
    run = measured(["train", graph, "--out", model, "--epochs", epochs, "--threads", threads, "--quiet"], env)
    ranker = json.loads((model / "manifest.json").read_text())["training"]["ranker"]
    history = json.loads((model / "history.json").read_text())
    return {**run, "epoch_s": [round(h["seconds"], 1) for h in history], "ranker": ranker}


def export(graph: Path, model: Path, root: Path, mode: str, threads: int, env: dict) -> dict:
    command, flags = MODES[mode]
    if command == "export-distributed":
        return measured(["export-distributed", graph, "--model", model, "--out", root / "lists-parts", "-k", 10,
                         "--nproc-per-node", threads, "--threads", 1, "--quiet", *flags], env)
    return measured(["recommend", graph, "--model", model, "--all", "-k", 10, "--out", root / "lists.parquet",
                     "--threads", threads, "--quiet", *flags], env)


def median_of(runs: list[dict]) -> dict:
    return {key: round(statistics.median(r[key] for r in runs), 2) for key in ("wall_s", "cpu_s", "peak_gb")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="100k")
    ap.add_argument("--work", type=Path, default=BENCH / "results" / "work")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="exports per mode (alternating order)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep a model trained by an earlier run")
    ap.add_argument("--modes", default="all", help="comma-separated export modes among: threads, processes "
                    "(the ranker's two), gnn (always run: the reference)")
    args = ap.parse_args()
    size = parse_size(args.size, args.work)
    graph, model = size.root / "graph", size.root / "model-ranked"
    if not (graph / "manifest.json").is_file():
        raise SystemExit(f"no graph at {graph}: run `python bench/run.py --sizes {size.label} --stages build "
                         f"--work {args.work}` first")
    env = thread_env(args.threads)
    result = {"size": size.label, "epochs": args.epochs, "threads": args.threads,
              "machine": machine_facts(args.threads)}
    if args.reuse and (model / "ranker.json").is_file():
        result["train"] = {"reused": str(model),
                           "ranker": json.loads((model / "manifest.json").read_text())["training"]["ranker"]}
    else:
        result["train"] = train(graph, model, args.epochs, args.threads, env)
    ranker = result["train"]["ranker"]
    print(f"train at {size.label}: {json.dumps({k: v for k, v in result['train'].items() if k != 'ranker'})}")
    print(f"ranker: shipped {ranker.get('shipped')}, fitted in {ranker.get('seconds')} s on "
          f"{ranker.get('validation_queries')} queries ({ranker.get('pairs')} pairs), inner validation "
          f"{ranker.get('validation')}" + ("" if ranker.get("shipped") else f"; not shipped: {ranker.get('reason')}"))
    chosen = set(args.modes.split(",")) if args.modes != "all" else {"threads", "processes"}
    picked = {"ranker (default)": "threads", "ranker, processes": "processes"}
    modes = [m for m in MODES if m == GNN_ONLY or (ranker.get("shipped") and picked[m] in chosen)]
    runs = {name: [] for name in modes}
    for r in range(args.repeats):
        for name in (modes if r % 2 == 0 else modes[::-1]):
            runs[name].append(export(graph, model, size.root, name, args.threads, env))
            print(f"export {name} #{r + 1}: {runs[name][-1]}", flush=True)
    result["exports"] = {name: {"runs": rs, "median": median_of(rs)} for name, rs in runs.items()}
    print(f"\nwhole-catalog export at {size.label} ({args.threads} threads, medians of {args.repeats})")
    print(f"{'mode':<24} {'wall s':>8} {'cpu s':>8} {'peak GB':>8} {'x GNN only':>11}")
    base = result["exports"][GNN_ONLY]["median"]
    for name, row in result["exports"].items():
        m = row["median"]
        print(f"{name:<24} {m['wall_s']:>8.1f} {m['cpu_s']:>8.1f} {m['peak_gb']:>8.2f} "
              f"{m['wall_s'] / base['wall_s']:>11.2f}")
    out = BENCH / "results" / f"ranker-{size.label}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
