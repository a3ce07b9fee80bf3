"""dualgnn: directed related-product recommendations with dual (source / target) embeddings.

Pipeline: raw files (``dualgnn.sources``) -> graph (``dualgnn.graph``) -> features (``dualgnn.features.build``) ->
model and training -> evaluation -> recommendations.

Importing the package does nothing else: no environment variable is set and neither torch nor DGL is imported
here (``dualgnn --help`` must not pay for them). The modules that need DGL import it through
``dualgnn._dgl_compat``, which fails with :class:`dualgnn._dgl_compat.DGLUnavailableError` and the versions to
install; process-wide memory switches are set by the entry points (``dualgnn.training.memory.use_huge_pages``).
"""

__version__ = "0.1.0"
