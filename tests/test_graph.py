"""Graph building: ids mapped once, duplicates merged, self-loops and out-of-catalog edges counted, direction kept."""

import numpy as np
import pandas as pd
import pytest
import torch

from dualgnn._dgl_compat import fn
from dualgnn.errors import InputError, UnknownIdError
from dualgnn.graph import build_graph, one_way_mask
from dualgnn.ids import IdMap
from dualgnn.sources.base import RawData


def _raw(copurchase, coview=(), ids=("phone", "case", "charger", "tv")):
    cp = pd.DataFrame(copurchase, columns=["src", "dst", "weight"])
    cp["line"] = np.arange(len(cp)) + 2
    cv = pd.DataFrame(list(coview), columns=["src", "dst", "weight"])
    return RawData(products=pd.DataFrame({"product_id": list(ids), "title": [f"{i} title" for i in ids]}),
                   copurchase=cp, coview=cv)


def test_duplicates_merge_by_adding_weights_and_direction_is_kept():
    graph, skipped = build_graph(_raw([("phone", "case", 1.0), ("phone", "case", 2.0), ("phone", "charger", 1.0)]))
    pairs = {(graph.ids.decode([s])[0], graph.ids.decode([d])[0]): w
             for s, d, w in zip(graph.copurchase.src, graph.copurchase.dst, graph.copurchase.weight)}
    assert pairs == {("phone", "case"): 3.0, ("phone", "charger"): 1.0}
    assert skipped.total == 0
    assert graph.one_way_share() == 1.0


def test_self_loops_and_unknown_ends_are_counted_with_file_and_line():
    graph, skipped = build_graph(_raw([("phone", "case", 1.0), ("tv", "tv", 1.0), ("phone", "B00GHOST", 1.0)]),
                                 edge_paths={"copurchase": "cp.csv"})
    assert len(graph.copurchase) == 1
    report = "\n".join(skipped.lines())
    assert "self-loops: 1 (first at cp.csv, line 3" in report
    assert "not in the catalog: 1 (first at cp.csv, line 4: 'B00GHOST')" in report


def test_coview_is_stored_in_both_directions_once():
    graph, _ = build_graph(_raw([("phone", "case", 1.0)], coview=[("tv", "phone", 2.0), ("phone", "tv", 1.0)]))
    pairs = sorted(zip(graph.ids.decode(graph.coview.src), graph.ids.decode(graph.coview.dst), graph.coview.weight))
    assert pairs == [("phone", "tv", 2.0), ("tv", "phone", 2.0)]


def test_one_way_mask_marks_unreciprocated_edges():
    graph, _ = build_graph(_raw([("phone", "case", 1.0), ("case", "phone", 1.0), ("phone", "charger", 1.0)]))
    mask = one_way_mask(graph.copurchase, graph.num_products)
    one_way = {tuple(graph.ids.decode([s, d])) for s, d in zip(graph.copurchase.src[mask], graph.copurchase.dst[mask])}
    assert one_way == {("phone", "charger")}


def test_dgl_graph_gives_out_and_in_neighbours():
    graph, _ = build_graph(_raw([("phone", "case", 1.0), ("phone", "charger", 1.0)]))
    g = graph.to_dgl()
    x = torch.arange(4, dtype=torch.float32).unsqueeze(1) + 1  # phone=1, case=2, charger=3, tv=4
    g.ndata["x"] = x
    g.update_all(fn.copy_u("x", "m"), fn.sum("m", "out_sum"), etype="copurchased_by")
    g.update_all(fn.copy_u("x", "m"), fn.sum("m", "in_sum"), etype="copurchase")
    phone, case = graph.ids.encode(["phone", "case"])
    assert g.ndata["out_sum"][phone].item() == 5.0  # phone's out-neighbours: case (2) + charger (3)
    assert g.ndata["in_sum"][case].item() == 1.0  # case's in-neighbour: phone (1)
    assert g.ndata["out_sum"][case].item() == 0.0


def test_id_map_errors_name_the_unknown_id_and_line():
    ids = IdMap(["a", "b"])
    assert ids.lookup(["b", "zz"]).tolist() == [1, -1]
    # A short list goes id by id through the kept hash table, an array through Arrow: the same answer.
    many = IdMap([str(i) for i in range(50)])
    assert many.lookup([7, "49", "x"]).tolist() == many.lookup(np.array(["7", "49", "x"])).tolist() == [7, 49, -1]
    with pytest.raises(UnknownIdError, match=r"queries.txt, line 2: unknown product id 'zz'"):
        ids.encode(["a", "zz"], source="queries.txt")
    with pytest.raises(InputError, match="duplicate product id 'a'"):
        IdMap(["a", "b", "a"])


def test_empty_catalog_is_an_error():
    with pytest.raises(InputError, match="no products"):
        build_graph(RawData(pd.DataFrame({"product_id": []}), _raw([]).copurchase, _raw([]).coview))
