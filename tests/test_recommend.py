"""Recommender: planted direction, filters against brute force, batch == single, baskets, errors, writers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dualgnn.errors import ArtifactError, InputError, UnknownIdError
from dualgnn.graph import Edges, ProductGraph
from dualgnn.ids import IdMap
from dualgnn.serving.brands import brand_frame, brand_vectors, similar_brands
from dualgnn.serving.load import (
    check_fingerprint,
    encode_id_file,
    encode_ids,
    read_id_file,
    read_in_stock,
    recommender_for,
)
from dualgnn.serving.recommender import Filters, Recommender
from dualgnn.serving.tables import Lists, read_table, recommendation_frame, write_table


def planted():
    """Phones lead to cases and chargers; cases lead to screen wipes, never back to phones."""
    ids = ["p0", "p1", "c0", "c1", "c2", "h0", "w0", "w1"]
    cats = ["Tech > Phones"] * 2 + ["Tech > Cases"] * 3 + ["Tech > Chargers", "Home > Wipes", "Home > Wipes"]
    e = np.eye(3, dtype=np.float32)
    source = np.stack([e[1], e[1], e[2], e[2], e[2], e[2], e[0], e[0]]) + 0.01 * np.arange(8)[:, None]
    phone = e[0] - 0.5 * e[2]  # a case's source vector scores phones below anything
    target = np.stack([phone, phone, e[1], 0.98 * e[1], 0.97 * e[1], 0.9 * e[1], e[2], 0.99 * e[2]])
    products = pd.DataFrame({"product_id": ids, "title": [f"title {i}" for i in ids], "category": cats,
                             "brand": ["acme", "acme", "zeta", "zeta", "acme", "zeta", "", ""]})
    src, dst = np.array([0, 0, 2]), np.array([2, 5, 6])
    graph = ProductGraph(IdMap(ids), products, Edges(src, dst, np.ones(3, np.float32)), Edges.empty())
    return graph, source, target


def random_catalog(n=600, d=16, seed=0):
    rng = np.random.default_rng(seed)
    products = pd.DataFrame({"product_id": [f"x{i}" for i in range(n)],
                             "category": rng.choice(["A > a", "A > b", "B > a", ""], n)})
    src, dst = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    keep = src != dst
    edges = Edges(src[keep], dst[keep], np.ones(keep.sum(), np.float32))
    graph = ProductGraph(IdMap(products["product_id"]), products, edges, Edges.empty())
    return graph, rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((n, d)).astype(np.float32)


def test_planted_direction_phone_to_case_not_back():
    graph, s, t = planted()
    rec = recommender_for(graph, s, t)
    ids, _ = rec.recommend(rec.encode(["p0", "c0"]), 3)
    names = rec.ids.decode(ids.ravel()).reshape(ids.shape)
    assert set(names[0]) <= {"c0", "c1", "c2", "h0"}            # after a phone: accessories
    assert not set(names[1]) & {"p0", "p1"}                      # after a case: never a phone
    assert names[1][0] in {"w0", "w1"}


def test_filters_match_brute_force():
    graph, s, t = random_catalog()
    rec = recommender_for(graph, s, t)
    rng = np.random.default_rng(5)
    in_stock = np.sort(rng.choice(len(s), 400, replace=False))
    queries = np.arange(0, 600, 7)
    linked = rec.linked.toarray() > 0
    cat = rec.category
    f = Filters(exclude_same_category=True, exclude_linked=True, in_stock=in_stock)
    ids, scores = rec.recommend(queries, 10, f)
    for q, row in zip(queries, ids):
        score = s[q] @ t.T
        allowed = np.zeros(len(s), bool)
        allowed[in_stock] = True
        allowed &= ~linked[q]
        allowed[q] = False
        if cat[q] >= 0:
            allowed &= cat != cat[q]
        score[~allowed] = -np.inf
        assert row.tolist() == np.argsort(-score, kind="stable")[:10].tolist()
        assert not (set(row) & set(np.flatnonzero(linked[q]))) and q not in row


def test_batch_equals_single_with_approximate_index():
    graph, s, t = random_catalog(n=3000, seed=1)
    rec = Recommender(graph.products, s, t, linked=recommender_for(graph, s, t).linked, index_kind="hnsw")
    f = Filters(exclude_linked=True, exclude_same_category=True)
    queries = np.arange(0, 3000, 37)
    batch_ids, batch_scores = rec.recommend(queries, 10, f)
    for i, q in enumerate(queries):
        ids, scores = rec.recommend(np.array([q]), 10, f)
        assert ids[0].tolist() == batch_ids[i].tolist()
        np.testing.assert_array_equal(scores[0], batch_scores[i])


def test_basket_fuses_the_items_own_lists_by_reciprocal_rank():
    graph, s, t = random_catalog(seed=2)
    rec = recommender_for(graph, s, t)
    items = np.array([3, 50, 70])
    ids, scores = rec.basket(items, 20)
    assert not set(ids[0]) & set(items)
    fused = np.zeros(len(t))
    for i in items:
        own = s[i] @ t.T
        own[items] = -np.inf
        for rank, v in enumerate(np.argsort(-own, kind="stable")[:20 + 20]):
            fused[v] += 1.0 / (1 + rank)
    assert set(ids[0]) == set(np.argsort(-fused, kind="stable")[:20]) or np.isclose(  # ties at the cut
        np.sort(fused)[-20], np.sort(fused)[-21])
    np.testing.assert_allclose(scores[0], fused[ids[0]], rtol=1e-6)
    assert (np.diff(scores[0]) <= 0).all()
    with pytest.raises(InputError):
        rec.basket(np.array([], np.int64), 5)


def test_a_mixed_basket_gets_suggestions_for_both_items():
    # A case (item 0) whose neighbours score far higher than the camera's (item 1): a mean query vector would
    # serve only the case's accessories; the fused lists serve both.
    graph, _, _ = random_catalog(seed=4)
    n = graph.num_products
    s = np.zeros((n, 2), np.float32)
    t = np.zeros((n, 2), np.float32)
    s[0], s[1] = [1.0, 0.0], [0.0, 1.0]
    t[10:20] = [[5.0 - 0.1 * i, 0.0] for i in range(10)]  # the case's accessories, big scores
    t[20:30] = [[0.0, 1.0 - 0.01 * i] for i in range(10)]  # the camera's, small scores
    rec = recommender_for(graph, s, t, index_kind="exact")
    ids, _ = rec.basket(np.array([0, 1]), 4)
    assert ids[0].tolist() == [10, 20, 11, 21]


class _StubRanker:
    """A ranker that predicts fixed lists for the first ``n`` products (cold queries are beyond it)."""

    def __init__(self, n: int, lists: dict[int, list[int]]) -> None:
        self.inputs, self.floor, self.lists = SimpleNamespace(n=n), np.float32(-10.0), lists

    def ranked(self, queries):
        width = max(len(v) for v in self.lists.values())
        ids = np.full((len(queries), width), -1, np.int64)
        for i, q in enumerate(queries):
            ids[i, :len(self.lists[q])] = self.lists[q]
        scores = np.where(ids >= 0, -np.arange(width, dtype=np.float32)[None, :], -np.inf).astype(np.float32)
        return ids, scores


def test_ranked_lists_fuse_known_co_purchases_with_the_rankers_predictions_under_the_filters():
    graph, s, t = random_catalog(seed=5)
    rec = recommender_for(graph, s, t)
    q = 7
    known = rec.linked[q].indices
    assert len(known) >= 2
    by_gnn = known[np.argsort(-(s[q] @ t[known].T), kind="stable")]
    predicted = [v for v in range(len(s)) if v != q and v not in known][:6]
    rec.use_ranker(_StubRanker(len(s), {q: predicted}))
    ids, scores = rec.recommend(np.array([q]), 4)
    assert ids[0].tolist() == [by_gnn[0], predicted[0], by_gnn[1], predicted[1]]  # by rank, known first on ties
    assert (np.diff(scores[0]) <= 0).all()
    ids, scores = rec.recommend(np.array([q]), 3, Filters(exclude_linked=True))
    assert ids[0].tolist() == predicted[:3] and scores[0].tolist() == [0.0, -1.0, -2.0]
    stock = np.array(predicted[1::2])
    ids, _ = rec.recommend(np.array([q]), 3, Filters(exclude_linked=True, in_stock=stock))
    assert ids[0].tolist() == stock.tolist()  # the filters hold; the ranker's three in stock, no fill needed
    ids, _ = rec.recommend(np.array([q]), 5, Filters(exclude_linked=True, in_stock=stock))
    assert ids[0, :3].tolist() == stock.tolist() and set(ids[0, 3:]) <= set(stock) | {-1}  # nothing else is
    rec.use_ranker(_StubRanker(5, {}))  # product 7 is beyond the ranker: a cold query, served by the index
    np.testing.assert_array_equal(rec.recommend(np.array([q]), 4)[0], rec.search(s[[q]], [np.array([q])], 4)[0])


def test_ranked_lists_fuse_the_best_allowed_known_products_and_a_batch_ranks_as_single_queries_do():
    graph, s, t = random_catalog(seed=6)
    cp = graph.copurchase  # product 0 becomes a hub: one known list far longer than the others
    cp = Edges(np.r_[cp.src, np.zeros(300, np.int64)], np.r_[cp.dst, np.arange(1, 301)],
               np.ones(len(cp) + 300, np.float32))
    graph = ProductGraph(graph.ids, graph.products, cp, Edges.empty())
    rec = recommender_for(graph, s, t)
    n, rng = len(s), np.random.default_rng(1)
    lists = {q: [v for v in rng.permutation(n)[:12].tolist() if v != q and v not in set(rec.linked[q].indices)]
             for q in range(n)}
    rec.use_ranker(_StubRanker(n, lists))
    stock = np.sort(rng.choice(n, n // 2, replace=False))
    f = Filters(exclude_same_category=True, in_stock=stock)
    queries = np.array([0, 7, 3, 0, 11])
    ids, scores = rec.recommend(queries, 4, f)
    for row, q in enumerate(queries):
        single = rec.recommend(queries[row:row + 1], 4, f)
        np.testing.assert_array_equal(ids[row], single[0][0])
        np.testing.assert_array_equal(scores[row], single[1][0])
    cat = rec.category
    known = rec.linked[0].indices
    allowed = known[np.isin(known, stock) & ((cat[known] != cat[0]) | (cat[0] < 0))]
    best = allowed[np.argsort(-(s[0] @ t[allowed].T), kind="stable")]
    assert len(best) > 4 and ids[0, 0::2].tolist() == best[:2].tolist()  # the hub's best allowed, by rank


def test_similar_uses_source_source():
    graph, s, t = random_catalog(seed=3)
    rec = recommender_for(graph, s, t)
    ids, _ = rec.similar(np.array([4]), 5)
    want = s[4] @ s.T
    want[4] = -np.inf
    assert ids[0].tolist() == np.argsort(-want, kind="stable")[:5].tolist()


def test_new_products_as_queries_and_targets():
    graph, s, t = planted()
    rec = recommender_for(graph, s, t)
    new = pd.DataFrame({"product_id": ["c9"], "title": ["new case"], "category": ["Tech > Cases"]})
    e1 = np.array([[0, 1.5, 0]], np.float32)    # target stronger than every warm case
    (cold,) = rec.add_products(new, source=np.array([[0, 0, 1]], np.float32), target=e1, as_targets=True)
    assert rec.recommend(np.array([cold]), 1)[0][0, 0] in rec.encode(["w0", "w1"])   # cold query works
    assert rec.recommend(rec.encode(["p0"]), 1)[0][0, 0] == cold                    # and it is a target
    with pytest.raises(InputError, match="already in the catalog"):
        rec.add_products(pd.DataFrame({"product_id": ["p0"]}), s[:1], t[:1])


def test_unknown_ids_are_named_with_their_origin(tmp_path):
    graph, s, t = planted()
    rec = recommender_for(graph, s, t)
    with pytest.raises(UnknownIdError, match=r"'nope' \(from --product\)"):
        encode_ids(rec, ["p0", "nope"], "--product")
    f = tmp_path / "q.txt"
    f.write_text("p0\n\nghost\n")
    with pytest.raises(UnknownIdError, match="q.txt, line 3: unknown product id 'ghost'"):
        encode_id_file(rec, f)
    f.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="no product ids"):
        read_id_file(f)
    f.write_text("c0\nunknown1\nunknown2\n")
    ids, unknown = read_in_stock(rec, f)
    assert unknown == 2 and rec.ids.decode(ids).tolist() == ["c0"]


def test_empty_catalog_and_fingerprint_mismatch():
    graph, s, t = planted()
    with pytest.raises(InputError, match="no products"):
        Recommender(graph.products.iloc[:0], s[:0], t[:0])
    with pytest.raises(ArtifactError, match="another graph") as err:
        check_fingerprint("0123456789abcdef", graph, "model/")
    assert err.value.hint


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl"])
def test_writers_round_trip(tmp_path, ext):
    graph, s, t = planted()
    products = graph.products.assign(product_id=["007"] + graph.products["product_id"].tolist()[1:])
    rec = Recommender(products, s, t)   # numeric-looking ids must stay strings
    q = np.array([0, 2])
    ids, scores = rec.recommend(q, 3)
    df = recommendation_frame(rec.ids.decode(q), ["a", "b"], ids, scores, rec.products, reasons=["r"] * 6)
    write_table(df, tmp_path / f"out{ext}")
    back = read_table(tmp_path / f"out{ext}")
    assert back["product_id"].tolist() == df["product_id"].tolist() and back["product_id"][0] == "007"
    assert back["recommended_id"].tolist() == df["recommended_id"].tolist()
    np.testing.assert_allclose(back["score"], df["score"], rtol=1e-6)
    assert list(back.columns) == ["product_id", "rank", "recommended_id", "score", "title", "recommended_title",
                                  "reason"]
    with pytest.raises(InputError, match="output format"):
        write_table(df, tmp_path / "out.xlsx")


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl"])
def test_lists_written_part_by_part_read_back_as_the_whole_table(tmp_path, ext):
    graph, s, t = planted()
    rec = Recommender(graph.products, s, t)
    q = np.arange(len(s))
    ids, scores = rec.recommend(q, 3, Filters(exclude_same_category=True))
    ids[0, :] = -1  # an empty first list (the first part is empty), short lists: their slots are no rows
    ids[1, 1:] = -1
    ids[3, :] = -1
    filled = int((ids >= 0).sum())
    lists = Lists(rec.ids.decode(q), [f"query {i}" for i in q], ids, scores, rec.products,
                  reasons=[f"why {i}" for i in range(filled)])
    whole = lists.frame()
    write_table(whole, tmp_path / f"whole{ext}")
    for part in (1, 3, 100):  # a part per query, parts that split the table unevenly, one part
        lists.write(tmp_path / f"parts{ext}", queries_per_part=part)
        pd.testing.assert_frame_equal(read_table(tmp_path / f"parts{ext}"), read_table(tmp_path / f"whole{ext}"))
    assert len(lists) == len(whole) == filled and whole["reason"].tolist() == [f"why {i}" for i in range(filled)]
    empty = Lists(["a"], ["A"], np.full((1, 3), -1), np.zeros((1, 3), np.float32), rec.products)
    empty.write(tmp_path / f"empty{ext}", queries_per_part=1)
    assert len(empty) == 0
    if ext != ".jsonl":  # an empty JSON-lines file has no columns to read
        assert read_table(tmp_path / f"empty{ext}").empty


def test_brand_similarity_pools_sources():
    graph, s, t = planted()
    bv = brand_vectors(s, graph.products["brand"].to_numpy())
    assert bv.names.tolist() == ["acme", "zeta"] and bv.counts.tolist() == [3, 3]
    q = bv.encode(["acme"])
    ids, scores = similar_brands(bv, q, 3)
    assert ids[0].tolist() == [1, -1, -1]
    frame = brand_frame(bv, q, ids, scores)
    assert frame["similar_brand"].tolist() == ["zeta"]
    with pytest.raises(UnknownIdError, match="unknown brand 'nobrand'"):
        bv.encode(["nobrand"])


# --- the CLI, end to end on a hand-made artifact (the trained-model end-to-end test lives with the pipeline) ---

def write_artifacts(tmp_path, graph):
    from dualgnn.artifacts import FORMAT_VERSION, MANIFEST, write_graph, write_json

    art = tmp_path / "art"
    art.mkdir()
    write_graph(art, graph)
    write_json(art / MANIFEST, {"kind": "graph", "format_version": FORMAT_VERSION,
                                "counts": {"products": graph.num_products}})
    return art


def write_model(model_dir, source, target, fingerprint):
    """The serving half of a model directory: manifest.json and embeddings.npz (no weights needed)."""
    from dualgnn.artifacts import FORMAT_VERSION, MANIFEST, write_json, write_npz

    model_dir.mkdir(exist_ok=True)
    write_npz(model_dir / "embeddings.npz", source=source, target=target)
    write_json(model_dir / MANIFEST, {"kind": "model", "format_version": FORMAT_VERSION,
                                      "graph_fingerprint": fingerprint})
    return model_dir


@pytest.fixture
def cli_setup(tmp_path):
    """Artifacts of the planted graph and a model directory holding the planted vectors."""
    from dualgnn.artifacts import graph_fingerprint

    graph, s, t = planted()
    art = write_artifacts(tmp_path, graph)
    model = write_model(tmp_path / "model", s, t, graph_fingerprint(graph))
    return art, model


def run_cli(*args):
    from typer.testing import CliRunner

    from cli.app import _register, app

    _register()
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_recommend_prints_and_writes(cli_setup, tmp_path):
    art, model = cli_setup
    res = run_cli("recommend", art, "--model", model, "--product", "p0", "-k", "2", "--explain")
    assert res.exit_code == 0, res.output
    assert "customers also bought" in res.output and "title c0" in res.output and "also bought this" in res.output
    out = tmp_path / "all.jsonl"
    res = run_cli("recommend", art, "--model", model, "--all", "-k", "3", "--exclude-linked", "--out", out, "-q")
    assert res.exit_code == 0, res.output
    df = read_table(out)
    assert len(df) == 8 * 3 and not ((df["product_id"] == "p0") & (df["recommended_id"] == "c0")).any()
    res = run_cli("recommend", art, "--model", model, "--basket", "p0,c0", "-k", "2")
    assert res.exit_code == 0 and "complete the basket" in res.output
    res = run_cli("recommend", art, "--model", model, "--brands")
    assert res.exit_code == 0 and "zeta" in res.output


def test_cli_errors_are_user_errors(cli_setup, tmp_path):
    art, model = cli_setup
    res = run_cli("recommend", art, "--model", model, "--product", "ghost")
    assert isinstance(res.exception, UnknownIdError) and "'ghost' (from --product)" in str(res.exception)
    res = run_cli("recommend", art, "--model", model)
    assert isinstance(res.exception, InputError) and "nothing to recommend" in str(res.exception)
    _, s, t = planted()
    write_model(model, s, t, "feedfacefeedface")
    res = run_cli("recommend", art, "--model", model, "--product", "p0")
    assert isinstance(res.exception, ArtifactError) and "another graph" in str(res.exception)


@pytest.mark.parametrize("case", ["basket and similar", "basket and product", "basket and all", "unknown ids",
                                  "stock of strangers", "empty new products", "unknown output format", "no query",
                                  "empty basket", "brands and similar"])
def test_cli_recommend_misuse_is_named_before_any_work(cli_setup, tmp_path, case):
    art, model = cli_setup
    ids, stock, new = tmp_path / "ids.txt", tmp_path / "stock.txt", tmp_path / "new.csv"
    ids.write_text("p0\nghost1\nghost2\nghost3\n")
    stock.write_text("nope1\nnope2\n")
    new.write_text("product_id,title\n")
    args, code, words = {
        "basket and similar": (["--basket", "p0,c0", "--similar"], 2, ["cannot be combined"]),
        "basket and product": (["--basket", "p0,c0", "--product", "p0"], 2, ["cannot be combined"]),
        "basket and all": (["--basket", "p0", "--all"], 2, ["cannot be combined"]),
        "unknown ids": (["--products-file", ids], 1, [str(ids), "line 2", "'ghost1'", "(and 2 more)"]),
        "stock of strangers": (["--product", "p0", "--in-stock", stock], 1, [str(stock), "none of the 2 ids"]),
        "empty new products": (["--new-products", new], 1, [str(new), "no product rows"]),
        "unknown output format": (["--product", "p0", "--out", tmp_path / "x.xlsx"], 1, ["x.xlsx", ".parquet"]),
        "no query": ([], 1, ["no query was given", "--product ID", "--brands"]),
        "empty basket": (["--basket", " , "], 2, ["--basket", "names no product"]),
        "brands and similar": (["--brands", "--similar", "--explain"], 2,
                               ["--brands ranks brands", "combined with --similar, --explain"]),
    }[case]
    res = run_cli("recommend", art, "--model", model, *args)
    message = res.output if code == 2 else str(res.exception)
    assert res.exit_code == code and all(w in " ".join(message.split()) for w in words), (res.exit_code, message)
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_new_products_are_queries_and_optionally_targets(cli_setup, tmp_path, monkeypatch):
    # Wiring only (the cold-start forward pass has its own tests): features and embeddings are stubbed so the
    # new phone gets a phone's vectors; it must be recommended accessories, and be recommended itself only
    # with --new-as-targets.
    from types import SimpleNamespace

    import dualgnn.features.build as features
    import dualgnn.model.coldstart as coldstart
    import dualgnn.model.io as model_io
    from dualgnn.artifacts import graph_fingerprint

    art, model = cli_setup
    graph, s, t = planted()
    monkeypatch.setattr(model_io, "load_model", lambda d: SimpleNamespace(
        model=None, config=None, fingerprint=graph_fingerprint(graph)))
    monkeypatch.setattr(features.Features, "load", classmethod(lambda cls, d: None))
    monkeypatch.setattr(features, "transform_new", lambda products, ref: products)
    monkeypatch.setattr(coldstart, "embed_new_products",
                        lambda model, config, g, warm, new, k_links=10: (s[[0]] * 1.0, 2.0 * t[[2]]))
    new = tmp_path / "new.csv"
    new.write_text("product_id,title,category\nNEWCASE,shiny new case,Tech > Cases\n")
    out = tmp_path / "cold.csv"
    res = run_cli("recommend", art, "--model", model, "--new-products", new, "-k", "2", "--out", out)
    assert res.exit_code == 0, res.output
    df = read_table(out)
    assert df["product_id"].tolist() == ["NEWCASE"] * 2 and set(df["recommended_id"]) <= {"c0", "c1", "c2", "h0"}
    res = run_cli("recommend", art, "--model", model, "--new-products", new, "--new-as-targets",
                  "--product", "p1", "-k", "1", "--out", out)
    assert res.exit_code == 0, res.output
    assert read_table(out)["recommended_id"].tolist() == ["NEWCASE"]


def test_a_basket_whose_lists_the_basket_wide_filters_thin_is_fetched_deeper():
    # Item 0's best 40 are in item 1's category and item 1's best 40 in item 0's: with exclude_same_category the
    # basket-wide filter wipes both first pages; the basket still fills k from the products further down.
    graph, _, _ = random_catalog(seed=5)
    n = graph.num_products
    graph.products["category"] = ["Z > z"] * n
    graph.products.loc[[0, *range(50, 90)], "category"] = "X > x"
    graph.products.loc[[1, *range(10, 50)], "category"] = "Y > y"
    s, t = np.zeros((n, 2), np.float32), np.full((n, 2), 0.01, np.float32)
    s[0], s[1] = [1.0, 0.0], [0.0, 1.0]
    t[10:50, 0] = 5.0 - 0.01 * np.arange(40)  # item 0's favourites: Y
    t[50:90, 1] = 5.0 - 0.01 * np.arange(40)  # item 1's favourites: X
    rec = recommender_for(graph, s, t, index_kind="exact")
    ids, _ = rec.basket(np.array([0, 1]), 5, Filters(exclude_same_category=True))
    assert (ids >= 0).all() and set(graph.products["category"].iloc[ids[0]]) == {"Z > z"}
