"""build-graph: raw files -> graph + features -> one artifact directory, written atomically.

>>> summary = build_artifacts(BuildInputs(amazon=(Path("meta.jsonl.gz"),)), Path("artifacts"))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dualgnn import __version__
from dualgnn.artifacts import FORMAT_VERSION, MANIFEST, atomic_dir, file_checksum, write_graph, write_json
from dualgnn.errors import InputError, SkipReport
from dualgnn.graph import ProductGraph, build_graph
from dualgnn.outputs import claim_output
from dualgnn.sources.base import RawData


@dataclass(frozen=True, kw_only=True)
class BuildInputs:
    """Which files to read. Exactly one kind: Amazon metadata, generic tables, or event logs (+ optional catalog)."""

    amazon: tuple[Path, ...] = ()
    products: Path | None = None
    copurchase: Path | None = None
    coview: Path | None = None
    events: tuple[Path, ...] = ()
    event_settings: object | None = None  # dualgnn.sources.events.EventSettings

    def __post_init__(self) -> None:
        if self.events and (self.copurchase or self.coview):
            raise InputError("--events derives both edge types from the log; do not pass --copurchase/--coview "
                             "with it", hint="drop --copurchase/--coview, or build from the tables without --events")
        if (self.copurchase or self.coview) and self.products is None and not self.amazon:
            raise InputError("edge tables need a products table", hint="add --products FILE (product_id + metadata)")
        kinds = [bool(self.amazon), bool(self.events), self.products is not None and not self.events]
        if sum(kinds) == 0:
            raise InputError("no input given",
                             hint="pass --amazon FILE, or --products FILE [--copurchase F --coview F], "
                                  "or --events FILE [--products FILE]")
        if self.amazon and (self.products or self.copurchase or self.coview or self.events):
            raise InputError("--amazon cannot be combined with --products/--copurchase/--coview/--events",
                             hint="Amazon metadata files carry products and both edge types")

    def paths(self) -> list[Path]:
        """Every input file (an output must never be, or contain, one of them)."""
        return [p for p in (*self.amazon, self.products, self.copurchase, self.coview, *self.events) if p is not None]


@dataclass
class BuildSummary:
    """What build-graph made: counts for the printed summary and the manifest."""

    out_dir: Path
    products: int
    copurchase_edges: int
    coview_pairs: int
    one_way_share: float
    feature_dim: int
    encoder: str
    skipped: SkipReport
    seconds: dict[str, float] = field(default_factory=dict)


def read_inputs(inputs: BuildInputs) -> tuple[RawData, dict[str, str]]:
    """Run the reader for the given kind of input; returns the raw data and the file behind each edge table."""
    if inputs.amazon:
        from dualgnn.sources.amazon import read_amazon

        names = ", ".join(str(p) for p in inputs.amazon)
        return read_amazon(list(inputs.amazon)), {"copurchase": names, "coview": names}
    if inputs.events:
        from dualgnn.sources.events import EventSettings, read_events

        settings = inputs.event_settings or EventSettings()
        raw = read_events(list(inputs.events), settings, products=inputs.products)
        names = ", ".join(str(p) for p in inputs.events)
        return raw, {"copurchase": names, "coview": names}
    from dualgnn.sources.tables import read_tables

    raw = read_tables(inputs.products, inputs.copurchase, inputs.coview)
    return raw, {k: str(v) for k, v in (("copurchase", inputs.copurchase), ("coview", inputs.coview)) if v}


def build_artifacts(inputs: BuildInputs, out_dir: Path, feature_settings=None, *, progress: bool = True,
                    reuse_text: Path | None = None) -> BuildSummary:
    """Read, build the graph, encode features and write ``out_dir`` (replacing it atomically).

    ``out_dir`` is checked first (dualgnn.outputs): it may only be absent, empty or an earlier graph artifact, and
    never one of the inputs. Text vectors of products whose text did not change are reused from ``out_dir``'s
    own cache when it is rebuilt in place, or from ``reuse_text``, an earlier graph artifact (last night's): with
    the sentence encoder that turns a nightly rebuild from a full re-encoding into the changed products' share.
    """
    from dualgnn.features.settings import FeatureSettings

    feature_settings = feature_settings or FeatureSettings()
    if reuse_text is not None and not (Path(reuse_text) / "text_cache.npz").is_file():
        raise InputError(f"{reuse_text} holds no text_cache.npz to reuse",
                         hint="give a graph directory written by `dualgnn build-graph`")
    reuse = [Path(reuse_text)] if reuse_text is not None else []
    with claim_output(out_dir, kind="graph", inputs=inputs.paths() + reuse):
        return _build(inputs, Path(out_dir), feature_settings, progress, reuse + [Path(out_dir)])


def _build(inputs: BuildInputs, out_dir: Path, feature_settings, progress: bool,
           cache_dirs: list[Path]) -> BuildSummary:
    from dualgnn.features.build import build_features

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    raw, edge_paths = read_inputs(inputs)
    seconds["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    graph, skipped = build_graph(raw, edge_paths=edge_paths)
    if len(graph.copurchase) == 0:
        source = edge_paths.get("copurchase", "the co-purchase input")
        counts = "; ".join(skipped.lines()) or "none was read"
        raise InputError(f"no co-purchase edge of {source} remains between products of the catalog (skipped: "
                         f"{counts})", hint="check that the edge tables use the catalog's product ids")
    seconds["graph"] = time.perf_counter() - t0

    with atomic_dir(out_dir, "graph") as tmp:
        old = [d / "text_cache.npz" for d in cache_dirs if (d / "text_cache.npz").is_file()]
        if old:  # reuse embeddings of unchanged product texts
            shutil.copy2(old[0], tmp / "text_cache.npz")
        t0 = time.perf_counter()
        features = build_features(graph.products, feature_settings, cache_path=tmp / "text_cache.npz",
                                  progress=progress)
        seconds["features"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_graph(tmp, graph)
        features.save(tmp)
        summary = BuildSummary(
            out_dir=Path(out_dir), products=graph.num_products, copurchase_edges=len(graph.copurchase),
            coview_pairs=len(graph.coview) // 2, one_way_share=graph.one_way_share(),
            feature_dim=int(features.text.shape[1]), encoder=feature_settings.encoder, skipped=skipped,
            seconds=seconds)
        write_json(tmp / MANIFEST, _manifest(graph, summary, inputs, raw, feature_settings))
        seconds["write"] = time.perf_counter() - t0
    return summary


def _manifest(graph: ProductGraph, summary: BuildSummary, inputs: BuildInputs, raw: RawData,
              feature_settings) -> dict:
    from dualgnn.artifacts import graph_fingerprint

    files = [Path(p) for p in raw.inputs] or [p for p in (*inputs.amazon, inputs.products, inputs.copurchase,
                                                         inputs.coview, *inputs.events) if p is not None]
    return {
        "kind": "graph",
        "format_version": FORMAT_VERSION,
        "dualgnn_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": graph_fingerprint(graph),
        "counts": {"products": summary.products, "copurchase": summary.copurchase_edges,
                   "coview_pairs": summary.coview_pairs, "one_way_share": round(summary.one_way_share, 4)},
        "inputs": [{"path": str(p), "bytes": p.stat().st_size, "sha256": file_checksum(p)} for p in files],
        "settings": {"features": feature_settings.to_dict(),
                     "events": asdict(inputs.event_settings) if inputs.event_settings is not None else None},
        "skipped": summary.skipped.to_dict(),
        "seconds": {k: round(v, 3) for k, v in summary.seconds.items()},
    }
