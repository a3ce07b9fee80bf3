"""dualgnn: directed related-product recommendations with dual (source / target) embeddings.

The package, in the order data flows through it:

==========================  ==================================================================================
``sources/``                raw files -> products and edge tables (Amazon metadata, generic tables, event logs)
``ids.py``, ``graph.py``    external ids <-> node ids once; the product graph (directed co-purchase, co-view)
``split.py``                seeded train / validation / test splits, saved so every method sees the same one
``build.py``                ``dualgnn build-graph``: raw files -> graph + features -> one artifact directory
``features/``               node inputs: text encoders (sentence model, TF-IDF, hashing), their cache, settings
``model/``                  the dual encoder (inputs, layer, kernels), served vectors, cold start, model
                            directories, the nightly refresh
``training/``               ``dualgnn train``: the loop, its steps and losses, checkpoints, memory policy
``classics/``               popularity, co-occurrence, text kNN and the tuned PageRank / RP3beta / EASE^R / kNN
``ranking/``                the second stage: candidates and pair features re-ranked by LambdaRank
``evaluation/``             ``dualgnn evaluate``: the paper's protocols over every method, and the report
``serving/``                ``dualgnn recommend``: the Faiss index, filters, explanations, tables; ``http/`` is
                            ``dualgnn serve``
``synth/``                  a seeded synthetic shop for tests, demos and benchmarks
``distributed/``            more than one machine: partitions, trainer processes (PyTorch DDP), parallel export
==========================  ==================================================================================

Shared by all: ``errors.py`` (the one user-facing error type), ``config.py`` (the training configuration),
``scoring.py`` (the one ``(ids, scores)`` contract), ``metrics.py`` (full-ranking metrics), ``artifacts.py`` and
``outputs.py`` (atomic, fingerprinted artifacts; what ``--out`` may replace), ``_dgl_compat.py`` (the DGL import
shim).

Importing the package does nothing else: no environment variable is set and neither torch nor DGL is imported
here (``dualgnn --help`` must not pay for them). The modules that need DGL import it through
``dualgnn._dgl_compat``, which fails with :class:`dualgnn._dgl_compat.DGLUnavailableError` and the versions to
install; process-wide memory switches are set by the entry points (``dualgnn.training.memory.use_huge_pages``).
"""

__version__ = "0.1.0"
