"""Artifacts: atomic directories survive interruption, loading checks the format version, save -> load is exact."""


import numpy as np
import pandas as pd
import pytest

from dualgnn.artifacts import FORMAT_VERSION, MANIFEST, atomic_dir, load_graph, write_graph, write_json
from dualgnn.errors import ArtifactError
from dualgnn.graph import build_graph
from dualgnn.sources.base import RawData


def _graph():
    raw = RawData(products=pd.DataFrame({"product_id": ["p1", "p2", "p3"], "title": ["a", "b", "c"],
                                         "price": [1.0, np.nan, 3.0]}),
                  copurchase=pd.DataFrame({"src": ["p1", "p2"], "dst": ["p2", "p3"], "weight": [1.0, 2.0]}),
                  coview=pd.DataFrame({"src": ["p1"], "dst": ["p3"], "weight": [1.0]}))
    return build_graph(raw)[0]


def _write(directory, graph, version=FORMAT_VERSION):
    with atomic_dir(directory, "graph") as tmp:
        write_graph(tmp, graph)
        write_json(tmp / MANIFEST, {"kind": "graph", "format_version": version,
                                    "counts": {"products": graph.num_products}})


def test_save_load_roundtrip_is_exact(tmp_path):
    graph = _graph()
    _write(tmp_path / "art", graph)
    loaded = load_graph(tmp_path / "art")
    assert loaded.ids.ids.tolist() == graph.ids.ids.tolist()
    for name in ("copurchase", "coview"):
        a, b = getattr(graph, name), getattr(loaded, name)
        assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst) and np.array_equal(a.weight, b.weight)
    pd.testing.assert_frame_equal(loaded.products, graph.products)


def test_interrupted_write_keeps_the_previous_directory(tmp_path):
    graph = _graph()
    _write(tmp_path / "art", graph)
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "art", "graph") as tmp:
            (tmp / "graph.npz").write_bytes(b"half")
            raise RuntimeError("killed")
    assert load_graph(tmp_path / "art").num_products == 3
    assert [p.name for p in tmp_path.iterdir()] == ["art"]  # no temporary left behind


def test_directory_without_manifest_does_not_load(tmp_path):
    (tmp_path / "art").mkdir()
    with pytest.raises(ArtifactError, match="no manifest.json"):
        load_graph(tmp_path / "art")


def test_other_format_version_is_refused(tmp_path):
    _write(tmp_path / "art", _graph(), version=FORMAT_VERSION + 1)
    with pytest.raises(ArtifactError, match="format version"):
        load_graph(tmp_path / "art")


def test_corrupt_graph_file_is_reported(tmp_path):
    _write(tmp_path / "art", _graph())
    (tmp_path / "art" / "graph.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="graph.npz"):
        load_graph(tmp_path / "art")
    (tmp_path / "art" / MANIFEST).write_text("{broken")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_graph(tmp_path / "art")
