"""A `dualgnn serve` child process on a free 127.0.0.1 port, for tests and benchmarks: waited for until /ready,
always terminated when the block ends.

>>> with served(["artifacts/", "--model", "model/"], cwd=".", log=log) as (url, proc):   # doctest: +SKIP
...     urllib.request.urlopen(f"{url}/v1/related/P01").read()
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):  # not listening yet, or 503 while loading
        return False


@contextmanager
def served(args: list[str], *, cwd: str | Path, log, env: dict | None = None,
           timeout: float = 180.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``python -m cli serve ARGS --port P`` (output to the file ``log``) and yield ``(base url, process)`` once
    it is ready; :class:`RuntimeError` with the server's output if it exits or is not ready within ``timeout``."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", *map(str, args), "--port", str(port)],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                what = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout:.0f} s"
                raise RuntimeError(f"dualgnn serve {what}: {Path(log.name).read_text()}")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
