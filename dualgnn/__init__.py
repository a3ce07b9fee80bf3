"""dualgnn: directed related-product recommendations with dual (source / target) embeddings.

Pipeline: raw files (``dualgnn.sources``) -> graph (``dualgnn.graph``) -> features (``dualgnn.features``) ->
model and training -> evaluation -> recommendations. Importing the package checks that DGL loads.
"""

import os

# Transparent huge pages for torch's big CPU tensors: torch's own switch (c10 alloc_cpu), read once at its first
# allocation, so it is set here, before torch is imported. At 1M products every (n, hidden) tensor is a fresh
# 256 MB mmap whose 4 KB pages the kernel faults in and zeroes one by one; with 2 MB pages a training step took
# 20.6 s instead of 29.3 s (bench/step_timer.py, 1M synthetic catalog, steady state), at the same peak memory.
# Set THP_MEM_ALLOC_ENABLE=0 to turn it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from dualgnn._dgl_compat import DGLUnavailableError, dgl  # noqa: E402,F401  (fails early with a clear message)

__version__ = "0.1.0"
