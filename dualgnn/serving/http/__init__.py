"""``dualgnn serve``: related products over HTTP from one model held in memory.

* :mod:`dualgnn.serving.http.snapshot` loads one model (graph, vectors, Faiss indexes, explainer, cold-start pass) into an
  immutable :class:`~dualgnn.serving.http.snapshot.Snapshot` and answers queries against it as plain dicts;
* :mod:`dualgnn.serving.http.service` holds the current snapshot and swaps it atomically (reload, in-stock list);
* :mod:`dualgnn.serving.http.app` is the thin FastAPI layer (the only module here that imports FastAPI).
"""
