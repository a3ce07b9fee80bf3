"""Run one command in a fresh process and measure it: wall seconds, CPU seconds (user + sys) and peak RSS.

Why ``os.wait4``: its resource usage covers exactly that child (and the grandchildren it waited for), so a
stage's peak memory is never inflated by an earlier stage, and CLI stages (``dualgnn build-graph``) are measured
the same way as Python stage runners without needing to report anything themselves. Its peak RSS is the largest
single process's, so a command that starts several workers at once (``export-distributed``) also gets the peak of
their sum over the child's process tree, sampled from ``/proc`` every :data:`SAMPLE_SECONDS`
(``peak_total_rss_bytes``; 0 where ``/proc`` is missing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass


SAMPLE_SECONDS = 0.25


class StageError(RuntimeError):
    """A stage process failed (non-zero exit, timeout, or no JSON result line)."""


@dataclass
class ProcResult:
    """What a finished child process cost and printed."""

    wall_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    peak_total_rss_bytes: int = 0

    def last_json(self) -> dict:
        """The JSON object on the last non-empty stdout line (the stage runner's report)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError) as exc:
            raise StageError(f"no JSON result on the last stdout line; stderr tail:\n{self.stderr[-2000:]}") from exc


def thread_env(threads: int) -> dict[str, str]:
    """The environment for a child limited to ``threads`` OpenMP/BLAS threads."""
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def run_measured(cmd: list[str], *, env: dict[str, str], timeout: float | None = None) -> ProcResult:
    """Run ``cmd`` to completion; raise :class:`StageError` when it fails or outlives ``timeout`` seconds."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        timer = threading.Timer(timeout, _kill_group, (proc.pid,)) if timeout else None
        if timer:
            timer.start()
        sampler = _TreePeak(proc.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            sampler.done.set()
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen not to wait again
        out.seek(0)
        err.seek(0)
        sampler.join()
        result = ProcResult(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode,
                            out.read(), err.read(), sampler.peak)
    if result.returncode != 0:
        reason = "timed out" if timeout and wall >= timeout else f"exit code {result.returncode}"
        raise StageError(f"{' '.join(cmd[:4])} ... failed ({reason}); stderr tail:\n{result.stderr[-2000:]}")
    return result


class _TreePeak(threading.Thread):
    """The peak of the summed RSS of the child ``root`` and every process descended from it, sampled. Descent, not
    the session the child started: a launcher may start its workers in sessions of their own (``torch.distributed
    .run`` does), and a 1M ``export-distributed`` read 8.81 GB (one worker's) while its two workers held 16 GB."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak, self.done = root, 0, threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.total())
            self.done.wait(SAMPLE_SECONDS)

    def total(self) -> int:
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return 0
        children, rss = {}, {}
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended meanwhile
            children.setdefault(int(fields[1]), []).append(pid)  # ppid
            rss[pid] = int(fields[21]) * self.page  # resident pages
        total, stack = 0, [self.root]
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack.extend(children.get(pid, ()))
        return total


def _kill_group(pid: int) -> None:
    """End a timed-out stage and whatever it started (it runs in its own session, so only its own group)."""
    try:
        os.killpg(pid, 9)
    except ProcessLookupError:
        pass


def dualgnn_cmd() -> list[str]:
    """How to start the ``dualgnn`` CLI with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "cli"]
