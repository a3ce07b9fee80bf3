"""Latency and throughput of `dualgnn serve`: warm GET /v1/related at several concurrency levels, and cold start.

Starts the real server (`python -m cli serve`) on 127.0.0.1, waits for /ready, then for each concurrency level
sends warm GET /v1/related/{id} requests from that many clients (ids drawn at random from the catalog, seeded),
and finally one-product POST /v1/cold-start requests (metadata of catalog products under new ids); GET /health at
8 clients gives the HTTP stack's own cost. The load generator runs on the same machine, so its CPU time is
reported next to the server's: with ``--generator wrk`` (the default when ``wrk`` is installed: ``apt-get install
wrk``) it is a C program over keep-alive connections, timed for ``--seconds`` per level with its own latency
percentiles; ``--generator httpx`` sends ``--requests`` per level from Python async clients, which take a good
part of the two cores themselves.

    python bench/serve_bench.py --artifacts /tmp/sv-100k/graph --model /tmp/sv-100k/model

Prints a table and writes JSON to bench/results/serve-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's dualgnn, installed or not

from dualgnn.serving.http.process import served  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run_level(url: str, paths: list[str], clients: int, method: str = "GET", bodies=None) -> dict:
    """Send every request of ``paths`` (with ``bodies`` for POST) from ``clients`` concurrent workers."""
    latencies = np.zeros(len(paths))
    statuses: list[int] = []
    nxt = iter(range(len(paths)))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        async def worker():
            for i in nxt:
                t0 = time.perf_counter()
                if method == "GET":
                    r = await client.get(paths[i])
                else:
                    r = await client.post(paths[i], json=bodies[i])
                latencies[i] = time.perf_counter() - t0
                statuses.append(r.status_code)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    bad = sum(s != 200 for s in statuses)
    return {"clients": clients, "requests": len(paths), "errors": bad, "seconds": round(wall, 3),
            "requests_per_s": round(len(paths) / wall, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 2),
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 2),
            "max_ms": round(float(latencies.max()) * 1e3, 2)}


WRK_SCRIPT = """
local lines, i = {}, 0
for line in io.lines(os.getenv("WRK_LINES")) do lines[#lines + 1] = line end
local method = os.getenv("WRK_METHOD")
request = function()
  i = i % #lines + 1
  if method == "POST" then
    return wrk.format("POST", "/v1/cold-start", {["Content-Type"] = "application/json"}, lines[i])
  end
  return wrk.format("GET", lines[i])
end
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    number = text.rstrip("usm")
    return float(number) * UNITS[text[len(number):]]


def run_wrk(url: str, lines: list[str], clients: int, seconds: float, method: str = "GET") -> dict:
    """``clients`` keep-alive connections from one wrk thread for ``seconds``; its latency percentiles."""
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "requests.lua", Path(tmp) / "lines.txt"
        script.write_text(WRK_SCRIPT)
        data.write_text("\n".join(lines) + "\n")
        env = {**os.environ, "WRK_LINES": str(data), "WRK_METHOD": method}
        out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{int(round(seconds))}s", "--latency", "--timeout", "10s",
                              "-s", str(script), url], env=env, capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            found[parts[0]] = _ms(parts[1])
        elif "requests in" in line:
            found["requests"] = int(parts[0])
            found["seconds"] = float(parts[3].rstrip("s,"))
        elif line.startswith("Non-2xx"):
            found["errors"] = int(parts[-1])
        elif line.startswith("  Socket errors"):
            found["errors"] = found.get("errors", 0) + sum(int(p.rstrip(",")) for p in parts[3::2])
        elif line.startswith("Requests/sec"):
            found["rps"] = float(parts[1])
    return {"clients": clients, "requests": found["requests"], "errors": found.get("errors", 0),
            "seconds": found["seconds"], "requests_per_s": round(found["rps"], 1),
            "p50_ms": round(found["50%"], 2), "p99_ms": round(found["99%"], 2), "max_ms": None}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measured(url: str, pid: int, paths, clients: int, *, generator: str = "httpx", seconds: float = 10.0,
             **kw) -> dict:
    """One level with either load generator, with the server's and the generator's CPU seconds."""
    if generator == "wrk":
        server0, client0 = cpu_seconds(pid), children_cpu()
        lines = [json.dumps(b) for b in kw["bodies"]] if kw.get("method") == "POST" else paths
        row = run_wrk(url, lines, clients, seconds, kw.get("method", "GET"))
        row["server_cpu_s"] = round(cpu_seconds(pid) - server0, 2)
        row["client_cpu_s"] = round(children_cpu() - client0, 2)
        return row
    return measured_httpx(url, pid, paths, clients, **kw)


