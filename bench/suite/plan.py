"""Sizes, their input data and work directories, and the two stages measured through the CLI (build, train).

A size is a label: ``10k``, ``100k``, ``1m`` (any ``<int>k`` / ``<int>m``, e.g. the hidden ``2k`` of the test) is a
``dualgnn synth --seed 1`` catalog of that many products; ``music`` is the shared Amazon digital-music metadata.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from suite.proc import ProcResult, dualgnn_cmd, run_measured

REPO = Path(__file__).resolve().parents[2]
MUSIC_FILE = REPO.parent / "shared" / "datasets" / "amazon-digital-music" / "meta_Digital_Music.partial.jsonl.gz"
MUSIC = "music"


@dataclass(frozen=True)
class Size:
    """One benchmark size and where its files live under the work directory."""

    label: str
    products: int | None  # None: real data, count known after build-graph
    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog"

    @property
    def graph(self) -> Path:
        return self.root / "graph"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def synthetic(self) -> bool:
        return self.products is not None


def parse_size(label: str, work: Path) -> Size:
    """``Size`` for a label; ValueError names the accepted forms."""
    label = label.strip().lower()
    if label == MUSIC:
        return Size(label, None, work / label)
    m = re.fullmatch(r"(\d+)([km]?)", label)
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"unknown size {label!r}: use 10k, 100k, 1m, music (or any <int>k / <int>m)")
    products = int(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)]
    if products < 100:
        raise ValueError(f"size {label!r}: dualgnn synth needs at least 100 products")
    return Size(label, products, work / label)


def budget_for(spec: str, label: str, default: float) -> float:
    """The value for ``label`` in a ``10k=30,100k=6`` spec, else ``default``."""
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, _, value = item.partition("=")
        if not value:
            raise ValueError(f"budget item {item!r} is not LABEL=VALUE")
        if key.strip().lower() == label:
            return float(value)
    return default


def ensure_catalog(size: Size, env: dict[str, str], reuse: bool) -> None:
    """Generate the synthetic catalog (not a measured stage); kept when ``reuse`` and already complete."""
    if not size.synthetic:
        if not MUSIC_FILE.is_file():
            raise FileNotFoundError(f"digital-music data not found at {MUSIC_FILE}")
        return
    if reuse and (size.catalog / "synth.json").is_file():
        return
    run_measured(dualgnn_cmd() + ["synth", "--products", str(size.products), "--seed", "1", "--format", "parquet",
                                  "--out", str(size.catalog)], env=env)


def build_inputs(size: Size) -> list[str]:
    """The build-graph input flags of a size."""
    if not size.synthetic:
        return ["--amazon", str(MUSIC_FILE)]
    return ["--products", str(size.catalog / "products.parquet"),
            "--copurchase", str(size.catalog / "copurchase.parquet"),
            "--coview", str(size.catalog / "coview.parquet")]


def input_pairs(size: Size, manifest: dict) -> tuple[int, str]:
    """Co-purchase + co-view pairs fed to build-graph, and how they were counted."""
    if size.synthetic:
        import pyarrow.parquet as pq

        rows = sum(pq.ParquetFile(size.catalog / f"{t}.parquet").metadata.num_rows for t in ("copurchase", "coview"))
        return rows, "input table rows"
    counts = manifest["counts"]
    return int(counts["copurchase"]) + int(counts["coview_pairs"]), "graph pairs (Amazon lists, deduplicated)"


def build_stage(size: Size, env: dict[str, str], timeout: float | None) -> tuple[ProcResult, dict]:
    """``dualgnn build-graph --encoder tfidf`` in its own process; (process cost, metrics)."""
    proc = run_measured(dualgnn_cmd() + ["build-graph", *build_inputs(size), "--encoder", "tfidf",
                                         "--out", str(size.graph), "--quiet"], env=env, timeout=timeout)
    manifest = json.loads((size.graph / "manifest.json").read_text())
    pairs, counted = input_pairs(size, manifest)
    return proc, {"seconds": proc.wall_seconds, "count": pairs, "unit": "edges/s",
                  "products": int(manifest["counts"]["products"]),
                  "extra": {"pairs": pairs, "pairs_counted_as": counted,
                            "internal_seconds": manifest.get("seconds", {})}}


def train_edges(model_dir: Path) -> int | None:
    """Training co-purchase edges of the split saved beside a model (None when there is no model)."""
    from dualgnn.artifacts import read_npz

    path = model_dir / "split.npz"
    return len(read_npz(path)["train_copurchase_src"]) if path.is_file() else None


def history_summary(history: list[dict]) -> dict:
    """Median epoch seconds, best validation HR@10 and the training seconds spent until that epoch."""
    if not history:
        raise ValueError("the model's history.json is empty: no epoch was run")
    seconds = [float(h["seconds"]) for h in history]
    scored = [h for h in history if h.get("val_hr10") is not None]
    best = max(scored, key=lambda h: h["val_hr10"]) if scored else history[-1]
    upto = [float(h["seconds"]) for h in history if h["epoch"] <= best["epoch"]]
    return {"median_epoch_seconds": statistics.median(seconds), "epochs_run": len(history),
            "best_epoch": int(best["epoch"]), "best_val_hr10": best.get("val_hr10"),
            "seconds_to_best": round(sum(upto), 2), "epoch_seconds": [round(s, 2) for s in seconds]}


def train_stage(size: Size, epochs: int, threads: int, env: dict[str, str],
                timeout: float | None) -> tuple[ProcResult, dict]:
    """``dualgnn train --epochs E`` in its own process; throughput = training edges / median epoch seconds."""
    # --no-ranker: this stage measures the GNN's training; the second stage has its own (bench/ranker_bench.py).
    proc = run_measured(dualgnn_cmd() + ["train", str(size.graph), "--out", str(size.model), "--epochs", str(epochs),
                                         "--threads", str(threads), "--no-ranker", "--quiet"], env=env, timeout=timeout)
    summary = history_summary(json.loads((size.model / "history.json").read_text()))
    edges = train_edges(size.model) or 0
    return proc, {"seconds": summary["median_epoch_seconds"], "count": edges, "unit": "edges/s",
                  "extra": {**summary, "train_edges": edges, "epoch_budget": epochs}}
