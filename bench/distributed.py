"""More than one process on this machine: partitioning, 1 against 2 trainer processes, the parallel export.

Every run is the `dualgnn` command itself in a fresh process (wall seconds, peak RSS of its largest process by
``wait4``); a poller reads each trainer process's own peak (``VmHWM``) from /proc while it runs. Epoch seconds
and validation HR@10 come from the model's history.json (rank 0's clock: the processes step together).

    python bench/distributed.py --graph WORK/1m/graph --epochs 2     # table + bench/results/*.json
    python bench/distributed.py --planted --seeds 0,1,2      # local negatives: 2 parts against 1 process

``WORK/1m/graph`` is the generated 1 M catalog of ``bench/run.py --sizes 1m --stages build --work WORK``. With
``--busy FILE`` it waits while FILE (a note that another job is timing on this machine) exists.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from suite.proc import dualgnn_cmd, run_measured, thread_env  # noqa: E402
from suite.report import machine_facts  # noqa: E402


class PeakPoller:
    """The peak RSS (VmHWM) of every descendant of ``pid`` that runs a dualgnn trainer or export worker, keyed by
    its torch RANK, read every ``every`` seconds until :meth:`stop` (the last reading before a process exits)."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.peaks, self._stop = every, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    self._read(proc)

    def _read(self, proc: Path) -> None:
        try:
            environ = dict(v.split("=", 1) for v in (proc / "environ").read_bytes().decode().split("\0") if "=" in v)
            if "TORCHELASTIC_RUN_ID" not in environ or "RANK" not in environ:
                return
            hwm = next(int(line.split()[1]) for line in (proc / "status").read_text().splitlines()
                       if line.startswith("VmHWM"))
        except (OSError, StopIteration, ValueError):
            return
        rank = int(environ["RANK"])
        self.peaks[rank] = max(self.peaks.get(rank, 0), hwm * 1024)

    def stop(self) -> dict[int, int]:
        self._stop.set()
        self.thread.join()
        return dict(sorted(self.peaks.items()))


def measured(args: list, threads: int) -> dict:
    poller = PeakPoller()
    try:
        res = run_measured(dualgnn_cmd() + [str(a) for a in args], env=thread_env(threads))
    finally:
        peaks = poller.stop()
    return {"wall_s": round(res.wall_seconds, 1), "cpu_s": round(res.cpu_seconds, 1),
            "peak_gb": round(res.peak_rss_bytes / 1e9, 2), "process_peaks_gb": [round(p / 1e9, 2) for p in
                                                                                 peaks.values()],
            "load": [round(x, 2) for x in os.getloadavg()], "stdout_tail": res.stdout[-400:]}


def history(model: Path) -> dict:
    h = json.loads((model / "history.json").read_text())
    return {"epoch_s": [round(r["seconds"], 1) for r in h], "val_hr10": [round(r.get("val_hr10", float("nan")), 4)
                                                                          for r in h]}


def bench_graph(args) -> dict:
    work, graph, e = args.work, args.graph, str(args.epochs)
    work.mkdir(parents=True, exist_ok=True)
    out = {"graph": str(graph), "epochs": args.epochs, "machine": machine_facts(2), "runs": {}}
    parts = {}
    for n in (1, 2):
        parts[n] = work / f"parts{n}"
        run = measured(["partition", graph, "--parts", n, "--out", parts[n], "--quiet"], 2)
        manifest = json.loads((parts[n] / "manifest.json").read_text())
        out["runs"][f"partition-{n}"] = {**run, "parts": manifest["parts"], "seconds": manifest["seconds"]}
        print(f"partition {n}: {run['wall_s']} s, peak {run['peak_gb']} GB, {manifest['parts']}", flush=True)
    # --no-ranker: the distributed trainer fits no second stage, so the single process is timed without it too.
    plan = [("train-1-process (dualgnn train)", ["train", graph, "--out", work / "m-single", "--epochs", e,
                                                 "--no-ranker"], 2),
            ("train-distributed 1 process", ["train-distributed", parts[1], "--out", work / "m-d1", "--epochs", e], 2),
            ("train-distributed 2 processes", ["train-distributed", parts[2], "--out", work / "m-d2", "--epochs", e],
             1)]
    for name, cmd, threads in plan:
        run = measured(cmd + ["--quiet"], threads)
        out["runs"][name] = {**run, **history(Path(cmd[3]))}
        print(name, {k: v for k, v in out["runs"][name].items() if k != "stdout_tail"}, flush=True)
    single = work / "lists.parquet"
    out["runs"]["export 1 process (recommend --all)"] = measured(
        ["recommend", graph, "--model", work / "m-d2", "--all", "--out", single, "--quiet", "--threads", "2"], 2)
    out["runs"]["export-distributed 2 processes"] = measured(
        ["export-distributed", graph, "--model", work / "m-d2", "--out", work / "lists", "--nproc-per-node", "2"], 1)
    import pandas as pd

    out["export_equal"] = bool(pd.read_parquet(single).equals(pd.read_parquet(work / "lists")))
    print("exports equal:", out["export_equal"], flush=True)
    return out


