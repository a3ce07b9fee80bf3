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

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def keep_freed_memory() -> bool:
    """Serve every allocation from one glibc heap and never give freed memory back to the system.

    Process-wide and not undoable: call it once, early, before the training loop. Returns False (and changes
    nothing) where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_ARENA_MAX, 1) and mallopt(_M_MMAP_MAX, 0)
    ok = ok and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    return bool(ok)


def release_freed_memory() -> bool:
    """Give the heap's free pages back to the system now (glibc ``malloc_trim(0)``). Training calls it after each
    epoch's steps: validation and checkpoints then start from the live memory, not from the steps' high-water
    mark, and the next epoch's first step faults its memory back in. False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


__all__ = ["keep_freed_memory", "release_freed_memory"]
