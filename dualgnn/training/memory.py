"""How the process gets memory for big tensors: jemalloc keeping what it frees, or glibc with two switches.

Why it matters: at 1M products an (n, hidden) float32 tensor is 256 MB. glibc serves every allocation above 32 MB
(a limit ``mallopt`` cannot raise) with a fresh ``mmap`` and returns it on free, so the kernel faults in and zeroes
every page again on the next step: a training step composed by autograd makes dozens of them. jemalloc told to
retain its memory (``MALLOC_CONF=retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1``) hands the same pages back to
the next step instead. The commands that train or propagate over a whole graph (:data:`ALLOCATOR_COMMANDS`) run
under it when the system has libjemalloc (``apt-get install libjemalloc2``): the console entry point starts the
command again with it preloaded (:func:`jemalloc_environment`);
``DUALGNN_ALLOCATOR=system`` keeps glibc. Without it, two glibc switches remain: :func:`use_huge_pages` (set by the
entry point: 2 MB pages, far fewer faults) and :func:`keep_freed_memory` (``dualgnn train --fast-alloc``: one heap
never returned, faster steps at a higher peak). ``python bench/step_timer.py GRAPH_DIR [--fast-alloc]`` measures a
step; the figures are in bench/PERFORMANCE.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys


#: The commands whose work is whole-graph training or propagation: they run under jemalloc when it is installed.
#: Not ``recommend`` / ``export-distributed``: their ranked batches once allocated catalog-sized transients (every
#: product's text norm, known co-purchases padded to the longest list), which made glibc's fresh pages costly
#: and jemalloc's retained ones grow to 24 GB at 1M products. Without them, 19,488 queries of the generated 100k
#: catalog (two threads) took 19.4 s on glibc, 16.8 s under this retaining jemalloc, 21.5 s under jemalloc's
#: defaults: not worth holding every freed page for.
ALLOCATOR_COMMANDS = frozenset({"train", "train-distributed", "evaluate", "refresh"})
JEMALLOC_CONF = "retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1"
_JEMALLOC_PATHS = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
                   "/usr/lib64/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2", "/usr/local/lib/libjemalloc.so.2")


def jemalloc_environment(environ: dict[str, str]) -> dict[str, str] | None:
    """The environment to run a command again with jemalloc preloaded and retaining, or None: the user chose
    (``DUALGNN_ALLOCATOR=system``), it is already preloaded, or no libjemalloc is installed."""
    if environ.get("DUALGNN_ALLOCATOR") in ("system", "jemalloc") or "jemalloc" in environ.get("LD_PRELOAD", ""):
        return None
    library = next((p for p in _JEMALLOC_PATHS if os.path.exists(p)), None)
    if library is None:
        return None
    preload = " ".join(filter(None, [library, environ.get("LD_PRELOAD", "")]))
    return {**environ, "LD_PRELOAD": preload, "MALLOC_CONF": environ.get("MALLOC_CONF", JEMALLOC_CONF),
            "DUALGNN_ALLOCATOR": "jemalloc"}


def allocator_in_use() -> str:
    """"jemalloc" when this process runs on it (it is mapped), else "glibc" (for the manifest)."""
    try:
        return "jemalloc" if "libjemalloc" in open("/proc/self/maps").read() else "glibc"
    except OSError:  # pragma: no cover - not Linux
        return "unknown"


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


__all__ = ["ALLOCATOR_COMMANDS", "allocator_in_use", "jemalloc_environment", "keep_freed_memory",
           "release_freed_memory", "use_huge_pages"]
