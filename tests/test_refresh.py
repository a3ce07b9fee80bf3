"""`dualgnn refresh`: a changed catalog re-embedded with the trained weights, without training."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.test_reliability import build_args, cli_ok, run, write_shop

NEW_PHONE, GONE = "P9000", "P0039"
BRAND0_CASES = [f"P{i:04d}" for i in range(40, 45)]


@pytest.fixture(scope="module")
def shop_model(tmp_path_factory):
    """The planted shop, its graph and a shipped model trained on it (8 epochs, small)."""
    root = tmp_path_factory.mktemp("refresh")
    shop = write_shop(root / "shop")
    cli_ok(*build_args(shop, root / "graph"))
    cli_ok("train", root / "graph", "--out", root / "model", "--epochs", "8", "--dim", "32", "--quiet")
    return root


def tonight(shop_model, tmp_path):
    """Tonight's shop: a new phone bought with brand 0's cases and viewed with its phones; one phone delisted."""
    shop = tmp_path / "shop2"
    shutil.copytree(shop_model / "shop", shop)
    products = pd.read_csv(shop / "products.csv")
    products = pd.concat([products[products["product_id"] != GONE],
                          pd.DataFrame({"product_id": [NEW_PHONE], "title": ["phone 0"]})])
    products.to_csv(shop / "products.csv", index=False)
    for name, extra in (("copurchase", [(NEW_PHONE, c) for c in BRAND0_CASES]),
                        ("coview", [(NEW_PHONE, f"P000{i}") for i in range(5)])):
        edges = pd.read_csv(shop / f"{name}.csv")
        edges = edges[(edges["src"] != GONE) & (edges["dst"] != GONE)]
        pd.concat([edges, pd.DataFrame(extra, columns=["src", "dst"])]).to_csv(shop / f"{name}.csv", index=False)
    return shop


def test_refreshing_with_the_same_graph_gives_the_same_vectors(shop_model, tmp_path, capsys):
    from dualgnn.model.io import load_model

    code, out = run(capsys, "refresh", shop_model / "graph", "--model", shop_model / "model", "--out", tmp_path / "r")
    assert code == 0, out
    before, after = load_model(shop_model / "model"), load_model(tmp_path / "r")
    np.testing.assert_allclose(after.source, before.source, atol=1e-5)
    np.testing.assert_allclose(after.target, before.target, atol=1e-5)
    assert "products added" in out and "copurchase added" in " ".join(out.split())


def test_a_product_added_with_edges_gets_its_brands_cases_and_a_removed_one_is_gone(shop_model, tmp_path, capsys):
    from dualgnn.model.io import load_model

    graph2 = tmp_path / "graph2"
    assert run(capsys, *build_args(tonight(shop_model, tmp_path), graph2))[0] == 0
    code, out = run(capsys, "refresh", graph2, "--model", shop_model / "model", "--out", tmp_path / "r")
    assert code == 0, out
    import json

    training = json.loads((tmp_path / "r" / "manifest.json").read_text())["training"]
    # Eighty products leave a few validation queries: too few to judge a ranker, so none was shipped.
    assert not (shop_model / "model" / "ranker.txt").exists()
    shipped = json.loads((shop_model / "model" / "manifest.json").read_text())["training"]["ranker"]
    assert shipped["shipped"] is False and "fewer than" in shipped["reason"]
    changes = training["changes"]
    assert changes["products_added"] == 1 and changes["products_removed"] == 1
    assert changes["copurchase_added"] == 5 and changes["copurchase_removed"] == 5  # the gone phone's 5 cases
    assert changes["coview_added"] == 5 and changes["coview_removed"] == 4
    lists = tmp_path / "lists.csv"
    code, out = run(capsys, "recommend", graph2, "--model", tmp_path / "r", "--product", NEW_PHONE, "--product",
                    "P0000", "-k", "5", "--out", lists)
    assert code == 0, out
    recs = pd.read_csv(lists, dtype=str)
    new, twin = (recs.loc[recs["product_id"] == q, "recommended_id"].tolist() for q in (NEW_PHONE, "P0000"))
    # Cases only (never a phone after a phone), and the lists of its twin, the brand-0 phone it shares edges with.
    assert all("P0040" <= r <= "P0079" for r in new), new
    assert len(set(new) & set(twin)) >= 3 and set(new) & set(BRAND0_CASES), (new, twin)
    code, out = run(capsys, "recommend", graph2, "--model", tmp_path / "r", "--product", GONE)
    assert code == 1 and GONE in out
    assert len(load_model(tmp_path / "r").source) == 80


def test_refresh_refuses_a_graph_built_with_other_feature_settings(shop_model, tmp_path, capsys):
    args = build_args(shop_model / "shop", tmp_path / "g")
    args[args.index("hashing")] = "tfidf"
    assert run(capsys, *args)[0] == 0
    code, out = run(capsys, "refresh", tmp_path / "g", "--model", shop_model / "model", "--out", tmp_path / "r")
    assert code == 1 and "other settings" in out and not (tmp_path / "r").exists()


def test_a_model_without_its_catalog_record_is_a_clear_error(shop_model, tmp_path, capsys):
    old = tmp_path / "old-model"
    shutil.copytree(shop_model / "model", old)
    (old / "ids.parquet").unlink()
    code, out = run(capsys, "refresh", shop_model / "graph", "--model", old, "--out", tmp_path / "r")
    assert code == 1 and "ids.parquet" in out and "retrain" in out
