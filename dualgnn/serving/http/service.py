"""The served state: the current :class:`~dualgnn.serving.http.snapshot.Snapshot`, replaced atomically.

A reload (``POST /admin/reload`` or SIGHUP) builds a whole new snapshot from the same artifact and model paths
while the old one keeps answering, then swaps one reference under a lock. A request takes the reference once
(:attr:`Service.snapshot`) and keeps using that snapshot to the end, so requests in flight never see a half-built
model; the old snapshot is freed when the last of them finishes. A failed reload changes nothing and is reported.

>>> service = Service("artifacts/", "model/")   # doctest: +SKIP
>>> service.load(); service.snapshot.info["model_id"]   # doctest: +SKIP
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dualgnn.errors import DualGNNError, InputError
from dualgnn.serving.http.snapshot import ConflictError, Snapshot, utc_now


class NotReadyError(DualGNNError):
    """No model is loaded yet (the first load is still running, or it failed)."""


class Service:
    """Holds the current snapshot for ``artifacts`` + ``model_dir``; ``in_stock`` ids survive reloads."""

    def __init__(self, artifacts: str | Path, model_dir: str | Path, *, in_stock: list[str] | None = None,
                 index_kind: str = "auto", threads: int = 1, ranked: bool = True,
                 log: Callable[[str], None] = lambda line: None, in_stock_path: str | Path | None = None) -> None:
        self.artifacts, self.model_dir, self.log = Path(artifacts), Path(model_dir), log
        self.index_opts = {"index_kind": index_kind, "threads": threads, "ranked": ranked}
        self._stock_ids = in_stock
        self._stock_path = in_stock_path  # the file ``in_stock`` came from (named if it matches no product)
        self._snapshot: Snapshot | None = None
        self._swap = threading.Lock()    # guards the one reference assignment
        self._change = threading.Lock()  # one reload or in-stock change at a time
        self.last_reload: dict | None = None
        self.error: DualGNNError | None = None  # why the first load failed

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot(self) -> Snapshot:
        snap = self._snapshot  # one read: the caller keeps this snapshot even if a reload swaps meanwhile
        if snap is None:
            raise NotReadyError("the model is still loading" if self.error is None else f"no model: {self.error}")
        return snap

    def _set(self, snap: Snapshot) -> None:
        with self._swap:
            self._snapshot = snap
        # The loaded model is millions of long-lived objects: left to the cyclic collector, every full collection
        # walks them all, a pause in some request. Frozen, they are skipped (refcounting still frees them). Each
        # swap first unfreezes and collects, so the previous model's reference cycles are freed: one pause per
        # swap instead of one at random.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def _build(self) -> tuple[Snapshot, str]:
        """A new snapshot of the configured paths (with the current in-stock ids), and a note on the stock list."""
        snap = Snapshot.load(self.artifacts, self.model_dir, **self.index_opts)
        if self._stock_ids is None:
            return snap, ""
        try:
            snap, counts = snap.with_in_stock(self._stock_ids)
        except InputError as exc:
            if self._snapshot is not None or self._stock_path is None:
                raise
            raise InputError(exc.message.replace("in-stock ids", "ids", 1), path=self._stock_path,
                             hint="list catalog product ids, one per line, or start without --in-stock and "
                                  "PUT /admin/in-stock later") from exc
        return snap, f"in stock: {counts['known']:,} products ({counts['unknown']:,} ids not in the catalog)"

    def load(self) -> None:
        """The first load (raises what went wrong; the CLI stops the server with that message)."""
        with self._change:
            t0 = time.perf_counter()
            try:
                snap, note = self._build()
            except DualGNNError as exc:
                self.error = exc
                raise
            self._set(snap)
        self.log(f"loaded {snap.info['model_dir']} (model {snap.info['model_id']}, {snap.info['products']:,} "
                 f"products, {snap.info['index']} index) in {time.perf_counter() - t0:.1f}s" + (f"; {note}" if note else ""))

    def reload(self) -> dict:
        """Build the model anew and swap it in; on failure the old one keeps serving. Returns the outcome."""
        if not self._change.acquire(blocking=False):
            raise ConflictError("a reload or in-stock change is already running", hint="retry when it is done")
        try:
            t0 = time.perf_counter()
            try:
                snap, _ = self._build()
            except Exception as exc:  # noqa: BLE001 - whatever broke the new model, the old one keeps serving
                message = str(exc) if isinstance(exc, DualGNNError) else f"{type(exc).__name__}: {exc}"
                self.last_reload = {"ok": False, "at": utc_now(), "error": message}
                self.log(f"reload failed, still serving the previous model: {message}")
                return self.last_reload
            previous = self._snapshot.info["model_id"] if self._snapshot else None  # no reference kept to it
            self._set(snap)
            self.last_reload = {"ok": True, "at": utc_now(), "model_id": snap.info["model_id"],
                                "previous_model_id": previous,
                                "seconds": round(time.perf_counter() - t0, 3)}
            self.log(f"reloaded: model {self.last_reload['previous_model_id']} -> {snap.info['model_id']}")
            return self.last_reload
        finally:
            self._change.release()

    def reload_in_background(self) -> None:
        """What SIGHUP does: a reload in its own thread (a signal handler must not block the server)."""
        def run() -> None:
            try:
                self.reload()
            except ConflictError as exc:
                self.log(f"SIGHUP ignored: {exc.message}")

        threading.Thread(target=run, name="dualgnn-reload", daemon=True).start()

    def set_in_stock(self, product_ids: list[str] | None) -> dict:
        """Replace the in-stock list (``None`` clears it); its indexes are built before the swap."""
        with self._change:
            if product_ids is None:
                new, counts = self.snapshot.without_in_stock(), {"known": None, "unknown": 0}
            else:
                new, counts = self.snapshot.with_in_stock(product_ids)
            self._stock_ids = product_ids
            self._set(new)
        return counts

    def model(self) -> dict:
        """What ``GET /v1/model`` answers: the served model's identity and the last reload's outcome."""
        return {**self.snapshot.info, "last_reload": self.last_reload}
