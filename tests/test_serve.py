"""`dualgnn serve` end to end: the real server process on 127.0.0.1, spoken to over HTTP with httpx.

Known answers come from the hand-made planted model of test_recommend (phones lead to cases, never back; no
weights needed); cold start needs real weights, so a tiny catalog is built and trained through the CLI, and the
server's cold-start lists must equal what `dualgnn recommend --new-products` prints for the same product.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from dualgnn.serving.http.process import free_port, served
from tests.conftest import REPO
from tests.test_cli import dualgnn
from tests.test_recommend import planted, write_artifacts, write_model

ENV = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
START_TIMEOUT = 180  # seconds to /ready; the test machine's 2 cores are shared
NEW_PHONE = {"product_id": "NEW-1", "title": "Nexo Edge 9 Smartphone, 128GB", "category": "Electronics > Smartphones",
             "brand": "Nexo", "price": 699.0}


@contextmanager
def server(art, model, *extra, tmp):
    """A running `dualgnn serve` (ready), its base URL and process; terminated however the test ends."""
    with open(tmp / f"serve-{time.monotonic_ns()}.log", "w+") as log:
        with served([art, "--model", model, *extra], cwd=REPO, log=log, env=ENV, timeout=START_TIMEOUT) as (url, proc):
            proc.log_path = Path(log.name)
            yield url, proc


def recs(answer: dict) -> list[str]:
    return [r["product_id"] for r in answer["recommendations"]]


@pytest.fixture(scope="module")
def planted_dirs(tmp_path_factory):
    from dualgnn.artifacts import graph_fingerprint

    tmp = tmp_path_factory.mktemp("planted")
    graph, s, t = planted()
    art = write_artifacts(tmp, graph)
    model = write_model(tmp / "model", s, t, graph_fingerprint(graph))
    return tmp, art, model


@pytest.fixture(scope="module")
def planted_server(planted_dirs):
    tmp, art, model = planted_dirs
    stock = tmp / "stock.txt"
    stock.write_text("c0\nc1\nw0\nghost\n")
    with server(art, model, "--in-stock", stock, tmp=tmp) as (url, proc):
        yield url, proc


def test_phone_gets_its_cases_and_a_case_no_phone(planted_server):
    url, _ = planted_server
    phone = httpx.get(f"{url}/v1/related/p0", params={"k": 3}).json()
    assert set(recs(phone)) <= {"c0", "c1", "c2", "h0"} and len(recs(phone)) == 3
    assert phone["title"] == "title p0" and phone["recommendations"][0]["title"].startswith("title c")
    scores = [r["score"] for r in phone["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    case = httpx.get(f"{url}/v1/related/c0", params={"k": 5})
    assert not set(recs(case.json())) & {"p0", "p1"} and recs(case.json())[0] in {"w0", "w1"}
    assert case.headers["x-dualgnn-model"] == case.json()["model"]
    similar = httpx.get(f"{url}/v1/similar/c0", params={"k": 2}).json()  # source . source: the other cases
    assert set(recs(similar)) <= {"c1", "c2", "h0"}


def test_batch_equals_single_and_explain_gives_reasons(planted_server):
    url, _ = planted_server
    ids = ["p0", "c0", "w1"]
    batch = httpx.post(f"{url}/v1/related", json={"product_ids": ids, "k": 4, "explain": True}).json()
    for pid, answer in zip(ids, batch["results"]):
        single = httpx.get(f"{url}/v1/related/{pid}", params={"k": 4, "explain": "true"}).json()
        assert answer == {k: v for k, v in single.items() if k != "model"}
    assert batch["results"][0]["recommendations"][0]["reason"].startswith("customers who bought title p0 also bought this")


def test_filters_and_in_stock_replacement(planted_server):
    url, _ = planted_server
    get = lambda pid, **params: recs(httpx.get(f"{url}/v1/related/{pid}", params={"k": 3, **params}).json())  # noqa: E731
    assert not {"c0", "h0"} & set(get("p0", exclude_linked="true"))            # p0 -> c0, p0 -> h0 are edges
    assert not {"c1", "c2"} & set(get("c0", exclude_same_category="true", k=7))
    assert set(get("p0", in_stock_only="true")) == {"c0", "c1", "w0"}          # --in-stock at start
    put = httpx.put(f"{url}/admin/in-stock", json=["c2", "w1", "ghost", "nope"])
    assert put.status_code == 200 and put.json() == {"known": 2, "unknown": 2}
    assert get("p0", in_stock_only="true") == ["c2", "w1"]
    assert set(get("p0")) <= {"c0", "c1", "c2", "h0"}                         # without the flag: all products
    assert httpx.put(f"{url}/admin/in-stock", json=["ghost"]).status_code == 422  # none known: old list kept
    assert get("p0", in_stock_only="true") == ["c2", "w1"]
    assert httpx.delete(f"{url}/admin/in-stock").status_code == 200
    assert httpx.get(f"{url}/v1/related/p0", params={"in_stock_only": "true"}).status_code == 409


@pytest.mark.parametrize("method, path, kwargs", [
    ("get", "/v1/related/p0", {"params": {"k": 0}}),
    ("get", "/v1/related/p0", {"params": {"k": 1001}}),
    ("get", "/v1/related/p0", {"params": {"k": "ten"}}),
    ("get", "/v1/similar/p0", {"params": {"explain": "maybe"}}),
    ("post", "/v1/related", {"json": {"product_ids": "p0"}}),
    ("post", "/v1/related", {"json": {"product_ids": []}}),
    ("post", "/v1/related", {"json": {"product_ids": ["p0"], "colour": "red"}}),
    ("post", "/v1/related", {"json": {"product_ids": ["p0"] * 200, "k": 1000}}),
    ("post", "/v1/related", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("post", "/v1/cold-start", {"json": {"products": [{"title": "no id"}]}}),
    ("post", "/v1/cold-start", {"json": {"products": [{**NEW_PHONE, "price": -1}]}}),
    ("put", "/admin/in-stock", {"json": {"ids": ["p0"]}}),
])
def test_bad_requests_are_422_and_the_server_lives_on(planted_server, method, path, kwargs):
    url, proc = planted_server
    response = getattr(httpx, method)(f"{url}{path}", **kwargs)
    assert response.status_code == 422, response.text
    assert httpx.get(f"{url}/health").json() == {"status": "alive"} and proc.poll() is None


def test_unknown_ids_are_404_naming_them_and_huge_bodies_413(planted_server):
    url, _ = planted_server
    r = httpx.get(f"{url}/v1/related/B00NOPE")
    assert r.status_code == 404 and "B00NOPE" in r.json()["detail"] and r.json()["unknown_ids"] == ["B00NOPE"]
    r = httpx.post(f"{url}/v1/related", json={"product_ids": ["p0", "x1", "x2"]})
    assert r.status_code == 404 and r.json()["unknown_ids"] == ["x1", "x2"]
    r = httpx.post(f"{url}/v1/related", content=b"[" + b'"p0",' * 400_000 + b'"p0"]',
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert httpx.post(f"{url}/v1/cold-start", json={"products": [NEW_PHONE]}).status_code == 409  # no weights


def test_docs_health_ready_and_model(planted_server, planted_dirs):
    url, _ = planted_server
    assert httpx.get(f"{url}/docs").status_code == 200
    assert "/v1/related/{product_id}" in httpx.get(f"{url}/openapi.json").json()["paths"]
    assert httpx.get(f"{url}/ready").json()["status"] == "ready"
    info = httpx.get(f"{url}/v1/model").json()
    assert info["products"] == 8 and info["model_dir"] == str(planted_dirs[2]) and len(info["model_id"]) == 16
    assert info["cold_start"] is False and info["created"]


def test_ready_is_503_until_a_model_is_loaded(planted_dirs):
    from fastapi.testclient import TestClient

    from dualgnn.serving.http.app import build_app
    from dualgnn.serving.http.service import Service

    _, art, model = planted_dirs
    service = Service(art, model)
    client = TestClient(build_app(service))
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503 and client.get("/v1/related/p0").status_code == 503
    service.load()
    assert client.get("/ready").status_code == 200 and client.get("/v1/related/p0").status_code == 200


def test_reload_swaps_models_without_dropping_requests_and_survives_a_damaged_one(tmp_path):
    from dualgnn.artifacts import graph_fingerprint

    graph, s, t = planted()
    art = write_artifacts(tmp_path, graph)
    model = write_model(tmp_path / "model", s, t, graph_fingerprint(graph))
    with server(art, model, tmp=tmp_path) as (url, proc):
        first = httpx.get(f"{url}/v1/model").json()["model_id"]
        statuses, seen, stop = [], set(), threading.Event()

        def hammer():
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    r = client.get("/v1/related/c0", params={"k": 2})
                    statuses.append(r.status_code)
                    seen.add(r.headers.get("x-dualgnn-model"))

        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for w in workers:
            w.start()
        try:
            write_model(model, s[::-1].copy(), t[::-1].copy(), graph_fingerprint(graph))  # a refreshed model
            r = httpx.post(f"{url}/admin/reload", timeout=60)
            assert r.status_code == 200 and r.json()["ok"], r.text
            second = r.json()["model_id"]
            time.sleep(0.5)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=30)
        assert second != first and httpx.get(f"{url}/v1/model").json()["model_id"] == second
        assert statuses and set(statuses) == {200} and seen <= {first, second} and second in seen

        (model / "embeddings.npz").write_bytes(b"not a zip file")              # a damaged model directory
        r = httpx.post(f"{url}/admin/reload", timeout=60)
        assert r.status_code == 500 and not r.json()["ok"] and "embeddings.npz" in r.json()["error"]
        assert r.json()["serving"] == second and httpx.get(f"{url}/v1/related/p0").status_code == 200
        assert httpx.get(f"{url}/v1/model").json()["last_reload"]["ok"] is False

        write_model(model, s, t, graph_fingerprint(graph))                     # SIGHUP reloads too
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/model").json()["model_id"] != first:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.2)


def test_start_errors_exit_1_without_traceback(planted_dirs, tmp_path):
    _, art, model = planted_dirs
    proc = dualgnn("serve", art, "--model", tmp_path / "missing", "--port", free_port(), check=False)
    assert proc.returncode == 1 and "no model artifact" in proc.stderr and "Traceback" not in proc.stderr
    _, s, t = planted()
    other = write_model(tmp_path / "other", s, t, "feedfacefeedface")         # trained on another graph
    proc = subprocess.run([sys.executable, "-m", "cli", "serve", str(art), "--model", str(other), "--port",
                           str(free_port())], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "another graph" in proc.stderr and "Traceback" not in proc.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = dualgnn("serve", art, "--model", model, "--port", taken.getsockname()[1], check=False)
    assert proc.returncode == 1 and "cannot listen on 127.0.0.1" in proc.stderr and "Traceback" not in proc.stderr
    # An in-stock file that is missing, empty, or names no catalog product.
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "strangers.txt").write_text("zz1\nzz2\n")
    for name, words in (("missing.txt", "file not found"), ("empty.txt", "the file is empty"),
                        ("strangers.txt", "none of the 2 ids is in the served catalog")):
        proc = dualgnn("serve", art, "--model", model, "--port", free_port(), "--in-stock", tmp_path / name,
                       check=False)
        assert proc.returncode == 1 and f"{tmp_path / name}: {words}" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-trained")
    dualgnn("synth", "--products", "300", "--seed", "1", "--out", tmp / "tables")
    dualgnn("build-graph", "--products", tmp / "tables" / "products.csv", "--copurchase",
            tmp / "tables" / "copurchase.csv", "--coview", tmp / "tables" / "coview.csv", "--encoder", "hashing",
            "--quiet", "--out", tmp / "graph")
    dualgnn("train", tmp / "graph", "--out", tmp / "model", "--epochs", "1", "--dim", "16", "--quiet")
    return tmp


def test_cold_start_matches_the_cli_and_adds_nothing(trained):
    import pandas as pd

    new = trained / "new.csv"
    pd.DataFrame([NEW_PHONE]).to_csv(new, index=False)
    out = trained / "cold.csv"
    dualgnn("recommend", trained / "graph", "--model", trained / "model", "--new-products", new, "-k", "5",
            "--out", out)
    want = pd.read_csv(out, dtype=str)
    with server(trained / "graph", trained / "model", tmp=trained) as (url, proc):
        r = httpx.post(f"{url}/v1/cold-start", json={"products": [NEW_PHONE], "k": 5, "explain": True}, timeout=60)
        assert r.status_code == 200, r.text
        (answer,) = r.json()["results"]
        assert answer["product_id"] == "NEW-1" and answer["title"] == NEW_PHONE["title"]
        assert recs(answer) == want["recommended_id"].tolist()
        assert all(item["reason"] for item in answer["recommendations"])
        assert httpx.get(f"{url}/v1/related/NEW-1").status_code == 404        # not added to the catalog
        catalog = pd.read_csv(trained / "tables" / "products.csv", dtype=str).set_index("product_id")["category"]
        top = catalog[recs(answer)[0]]  # a new product of its first recommendation's category: that one must go
        body = {"products": [{**NEW_PHONE, "category": top}], "k": 10, "exclude_same_category": True}
        excluded = httpx.post(f"{url}/v1/cold-start", json=body).json()["results"][0]
        assert len(recs(excluded)) == 10 and top not in set(catalog[recs(excluded)])
        two = httpx.post(f"{url}/v1/cold-start", json={"products": [NEW_PHONE, {"product_id": "NEW-2"}]}).json()
        assert recs(two["results"][0])[:5] == recs(answer)
        warm = httpx.get(f"{url}/v1/model").json()
        assert warm["cold_start"] is True and warm["products"] == 300
        known = httpx.post(f"{url}/v1/cold-start", json={"products": [{"product_id": "P0000001"}]})
        assert known.status_code == 409 and "P0000001" in known.json()["detail"]
        lines = proc.log_path.read_text().splitlines()
        assert lines and all(line.startswith("dualgnn serve:") for line in lines), lines  # no DGL banner