def bench_planted(args) -> dict:
    """Held-out HR@5 / MRR@10 / direction on a bigger planted shop: 1 process against 2 parts (METIS, random)."""
    from dualgnn.metrics import direction_scores, rank_targets
    from dualgnn.model.io import load_model
    from dualgnn.scoring import EmbeddingScorer, adjacency
    from dualgnn.split import Split
    from tests.planted_graph import write_planted_artifacts

    rows = []
    for seed in args.seed_list:
        root = args.work / f"planted-{seed}"
        art, graph, *_ = write_planted_artifacts(root / "graph", groups=16, per_group=6, seed=seed)
        split_args = ["--split", "0.7,0.1,0.2", "--split-seed", seed]
        runs = {"1 process": ["train", art, "--out", root / "m1", *split_args]}
        for method in ("metis", "random"):
            measured(["partition", art, "--parts", 2, "--method", method, "--out", root / f"p-{method}", *split_args],
                     2)
            runs[f"2 parts, {method}"] = ["train-distributed", root / f"p-{method}", "--out", root / f"m-{method}"]
        for name, cmd in runs.items():
            measured(cmd + ["--quiet", "--seed", seed], 2 if name == "1 process" else 1)
            m = load_model(cmd[3])
            split = Split.load(cmd[3] / "split.npz")
            te, tr = split.test_copurchase, split.train_copurchase
            scorer = EmbeddingScorer(m.source, m.target)
            stats = rank_targets(scorer, te.src, te.dst, adjacency(tr.src, tr.dst, graph.num_products)).summary()
            d = direction_scores(scorer, te.src, te.dst)
            rows.append({"seed": seed, "run": name, "HR@5": round(stats["HR@5"], 3), "MRR@10": round(stats["MRR@10"], 3),
                         "direction": round(d["direction_acc"], 3)})
            print(rows[-1], flush=True)
    summary = {}
    for name in dict.fromkeys(r["run"] for r in rows):
        sel = [r for r in rows if r["run"] == name]
        summary[name] = {k: round(float(np.mean([r[k] for r in sel])), 3) for k in ("HR@5", "MRR@10", "direction")}
    return {"rows": rows, "mean": summary, "machine": machine_facts(2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", type=Path, help="graph artifact (e.g. WORK/1m/graph of bench/run.py)")
    ap.add_argument("--planted", action="store_true", help="the local-negatives comparison on a planted shop")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=BENCH / "results" / "work" / "distributed")
    ap.add_argument("--busy", type=Path, default=None, help="wait while this file exists")
    args = ap.parse_args()
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    while args.busy is not None and args.busy.exists():
        print(f"{args.busy} exists ({args.busy.read_text().strip()}); waiting", flush=True)
        time.sleep(60)
    result = bench_planted(args) if args.planted else bench_graph(args)
    name = "distributed-planted" if args.planted else f"distributed-{args.graph.parent.name}"
    path = BENCH / "results" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(result, args.planted)
    print(f"-> {path}")


def print_table(result: dict, planted: bool) -> None:
    if planted:
        print("| run | held-out HR@5 | MRR@10 | direction accuracy |\n|---|---|---|---|")
        for name, m in result["mean"].items():
            print(f"| {name} | {m['HR@5']} | {m['MRR@10']} | {m['direction']} |")
        return
    print("| run | wall s | epoch s (each) | peak GB per process | val HR@10 per epoch | load average after |")
    print("|---|---|---|---|---|---|")
    for name, r in result["runs"].items():
        peaks = ", ".join(map(str, r["process_peaks_gb"])) or str(r["peak_gb"])
        print(f"| {name} | {r['wall_s']} | {', '.join(map(str, r.get('epoch_s', [])))} | {peaks} | "
              f"{', '.join(map(str, r.get('val_hr10', [])))} | {', '.join(map(str, r['load']))} |")


if __name__ == "__main__":
    main()
