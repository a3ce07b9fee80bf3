"""Benchmark suite: build-graph, feature encoding, training, reference training, inference and top-k export on
synthetic catalogs of 10k / 100k / 1M products and on the shared digital-music data.

Every stage runs in its own fresh process, so its peak RSS, wall and CPU seconds are its own. CLI stages
(build-graph, train) are the ``dualgnn`` commands themselves; the others re-enter this file with ``--stage``
and print their metrics as JSON on the last stdout line. Results: a table on stdout, and
``bench/results/run-YYYYmmdd-HHMMSS.json`` + ``bench/results/latest.json``.

    python bench/run.py --sizes 10k                       # the quick run (make bench): 82 s on 2 idle cores
    python bench/run.py --sizes 10k,100k,1m,music         # the full suite, ~35 min (1m needs 12 GB RAM)
    python bench/run.py --sizes 10k --stages build,train --reuse
    python bench/run.py --combine bench/results/run-A.json bench/results/run-B.json   # one table, growth over both
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # suite/, reference.py
sys.path.insert(1, str(BENCH.parent))  # dualgnn, when run without installing

from suite.plan import (
    Size,
    budget_for,
    build_stage,
    ensure_catalog,
    history_summary,
    parse_size,
    train_edges,
    train_stage,
)
from suite.proc import ProcResult, StageError, run_measured, thread_env
from suite.report import (
    combine_results,
    growth,
    machine_facts,
    print_table,
    write_results,
)

STAGES = ("build", "features-tfidf", "features-minilm", "train", "reference", "inference", "topk")
DEFAULT_EPOCHS = "10k=1,100k=6,1m=2,music=8"
DEFAULT_REFERENCE_BUDGET = "10k=15,100k=60,1m=120,music=30"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10k,100k,1m,music", help="comma list of 10k, 100k, 1m, music")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma subset of {', '.join(STAGES)}")
    ap.add_argument("--work", type=Path, default=BENCH / "results" / "work", help="catalogs, graphs and models")
    ap.add_argument("--results", type=Path, default=BENCH / "results", help="where the JSON files go")
    ap.add_argument("--reuse", action="store_true",
                    help="keep existing catalogs; skip build/train (not measured) when their output exists")
    ap.add_argument("--repeats", type=int, default=1, help="runs of the cheap stages (medians are quoted)")
    ap.add_argument("--threads", type=int, default=2, help="torch / Faiss / OpenMP threads per stage")
    ap.add_argument("--epochs", default=DEFAULT_EPOCHS,
                    help=f"per-size epoch budgets LABEL=E over the defaults {DEFAULT_EPOCHS} (others: 2)")
    ap.add_argument("--reference-budget", default=DEFAULT_REFERENCE_BUDGET,
                    help=f"per-size reference-trainer seconds LABEL=S over {DEFAULT_REFERENCE_BUDGET} (others: 15)")
    ap.add_argument("--stage-timeout", type=float, default=None, help="seconds before a stage is killed")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                    help="measure nothing: merge earlier result files (later ones win) and recompute growth")
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one child stage
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.stage_list = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(args.stage_list) - set(STAGES))
    if unknown:
        ap.error(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    try:
        args.size_list = [parse_size(s, args.work) for s in args.sizes.split(",") if s.strip()]
        for spec in (args.epochs, args.reference_budget):  # fail now on a malformed spec, not mid-run
            budget_for(spec, "", 0)
    except ValueError as exc:
        ap.error(str(exc))
    if args.repeats < 1 or args.threads < 1:
        ap.error("--repeats and --threads must be at least 1")
    return args


def row_from(size: Size, stage: str, proc: ProcResult, metrics: dict, products: int) -> dict:
    """One result row: the stage's metrics plus what its process cost."""
    seconds, count = float(metrics["seconds"]), float(metrics["count"])
    return {"size": size.label, "stage": stage, "products": int(metrics.get("products", products)),
            "synthetic": size.synthetic, "sampled": bool(metrics.get("sampled")),
            "seconds": round(seconds, 4), "count": count, "unit": metrics["unit"],
            "throughput": round(count / seconds, 2) if seconds > 0 else None,
            "wall_seconds": round(proc.wall_seconds, 2), "cpu_seconds": round(proc.cpu_seconds, 2),
            "peak_rss_gb": round(proc.peak_rss_bytes / 1e9, 3), "note": metrics.get("note", ""),
            "extra": metrics.get("extra", {}), "self_report": metrics.get("self_report")}


