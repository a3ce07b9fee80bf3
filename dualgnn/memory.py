"""How the process gets memory for big tensors: the lean default, or a faster policy that keeps freed memory.

Why it matters: a whole-graph training step at 1M products allocates and frees about a hundred (n, hidden)
tensors of 256 MB. glibc serves every allocation above 32 MB (a limit ``mallopt`` cannot raise) with a fresh
``mmap`` and unmaps it on free, so the kernel faults in and zeroes every page again on the next step. Measured on
the 1M synthetic catalog (2 cores, ``bench/step_timer.py``, steady-state steps): about 21 s a step with the default
policy (transparent huge pages on, see ``dualgnn/__init__.py``) at 9.0 GB peak, against 13-14 s a step when every
allocation comes from one heap that is never returned, at 14.4 GB peak (a whole ``dualgnn train`` epoch: 236 s
instead of 363-376 s, 19.2 GB peak instead of 11.5 GB): the freed blocks are reused, but the heap fragments. :func:`keep_freed_memory` switches to the second policy, for machines with memory to spare
(``dualgnn train --fast-alloc``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_DEFAULT_MMAP_MAX = 65536
_STATE = {"kept": False}  # keep_freed_memory() has switched the process to the heap for good


def _mallopt():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None, None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return mallopt, trim


@contextmanager
def heap_only():
    """Inside the block big allocations come from the heap, so a tensor freed early in a no-grad pass is reused
    by the next one instead of being unmapped and faulted in again; on exit the policy is restored and the free
    heap is returned to the system (``malloc_trim``). For transient work (inference): its heap holds little more
    than its live tensors, unlike a training step's autograd graph. A no-op where the C library is not glibc."""
    mallopt, trim = _mallopt()
    if _STATE["kept"] or mallopt is None or not mallopt(_M_MMAP_MAX, 0):  # kept: already heap-only for good
        yield
        return
    mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # or a freed block at the top of the heap is trimmed at once
    try:
        yield
    finally:
        # Any mallopt freezes glibc's self-adjusting thresholds, so set them to where a process that has freed
        # big tensors settles anyway: mmap above 32 MB, trim above 64 MB.
        mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
        trim(0)


def keep_freed_memory() -> bool:
    """Serve every allocation from one glibc heap and never give freed memory back to the system.

    Process-wide and not undoable: call it once, early, before the training loop. Returns False (and changes
    nothing) where the C library is not glibc.
    """
    mallopt, _ = _mallopt()
    if mallopt is None:
        return False
    ok = mallopt(_M_ARENA_MAX, 1) and mallopt(_M_MMAP_MAX, 0)
    ok = ok and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    _STATE["kept"] = bool(ok)
    return bool(ok)


__all__ = ["heap_only", "keep_freed_memory"]
