"""The fast allocation policy keeps freed big tensors' memory for reuse; the default gives it back at once."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import os, sys
from dualgnn.training.memory import keep_freed_memory, release_freed_memory
import torch
ok = keep_freed_memory() if sys.argv[1] != "default" else None
def resident_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
base = resident_mb()
x = torch.ones(40_000_000)  # 160 MB, above glibc's 32 MB mmap ceiling
total = float(x.sum())
del x
if sys.argv[1] == "fast+release":
    release_freed_memory()
print(ok, round(resident_mb() - base), total)
"""


def _run(policy: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", CODE, policy], capture_output=True, text=True, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout.split()


def test_fast_policy_keeps_freed_memory_mapped_for_reuse():
    ok, kept_mb, total = _run("fast")
    assert ok == "True" and total == "40000000.0"
    assert int(kept_mb) > 140  # the freed 160 MB stays in the heap, mapped, for the next big tensor


def test_default_policy_returns_big_tensors_to_the_system():
    _, kept_mb, total = _run("default")
    assert total == "40000000.0" and int(kept_mb) < 20


def test_release_gives_the_kept_memory_back():
    """After an epoch's steps the trainer hands the kept heap back before validation."""
    ok, kept_mb, total = _run("fast+release")
    assert ok == "True" and total == "40000000.0" and int(kept_mb) < 20