def measured_httpx(url: str, pid: int, paths, clients: int, **kw) -> dict:
    server0, client0 = cpu_seconds(pid), client_cpu()
    row = asyncio.run(run_level(url, paths, clients, **kw))
    row["server_cpu_s"] = round(cpu_seconds(pid) - server0, 2)
    row["client_cpu_s"] = round(client_cpu() - client0, 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--levels", default="1,8,32", help="concurrent clients, comma-separated")
    ap.add_argument("--requests", type=int, default=2000, help="measured warm requests per level")
    ap.add_argument("--warmup", type=int, default=200, help="warm-up requests per level (not measured)")
    ap.add_argument("--cold", type=int, default=200, help="measured one-product cold-start requests")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="the server's --threads (its default: 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generator", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx")
    ap.add_argument("--seconds", type=float, default=10.0, help="wrk: seconds per level")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--gnn-only", action="store_true", help="serve the GNN's index alone, not the model's ranker")
    args = ap.parse_args()

    products = pd.read_parquet(args.artifacts / "products.parquet")
    rng = random.Random(args.seed)
    ids = products["product_id"].astype(str).tolist()
    gc.freeze()  # the catalog read above must not make the load generator's own collections pause requests
    log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # the server's messages, shown if it fails to start
    cmd = [str(args.artifacts), "--model", str(args.model), "--threads", str(args.threads),
           *(["--gnn-only"] if args.gnn_only else [])]
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    with served(cmd, cwd=REPO, log=log, timeout=900) as (url, proc):
        ready_s = time.perf_counter() - t_start
        info = httpx.get(f"{url}/v1/model").json()
        rows = []
        for clients in (int(c) for c in args.levels.split(",")):
            def paths(n):
                return [f"/v1/related/{rng.choice(ids)}?k={args.k}" for _ in range(n)]

            asyncio.run(run_level(url, paths(args.warmup), clients))
            rows.append({"kind": "warm GET /v1/related", **measured(url, proc.pid, paths(args.requests), clients,
                                                                      generator=args.generator,
                                                                      seconds=args.seconds)})
        # An in-stock list of every other product, then the same warm requests restricted to it.
        put = httpx.put(f"{url}/admin/in-stock", json=ids[::2], timeout=900)
        put.raise_for_status()
        stock = [f"/v1/related/{rng.choice(ids)}?k={args.k}&in_stock_only=true" for _ in range(args.requests)]
        rows.append({"kind": f"in_stock_only ({put.json()['known']:,} ids)",
                     **measured(url, proc.pid, stock, 8, generator=args.generator, seconds=args.seconds)})
        # The HTTP stack's own cost (uvicorn + FastAPI + the client), for comparison: a handler that does nothing.
        rows.append({"kind": "GET /health (HTTP floor)", **measured(url, proc.pid, ["/health"] * args.requests, 8,
                                                                     generator=args.generator,
                                                                     seconds=args.seconds)})
        sample = products.sample(args.cold + 10, random_state=args.seed)
        bodies = [{"products": [{**{c: (None if pd.isna(v) else v) for c, v in row.items() if c != "line"},
                                 "product_id": f"NEW-{i}"}], "k": args.k}
                  for i, row in enumerate(sample.to_dict("records"))]
        asyncio.run(run_level(url, ["/v1/cold-start"] * 10, 1, method="POST", bodies=bodies[:10]))
        rows.append({"kind": "cold-start POST (1 product)",
                     **measured(url, proc.pid, ["/v1/cold-start"] * args.cold, 1, method="POST", bodies=bodies[10:],
                                generator=args.generator, seconds=args.seconds)})
    print(f"dualgnn serve on {info['products']:,} products ({info['index']} index, {info['vector_dim']}-d, "
          f"{'ranker' if info.get('ranker') else 'GNN only'}), "
          f"ready after {ready_s:.1f}s; {os.cpu_count()} cores shared by server and load generator "
          f"({args.generator}); load average before {load_before[0]:.2f}")
    print(f"{'requests':30} {'clients':>7} {'n':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'server cpu s':>12} {'client cpu s':>12}")
    for r in rows:
        print(f"{r['kind']:30} {r['clients']:>7} {r['requests']:>6} {r['errors']:>4} {r['requests_per_s']:>8} "
              f"{r['p50_ms']:>8} {r['p99_ms']:>8} {r['server_cpu_s']:>12} {r['client_cpu_s']:>12}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit.strip(),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "server_args": cmd,
              "generator": args.generator,
              "machine": {"cores": os.cpu_count(), "load_average_before": load_before,
                          "load_average_after": os.getloadavg(),
                          "note": "server and load generator share the cores; other jobs may run too"},
              "model": info, "ready_seconds": round(ready_s, 1), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"serve-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