def child_stage(stage: str, job: dict, args: argparse.Namespace) -> tuple[ProcResult, dict]:
    """Run a Python stage body in a fresh ``python bench/run.py --stage`` process."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--job", json.dumps(job)]
    proc = run_measured(cmd, env=thread_env(args.threads), timeout=args.stage_timeout)
    return proc, proc.last_json()


def child_job(size: Size, args: argparse.Namespace) -> dict:
    """What a child stage needs: paths, repeats, threads, the reference budget, our training edge count."""
    budget = budget_for(args.reference_budget, size.label, budget_for(DEFAULT_REFERENCE_BUDGET, size.label, 15))
    return {"graph": str(size.graph), "model": str(size.model), "repeats": args.repeats, "threads": args.threads,
            "budget_seconds": budget, "train_edges": train_edges(size.model)}


def products_of(size: Size) -> int:
    """Products in a size's graph (the manifest count)."""
    return int(json.loads((size.graph / "manifest.json").read_text())["counts"]["products"])


def reused(size: Size, stage: str, args: argparse.Namespace) -> bool:
    """True when ``--reuse`` lets this CLI stage be skipped because its output is already there."""
    target = size.graph if stage == "build" else size.model
    return args.reuse and (target / "manifest.json").is_file()


def measure_stage(size: Size, stage: str, args: argparse.Namespace) -> dict:
    """Measure one stage of one size; a row (``skipped`` set when it did not run)."""
    env = thread_env(args.threads)
    if stage in ("build", "train") and reused(size, stage, args):
        return {"size": size.label, "stage": stage, "skipped": "reused existing output (--reuse)"}
    if stage == "build":
        proc, metrics = build_stage(size, env, args.stage_timeout)
        return row_from(size, stage, proc, metrics, metrics["products"])
    if not (size.graph / "manifest.json").is_file():
        return {"size": size.label, "stage": stage, "skipped": "no graph: run the build stage first"}
    n = products_of(size)
    if stage == "train":
        epochs = int(budget_for(args.epochs, size.label, budget_for(DEFAULT_EPOCHS, size.label, 2)))
        proc, metrics = train_stage(size, epochs, args.threads, env, args.stage_timeout)
        return row_from(size, stage, proc, metrics, n)
    if stage in ("inference", "topk") and not (size.model / "manifest.json").is_file():
        return {"size": size.label, "stage": stage, "skipped": "no model: run the train stage first"}
    proc, metrics = child_stage(stage, child_job(size, args), args)
    if metrics.get("skipped"):
        return {"size": size.label, "stage": stage, "skipped": metrics["skipped"]}
    row = row_from(size, stage, proc, metrics, n)
    return with_reference_ratio(row, size) if stage == "reference" else row


def with_reference_ratio(row: dict, size: Size) -> dict:
    """ratio_vs_ours = reference epoch-seconds estimate / median epoch seconds of the size's model (trained now
    or reused); above 1 means our trainer is faster."""
    history = size.model / "history.json"
    if history.is_file():
        ours = history_summary(json.loads(history.read_text()))["median_epoch_seconds"]
        row["ratio_vs_ours"] = round(row["seconds"] / ours, 3)
    return row


def run_suite(args: argparse.Namespace) -> dict:
    """Every selected stage of every selected size, in pipeline order; failures become skipped rows."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = machine_facts(args.threads)  # before the run: the load average at start is part of the facts
    rows: list[dict] = []
    for size in args.size_list:
        ensure_catalog(size, thread_env(args.threads), args.reuse)
        for stage in (s for s in STAGES if s in args.stage_list):
            print(f"[{time.strftime('%H:%M:%S')}] {size.label}: {stage}", file=sys.stderr, flush=True)
            try:
                rows.append(measure_stage(size, stage, args))
            except (StageError, OSError, ValueError, KeyError) as exc:
                rows.append({"size": size.label, "stage": stage, "skipped": f"failed: {exc}"})
                print(f"  {stage} failed: {exc}", file=sys.stderr, flush=True)
    measured = [r for r in rows if not r.get("skipped")]
    return {"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {"sizes": [s.label for s in args.size_list], "stages": args.stage_list,
                         "repeats": args.repeats, "threads": args.threads, "epochs": args.epochs,
                         "reference_budget": args.reference_budget, "reuse": args.reuse, "work": str(args.work)},
            "machine": machine, "rows": rows, "growth": growth(measured)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.stage:
        from suite.stages import run_child

        run_child(args.stage, args.job or "{}")
        return
    t0 = time.perf_counter()
    result = combine_results(args.combine) if args.combine else run_suite(args)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    path = write_results(result, args.results)
    print_table(result["rows"])
    print(f"growth (log-log slope of seconds vs products, 1.0 = linear): {json.dumps(result['growth'])}")
    done = f"combined {len(args.combine)} runs" if args.combine else f"{result['total_seconds']:.0f}s in all"
    print(f"{done} -> {path} (and latest.json)")
    if result["machine"].get("load_average_start", [0])[0] > result["machine"]["cores"]:
        print("note: the machine was loaded (load average above the core count): wall times are upper bounds, "
              "CPU seconds are the steadier figure")


if __name__ == "__main__":
    main()
