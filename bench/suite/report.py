"""The benchmark report: machine facts, growth slopes, the printed table and the JSON files."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table


def machine_facts(threads: int) -> dict:
    """CPU model, cores, RAM, library versions and the thread setting the stages ran with."""
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    ram_gb = None
    try:
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
        ram_gb = round(kb / 2**20, 1)
    except (OSError, StopIteration):
        pass
    versions = {}
    for dist in ("torch", "dgl", "faiss-cpu", "sentence-transformers", "dualgnn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu_model": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "ram_gb": ram_gb, "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "torch_threads": threads, "load_average_start": _load()}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def loglog_slope(n1: float, s1: float, n2: float, s2: float) -> float | None:
    """Slope of log(seconds) against log(products) between two points (1.0 = linear); None when undefined."""
    if min(n1, s1, n2, s2) <= 0 or n1 == n2:
        return None
    return math.log(s2 / s1) / math.log(n2 / n1)


def growth(rows: list[dict]) -> dict[str, list[dict]]:
    """Per stage, the log-log slope of seconds vs products between consecutive measured synthetic sizes.

    Real-data sizes (music) are left out: another catalog would mix data effects into the size effect. Stages
    timed on a fixed sample (MiniLM) are left out too: their seconds do not grow with the catalog.
    """
    out: dict[str, list[dict]] = {}
    for stage in dict.fromkeys(r["stage"] for r in rows):
        points = sorted((r["products"], r["seconds"], r["size"]) for r in rows
                        if r["stage"] == stage and r.get("synthetic") and not r.get("sampled")
                        and r.get("seconds") and r.get("products"))
        out[stage] = [{"from": a[2], "to": b[2], "slope": _round(loglog_slope(a[0], a[1], b[0], b[1]))}
                      for a, b in itertools.pairwise(points)]
    return out


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.{digits}f}"


def _extra_text(row: dict) -> str:
    """The stage-specific figures worth a glance (recall, HR@10, ratio, sample note)."""
    e, parts = row.get("extra", {}), [row["note"]] if row.get("note") else []
    if row["stage"] == "train":
        parts.append(f"{e['epochs_run']} ep, best val HR@10 {e['best_val_hr10'] or 0:.3f} at ep {e['best_epoch']}, "
                     f"{e['seconds_to_best']:.0f}s to best, {row['wall_seconds']:.0f}s wall")
    elif row["stage"] == "topk":
        parts.append(f"{e['index']}, recall@20 {e['recall_at_20']:.3f}, exact {_fmt(e['exact_queries_per_s'])} q/s "
                     f"({e['speedup_vs_exact']}x)")
    elif row["stage"] == "reference" and "ratio_vs_ours" in row:
        parts.append(f"ref epoch est {row['seconds']:.1f}s = {row['ratio_vs_ours']:.2f}x ours, "
                     f"val HR@10 {e.get('val_hr10', 0):.3f}")
    elif row["stage"] == "build":
        parts.append(f"{e['pairs']:,} pairs")
    return "; ".join(parts)


def print_table(rows: list[dict], console: Console | None = None) -> None:
    """One row per size x stage: seconds, throughput, wall/CPU, peak RSS and the extras."""
    table = Table(title="dualgnn benchmark (seconds = the timed work; wall/CPU = the whole stage process)")
    for col, justify in (("size", "left"), ("stage", "left"), ("products", "right"), ("seconds", "right"),
                         ("throughput", "right"), ("wall s", "right"), ("CPU s", "right"), ("peak GB", "right"),
                         ("extra", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for r in rows:
        if r.get("skipped"):
            table.add_row(r["size"], r["stage"], "", "", "", "", "", "", f"skipped: {r['skipped']}")
            continue
        table.add_row(r["size"], r["stage"], f"{r['products']:,}", _fmt(r["seconds"], 2),
                      f"{_fmt(r['throughput'])} {r['unit']}", _fmt(r["wall_seconds"]), _fmt(r["cpu_seconds"]),
                      f"{r['peak_rss_gb']:.2f}", _extra_text(r))
    (console or Console(width=max(160, Console().width))).print(table)


def combine_results(paths: list[Path]) -> dict:
    """One result from several runs (e.g. 1m measured alone): rows of later files replace the same size x stage,
    growth is recomputed over the union. Machine facts are the last file's."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    rows: dict[tuple[str, str], dict] = {}
    for run in runs:
        rows.update({(r["size"], r["stage"]): r for r in run["rows"]})
    merged = list(rows.values())
    return {"combined_from": [str(p) for p in paths], "started": runs[0].get("started"),
            "finished": runs[-1].get("finished"), "settings": [r.get("settings") for r in runs],
            "machine": runs[-1]["machine"], "rows": merged,
            "growth": growth([r for r in merged if not r.get("skipped")])}


def write_results(result: dict, results_dir: Path) -> Path:
    """``run-YYYYmmdd-HHMMSS.json`` and ``latest.json`` in ``results_dir``; returns the first."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    result["machine"]["load_average_end"] = _load()
    text = json.dumps(result, indent=2, default=float) + "\n"
    path = results_dir / f"run-{stamp}.json"
    for target in (path, results_dir / "latest.json"):
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    return path
