"""dualgnn: directed related-product recommendations with dual (source / target) embeddings.

Pipeline: raw files (``dualgnn.sources``) -> graph (``dualgnn.graph``) -> features (``dualgnn.features``) ->
model and training -> evaluation -> recommendations. Importing the package checks that DGL loads.
"""

from dualgnn._dgl_compat import DGLUnavailableError, dgl  # noqa: F401  (fails early with a clear message)

__version__ = "0.1.0"
