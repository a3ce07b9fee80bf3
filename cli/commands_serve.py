"""`dualgnn serve`: related-product lists over HTTP (FastAPI + uvicorn), one model held in memory."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import app
from cli.options import ArtifactsDir, Index, IndexKind, ModelDir


@app.command("serve")
def serve_command(
    artifacts: ArtifactsDir,
    model: ModelDir,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only; the "
                                                     "/admin endpoints have no authentication).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    in_stock: Annotated[Optional[Path], typer.Option(
        "--in-stock", help="Ids that may be recommended with in_stock_only (one per line); "
                           "replace it at run time with PUT /admin/in-stock.")] = None,
    index: IndexKind = Index.auto,
    gnn_only: Annotated[bool, typer.Option(
        "--gnn-only", help="Serve the GNN's index alone, not the model's ranker (the default when it has one).")] = False,
    threads: Annotated[int, typer.Option(
        "--threads", min=0, max=512, help="CPU threads per request for torch and Faiss (0 = all cores; 1 keeps "
                                          "concurrent requests from fighting over the cores).")] = 1,
) -> None:
    """Serve 'customers also bought' lists over HTTP: GET /v1/related/ID, POST /v1/related, GET /v1/similar/ID,
    POST /v1/cold-start, GET /v1/model, /health, /ready; OpenAPI docs at /docs.

    The model loads once, in the background (/ready answers 503 until it is in).
    POST /admin/reload or SIGHUP loads the model directory again and swaps it in without dropping requests.
    Example: dualgnn serve artifacts/ --model model/ --port 8000
    """
    from dualgnn.artifacts import read_manifest
    from dualgnn.serving.load import read_id_file

    read_manifest(artifacts)  # a wrong path ends here, before a port is taken
    read_manifest(model, kind="model")
    stock = read_id_file(in_stock)[0] if in_stock is not None else None
    if threads > 0:
        import torch

        torch.set_num_threads(threads)

    import uvicorn

    from dualgnn.errors import DualGNNError
    from dualgnn.serving.http.app import build_app
    from dualgnn.serving.http.service import Service

    sock = _listen(host, port)  # before the model loads: a port in use is a plain error, exit 1
    service = Service(artifacts, model, in_stock=stock, index_kind=index.value, threads=threads,
                      ranked=not gnn_only, log=_log, in_stock_path=in_stock)
    config = uvicorn.Config(build_app(service), host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    def first_load() -> None:
        try:
            service.load()
        except Exception as exc:  # noqa: BLE001 - the message is printed by the main thread, then exit 1
            if not isinstance(exc, DualGNNError):
                service.error = DualGNNError(f"loading the model failed: {type(exc).__name__}: {exc}")
            server.should_exit = True

    threading.Thread(target=first_load, name="dualgnn-load", daemon=True).start()
    signal.signal(signal.SIGHUP, lambda signum, frame: service.reload_in_background())
    _log(f"listening on http://{host}:{port} (docs at /docs); loading {model}")
    server.run(sockets=[sock])
    if not service.ready and service.error is not None:
        raise service.error


def _listen(host: str, port: int) -> socket.socket:
    """The bound socket uvicorn serves on (bound here, as uvicorn would, so a failure is our clear error)."""
    from dualgnn.errors import DualGNNError

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DualGNNError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                           hint="pick another --port, or stop what listens there") from exc
    return sock


def _log(line: str) -> None:
    print(f"dualgnn serve: {line}", file=sys.stderr, flush=True)
