"""The synthetic catalog: determinism, the planted one-way structure, realistic fields, files, CLI, the sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from dualgnn.errors import DualGNNError
from dualgnn.synth.catalog import SynthSettings, complements_table, generate
from dualgnn.synth.write import write_catalog

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
PHONES = "Electronics > Phones > Smartphones"
CASES = "Electronics > Phones > Accessories > Cases"


@pytest.fixture(scope="module")
def catalog():
    return generate(SynthSettings(n_products=3000, seed=11, with_events=True))


def _with_categories(edges: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    category = products.set_index("product_id")["category"]
    return edges.assign(src_cat=category.reindex(edges.src).to_numpy(), dst_cat=category.reindex(edges.dst).to_numpy())


# --- determinism

def test_same_seed_gives_identical_frames():
    a = generate(SynthSettings(n_products=500, seed=3, with_events=True))
    b = generate(SynthSettings(n_products=500, seed=3, with_events=True))
    for name in ("products", "copurchase", "coview", "events", "complements"):
        assert_frame_equal(getattr(a, name), getattr(b, name))


def test_other_seed_gives_other_catalog():
    a = generate(SynthSettings(n_products=500, seed=3))
    b = generate(SynthSettings(n_products=500, seed=4))
    assert not a.products.title.equals(b.products.title)
    assert not a.copurchase.equals(b.copurchase)


def test_events_leave_products_and_edges_unchanged():
    # Each part has its own random stream: switching the event log on must not reshuffle the catalog.
    a = generate(SynthSettings(n_products=500, seed=5))
    b = generate(SynthSettings(n_products=500, seed=5, with_events=True))
    assert_frame_equal(a.products, b.products)
    assert_frame_equal(a.copurchase, b.copurchase)
    assert a.events is None and len(b.events) > 0


# --- planted structure

def test_no_copurchase_from_a_complement_back_to_its_primary(catalog):
    cp = _with_categories(catalog.copurchase, catalog.products)
    back = cp.merge(catalog.complements, left_on=["src_cat", "dst_cat"], right_on=["complement", "primary"])
    assert len(back) == 0
    assert not ((cp.src_cat == CASES) & (cp.dst_cat == PHONES)).any()


def test_primaries_lead_to_their_complements(catalog):
    cp = _with_categories(catalog.copurchase, catalog.products)
    from_phones = cp[cp.src_cat == PHONES]
    assert (from_phones.dst_cat == CASES).sum() > 100
    truth = complements_table()
    phone_comps = set(truth.complement[truth.primary == PHONES])
    assert {CASES, "Electronics > Phones > Accessories > Chargers"} <= phone_comps
    # Most of a phone's co-purchases are its complements (the rest: other phones, noise).
    assert from_phones.dst_cat.isin(phone_comps).mean() > 0.8
    # Every primary category has out-edges to every one of its complements.
    pairs = set(zip(cp.src_cat, cp.dst_cat))
    assert all((p, c) in pairs for p, c in zip(truth.primary, truth.complement))


def test_cases_mostly_fit_the_phone_they_follow(catalog):
    cp = _with_categories(catalog.copurchase, catalog.products)
    title = catalog.products.set_index("product_id")["title"]
    pc = cp[(cp.src_cat == PHONES) & (cp.dst_cat == CASES)]
    # "Nexo X12 Pro 128GB Smartphone, ..." -> the case title says "for Nexo X12 Pro,".
    model = title.reindex(pc.src).str.extract(r"^(.*?) \d+GB Smartphone", expand=False).to_numpy()
    fits = [f"for {m}," in t for m, t in zip(model, title.reindex(pc.dst).to_numpy())]
    assert np.mean(fits) > 0.5


def test_edges_are_merged_counts_near_the_target(catalog):
    for edges, per_product in ((catalog.copurchase, 10), (catalog.coview, 10)):
        assert abs(len(edges) - 3000 * per_product) < 0.1 * 3000 * per_product
        assert not edges.duplicated(["src", "dst"]).any()
        assert (edges.src != edges.dst).all()
        w = edges.weight.to_numpy()
        assert (w >= 1).all() and (w == np.round(w)).all() and w.max() >= 10


def test_popularity_is_skewed(catalog):
    weight_in = catalog.copurchase.groupby("dst").weight.sum().sort_values(ascending=False)
    top = weight_in.iloc[: len(catalog.products) // 100].sum() / weight_in.sum()
    assert top > 0.1  # the top 1% of products receive over 10x their even share


def test_coview_pairs_are_substitutes_and_mostly_both_ways(catalog):
    cv = _with_categories(catalog.coview, catalog.products)
    assert (cv.src_cat == cv.dst_cat).mean() > 0.99
    pairs = set(zip(cv.src, cv.dst))
    assert np.mean([(d, s) in pairs for s, d in pairs]) > 0.6


# --- realistic fields

def test_products_look_like_a_catalog(catalog):
    p = catalog.products
    assert p.product_id.is_unique and p.product_id.str.fullmatch(r"P\d{7}").all()
    assert (p.category.str.count(" > ") >= 2).all()
    assert p.category.nunique() > 25
    assert (p.title.str.len() > 10).all()
    price = p.price.to_numpy()
    assert (price[~np.isnan(price)] > 0).all() and 0 < np.isnan(price).mean() < 0.1
    assert 0 < (p.brand == "").mean() < 0.1 and 0 < (p.description == "").mean() < 0.1
    median = p.groupby("category").price.median()
    assert median[PHONES] > 10 * median[CASES]


def test_events_are_consistent(catalog):
    ev = catalog.events
    assert set(ev.event.unique()) == {"view", "cart", "purchase"}
    assert ev.product_id.isin(catalog.products.product_id).all()
    assert ev.timestamp.is_monotonic_increasing
    assert 0.5 * 3000 * 20 < len(ev) < 1.5 * 3000 * 20
    # Follow-ups: some customers buy a case after (never in the same second as) buying a phone.
    category = catalog.products.set_index("product_id")["category"]
    bought = ev[ev.event == "purchase"].assign(cat=lambda d: category.reindex(d.product_id).to_numpy())
    first_phone = bought[bought.cat == PHONES].groupby("customer_id").timestamp.min()
    cases = bought[bought.cat == CASES].join(first_phone.rename("phone_at"), on="customer_id")
    assert (cases.timestamp > cases.phone_at).sum() > 20


def test_catalog_feeds_the_graph_builder_as_is(catalog):
    from dualgnn.graph import build_graph
    from dualgnn.sources.base import RawData

    graph, skipped = build_graph(RawData(products=catalog.products, copurchase=catalog.copurchase,
                                         coview=catalog.coview))
    assert skipped.total == 0
    assert graph.num_products == 3000 and len(graph.copurchase) == len(catalog.copurchase)
    assert graph.one_way_share() > 0.4


# --- files

@pytest.mark.parametrize("fmt,compress", [("csv", False), ("csv", True), ("parquet", False), ("parquet", True),
                                          ("jsonl", False), ("jsonl", True)])
def test_write_catalog_round_trip(tmp_path, fmt, compress):
    cat = generate(SynthSettings(n_products=300, seed=2, with_events=True))
    paths = write_catalog(cat, tmp_path / "out", fmt, compress=compress)
    ext = fmt + (".gz" if compress and fmt != "parquet" else "")
    assert sorted(p.name for p in paths) == sorted(
        [f"{n}.{ext}" for n in ("products", "copurchase", "coview", "events")] + ["synth.json"])
    read = {"csv": lambda p: pd.read_csv(p, keep_default_na=False, na_values={"price": [""]}),
            "parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False)}[fmt]
    for name in ("products", "copurchase", "coview", "events"):
        back = read(tmp_path / "out" / f"{name}.{ext}")
        want = getattr(cat, name)
        assert list(back.columns) == list(want.columns)
        for col in want.columns:
            if col == "timestamp":
                assert (pd.to_datetime(back[col]).to_numpy() == want[col].to_numpy()).all()
            elif col in ("price", "weight"):
                np.testing.assert_allclose(back[col].to_numpy(float), want[col].to_numpy(float))
            else:
                assert (back[col].astype(str).to_numpy() == want[col].to_numpy()).all(), (name, col)
    meta = json.loads((tmp_path / "out" / "synth.json").read_text())
    assert meta["settings"]["seed"] == 2 and meta["counts"]["products"] == 300


def test_write_catalog_rejects_unknown_format(tmp_path):
    with pytest.raises(DualGNNError, match="unknown output format"):
        write_catalog(generate(SynthSettings(n_products=100)), tmp_path, "xlsx")


@pytest.mark.parametrize("bad", [dict(n_products=99), dict(n_products=5_000_001), dict(n_products=1000.0),
                                 dict(seed=-1), dict(copurchase_per_product=0), dict(coview_per_product=-1),
                                 dict(popularity_skew=-0.5), dict(compat_share=1.5), dict(noise_share=0.9),
                                 dict(n_customers=0), dict(start="someday"), dict(days=True),
                                 dict(with_events=1), dict(missing_share=float("nan"))])
def test_bad_settings_raise_value_error(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SynthSettings(**bad)


# --- CLI and the bundled sample

def test_cli_synth_writes_files(tmp_path):
    from cli.app import _register, app

    _register()  # with every command registered, `synth` is a sub-command, as for the `dualgnn` script

    runner = CliRunner()
    result = runner.invoke(app, ["synth", "--products", "300", "--seed", "1", "--format", "parquet", "--events",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "300 products" in result.output
    assert pd.read_parquet(tmp_path / "products.parquet").shape[0] == 300
    assert (tmp_path / "events.parquet").exists()
    bad = runner.invoke(app, ["synth", "--products", "5", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and not (tmp_path / "x").exists()


def test_bundled_sample_matches_its_recorded_settings():
    meta_path = SAMPLE / "synth.json"
    if not meta_path.exists():
        pytest.skip("data/sample not generated")
    meta = json.loads(meta_path.read_text())
    cat = generate(SynthSettings(**meta["settings"]))
    products = pd.read_csv(SAMPLE / "products.csv.gz", keep_default_na=False, na_values={"price": [""]})
    # If this fails, the generator changed: regenerate the sample with the command in data/README.md.
    assert (products.title.to_numpy() == cat.products.title.to_numpy()).all()
    assert meta["counts"] == cat.counts()
