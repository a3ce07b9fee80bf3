"""bench/run.py end to end on a tiny synthetic catalog (the cheap stages), and its growth-slope arithmetic."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# build-graph already runs the TF-IDF encoder; MiniLM (model load) and the reference trainer are the slow ones.
CHEAP_STAGES = ("build", "train", "inference", "topk")


@pytest.fixture(scope="module")
def bench_suite():
    """bench's ``suite`` package imported the way bench/run.py imports it (bench/ on sys.path)."""
    sys.path.insert(0, str(BENCH))
    try:
        import suite.proc
        import suite.report

        yield suite
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def report_module(bench_suite):
    return bench_suite.report


def test_growth_slope_on_made_up_numbers(report_module) -> None:
    """Linear, quadratic and constant costs give slopes 1, 2 and 0; music and sampled rows are left out."""
    rows = [{"stage": "a", "size": s, "products": n, "seconds": n / 1000, "synthetic": True} for s, n in
            (("10k", 10_000), ("100k", 100_000), ("1m", 1_000_000))]
    rows += [{"stage": "b", "size": s, "products": n, "seconds": (n / 1000) ** 2, "synthetic": True} for s, n in
             (("100k", 100_000), ("10k", 10_000))]
    rows += [{"stage": "c", "size": s, "products": n, "seconds": 3.0, "synthetic": True, "sampled": True}
             for s, n in (("10k", 10_000), ("100k", 100_000))]
    rows.append({"stage": "a", "size": "music", "products": 7_419, "seconds": 99.0, "synthetic": False})
    g = report_module.growth(rows)
    assert [(p["from"], p["to"], p["slope"]) for p in g["a"]] == [("10k", "100k", 1.0), ("100k", "1m", 1.0)]
    assert [p["slope"] for p in g["b"]] == [2.0]
    assert g["c"] == []
    assert math.isclose(report_module.loglog_slope(1e4, 2.0, 4e4, 4.0), 0.5)
    assert report_module.loglog_slope(1e4, 0.0, 4e4, 4.0) is None


def test_suite_runs_cheap_stages_on_a_tiny_catalog(tmp_path: Path) -> None:
    """Every cheap stage ends in a row with positive throughput, peak memory, wall and CPU seconds."""
    cmd = [sys.executable, str(BENCH / "run.py"), "--sizes", "300", "--stages", ",".join(CHEAP_STAGES),
           "--epochs", "300=1", "--threads", "1", "--work", str(tmp_path / "work"), "--results", str(tmp_path)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    rows = {r["stage"]: r for r in result["rows"]}
    assert set(rows) == set(CHEAP_STAGES)
    for stage, row in rows.items():
        assert not row.get("skipped"), f"{stage}: {row.get('skipped')}"
        assert row["products"] == 300
        assert row["throughput"] > 0 and row["peak_rss_gb"] > 0, row
        assert row["wall_seconds"] > 0 and row["cpu_seconds"] > 0, row
    assert rows["topk"]["extra"]["recall_at_20"] == 1.0  # 300 products: the exact index is chosen
    assert set(result["growth"]) == set(CHEAP_STAGES)
    assert result["machine"]["cores"] >= 1 and result["machine"]["versions"]["torch"]
    assert list(tmp_path.glob("run-*.json"))
    # The step timer on the graph the suite just built: one warm-up and one timed step, reported as JSON.
    graph = tmp_path / "work" / "300" / "graph"
    assert (graph / "manifest.json").is_file()
    done = subprocess.run([sys.executable, str(BENCH / "step_timer.py"), str(graph), "--steps", "1", "--threads", "1"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    assert timing["products"] == 300 and len(timing["steps"]) == 2
    assert timing["median_step_s"] > 0 and timing["peak_rss_gb"] > 0


def test_peak_memory_sums_workers_that_leave_the_session(bench_suite) -> None:
    """A launcher whose two workers start sessions of their own (as torch.distributed.run's do): the measured total
    holds both workers' memory, not one process's."""
    if not Path("/proc").is_dir():
        pytest.skip("no /proc to sample")
    worker = "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(2.0)"
    launcher = ("import subprocess, sys; ps = [subprocess.Popen([sys.executable, '-c', %r], start_new_session=True)"
                " for _ in range(2)]; [p.wait() for p in ps]") % worker
    res = bench_suite.proc.run_measured([sys.executable, "-c", launcher], env={"PATH": "/usr/bin:/bin"})
    # wait4's own peak is one process's (and, on Linux, starts from the forking parent's size): not asserted.
    assert res.peak_total_rss_bytes > 400 * 2**20  # both workers at once
