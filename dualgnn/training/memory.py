"""How the process gets memory for big tensors: the lean default, or a faster policy that keeps freed memory.

Why it matters: at 1M products an (n, hidden) float32 tensor is 256 MB. glibc serves every allocation above 32 MB
(a limit ``mallopt`` cannot raise) with a fresh ``mmap`` and returns it on free, so the kernel faults in and zeroes
every page again on the next step. The training step keeps almost all of its (n, h) buffers itself
(dualgnn/model/fused.py); what is left (outputs, the loss's gradients, allocations
inside torch's kernels) still costs kernel time. Two switches act on it: :func:`use_huge_pages` (the default, set
by the entry points: 2 MB pages, far fewer faults) and :func:`keep_freed_memory` (``dualgnn train --fast-alloc``:
every allocation from the first step on comes from one heap that is never returned, faster steps at a higher
peak, for machines with memory to spare). The measured step times and peaks of both are in README
"Performance"; ``python bench/step_timer.py GRAPH_DIR [--fast-alloc]`` measures them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys


def use_huge_pages() -> bool:
    """Ask torch for transparent huge pages behind its big CPU tensors (its own switch, ``THP_MEM_ALLOC_ENABLE``).

    torch reads the variable once, at its first allocation, so entry points call this before importing torch; it
    returns False (and changes nothing) when torch is already imported or the user set the variable (``=0`` turns
    huge pages off). Why: with 4 KB pages the kernel faults in and zeroes every page of each fresh 256 MB tensor
    at 1M products; the figures are in README "Performance" (``bench/step_timer.py``).
    """
    if "torch" in sys.modules or "THP_MEM_ALLOC_ENABLE" in os.environ:
        return False
    os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    return True


# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def _glibc(name: str, argtypes: list):
    """The C library's function ``name`` (ctypes, int result), or None where it is not glibc's."""
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return fn


def keep_freed_memory() -> bool:
    """Serve every allocation from one glibc heap and never give freed memory back to the system.

    Process-wide and not undoable: call it once, early, before the training loop. Returns False (and changes
    nothing) where the C library is not glibc.
    """
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    ok = mallopt(_M_ARENA_MAX, 1) and mallopt(_M_MMAP_MAX, 0)
    ok = ok and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    return bool(ok)


def release_freed_memory() -> bool:
    """Give the heap's free pages back to the system now (glibc ``malloc_trim(0)``). Training calls it after each
    epoch's steps: validation and checkpoints then start from the live memory, not from the steps' high-water
    mark, and the next epoch's first step faults its memory back in. False where the C library is not glibc."""
    trim = _glibc("malloc_trim", [ctypes.c_size_t])
    if trim is None:
        return False
    trim(0)
    return True


__all__ = ["keep_freed_memory", "release_freed_memory"]
