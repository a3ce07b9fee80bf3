"""Node features: known similarities, categorical ids, price scaling, the text cache, save/load, cold start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dualgnn.errors import ArtifactError, InputError
from dualgnn.features import words as text_encoders
from dualgnn.features.build import build_features, transform_new
from dualgnn.features.sentence import SentenceEncoder
from dualgnn.features.settings import FeatureSettings
from dualgnn.features.store import Features
from dualgnn.features.text import product_text
from dualgnn.features.words import HashingEncoder

# Two jazz trumpet albums, a rock album, and a kitchen knife: the jazz pair must be each other's nearest text.
CATALOG = pd.DataFrame({
    "product_id": ["jazz1", "jazz2", "rock1", "knife", "bare", "rock2"],
    "title": ["Miles Davis Kind of Blue trumpet jazz", "Miles Davis Sketches of Spain trumpet jazz",
              "Led Zeppelin IV rock guitar", "Stainless steel chef knife 8 inch", None, "Led Zeppelin II guitar"],
    "category": ["Music > Jazz > Cool", "Music > Jazz > Cool", "Music > Rock", "Kitchen > Knives", "",
                 "Music >Rock "],
    "brand": ["Columbia", " COLUMBIA ", "Atlantic", "Wüsthof", None, "Atlantic"],
    "description": ["Modal jazz classic.", "Orchestral jazz with Gil Evans.", "Hard rock.", "Forged blade.", "",
                    "Hard rock."],
    "price": [9.99, 12.5, np.nan, 120.0, -3.0, 8.0],
})


def cosine(feats: Features, i: int, j: int) -> float:
    return float(feats.text[i] @ feats.text[j])


@pytest.fixture
def count_encoded(monkeypatch):
    """Wrap HashingEncoder.encode so tests can see how many texts were actually encoded."""
    calls: list[list[str]] = []
    original = HashingEncoder.encode

    def counting(self, texts, *, progress=False):
        calls.append(list(texts))
        return original(self, texts, progress=progress)

    monkeypatch.setattr(HashingEncoder, "encode", counting)
    return calls


@pytest.mark.parametrize("settings", [FeatureSettings(encoder="tfidf", dim=64),
                                      FeatureSettings(encoder="tfidf", dim=4),  # fewer dims than terms: SVD
                                      FeatureSettings(encoder="hashing", dim=64)])
def test_similar_products_have_closer_text(settings):
    feats = build_features(CATALOG, settings, progress=False)
    assert feats.text.shape == (6, settings.dim) and feats.text.dtype == np.float32
    assert cosine(feats, 0, 1) > cosine(feats, 0, 2) and cosine(feats, 0, 1) > cosine(feats, 0, 3)
    assert cosine(feats, 2, 5) > cosine(feats, 2, 3)
    norms = np.linalg.norm(feats.text, axis=1)
    assert np.allclose(norms[[0, 1, 2, 3, 5]], 1.0, atol=1e-5)
    assert np.isfinite(feats.text).all()


def test_svd_reduction_keeps_neighbours():
    feats = build_features(CATALOG, FeatureSettings(encoder="tfidf", dim=4), progress=False)
    assert cosine(feats, 0, 1) > cosine(feats, 0, 3)


def test_minilm_similarity_cache_and_cold_start(tmp_path, monkeypatch):
    # The only MiniLM test: loading the model takes seconds, so everything MiniLM-specific is checked here.
    products = CATALOG.iloc[[0, 1, 3]].reset_index(drop=True)
    cache = tmp_path / "text_cache.npz"
    feats = build_features(products, FeatureSettings(), cache_path=cache, progress=False)
    assert feats.text.shape == (3, 384)
    assert np.allclose(np.linalg.norm(feats.text, axis=1), 1.0, atol=1e-5)
    assert cosine(feats, 0, 1) > cosine(feats, 0, 2)

    encoded = []
    monkeypatch.setattr(SentenceEncoder, "encode", lambda self, texts, progress=False: encoded.append(texts))
    again = build_features(products, FeatureSettings(), cache_path=cache, progress=False)
    assert encoded == [] and np.array_equal(again.text, feats.text)
    monkeypatch.undo()

    new = transform_new(products.iloc[[1]], feats)
    np.testing.assert_allclose(new.text[0], feats.text[1], atol=1e-5)
    empty = transform_new(pd.DataFrame({"product_id": ["x"]}), feats)  # no text at all: still a finite unit vector
    assert np.isfinite(empty.text).all() and np.isclose(np.linalg.norm(empty.text), 1.0, atol=1e-5)


def test_categorical_ids_share_normalised_values_and_drop_rare_ones():
    feats = build_features(CATALOG, FeatureSettings(encoder="hashing"), progress=False)
    brand, top, leaf = feats.categorical.T
    assert feats.vocab["brand"] == ["atlantic", "columbia"]  # case and spaces folded; Wüsthof seen once -> rare
    assert brand.tolist() == [2, 2, 1, 0, 0, 1]
    assert feats.vocab["category_top"] == ["Music"]  # Kitchen is rare, the empty path is missing
    assert top.tolist() == [1, 1, 1, 0, 0, 1]
    assert leaf[0] == leaf[1] != 0 and leaf[2] == leaf[5] != 0  # "Music >Rock " is "Music > Rock"
    assert feats.cardinalities == (3, 2, 3)
    assert feats.categorical.dtype == np.int64

    loose = build_features(CATALOG, FeatureSettings(encoder="hashing", min_count=1), progress=False)
    assert loose.categorical[3, 0] != 0 and loose.cardinalities[0] == 4


def test_price_is_standardised_log_price_with_missing_flag():
    feats = build_features(CATALOG, FeatureSettings(encoder="hashing"), progress=False)
    scaled, flag = feats.numeric.T
    assert flag.tolist() == [0, 0, 1, 0, 1, 0]  # NaN and negative prices are missing
    assert scaled[flag == 1].tolist() == [0.0, 0.0]
    present = np.log1p([9.99, 12.5, 120.0, 8.0])
    expected = (present - present.mean()) / present.std()
    np.testing.assert_allclose(scaled[flag == 0], expected, rtol=1e-5)
    assert feats.numeric_stats["log_price_mean"] == pytest.approx(present.mean())

    no_price = build_features(CATALOG.drop(columns="price"), FeatureSettings(encoder="hashing"), progress=False)
    assert no_price.numeric[:, 1].tolist() == [1.0] * 6 and not no_price.numeric[:, 0].any()


def test_cache_reencodes_only_changed_texts(tmp_path, count_encoded):
    cache = tmp_path / "text_cache.npz"
    settings = FeatureSettings(encoder="hashing")
    first = build_features(CATALOG, settings, cache_path=cache, progress=False)
    assert len(count_encoded[0]) == 6

    second = build_features(CATALOG, settings, cache_path=cache, progress=False)
    assert len(count_encoded) == 1  # nothing encoded
    assert np.array_equal(second.text, first.text)

    changed = CATALOG.copy()
    changed.loc[3, "title"] = "Ceramic paring knife"
    third = build_features(changed, settings, cache_path=cache, progress=False)
    assert count_encoded[1] == product_text(changed.iloc[[3]])
    assert np.array_equal(np.delete(third.text, 3, axis=0), np.delete(first.text, 3, axis=0))
    assert not np.array_equal(third.text[3], first.text[3])

    shuffled = build_features(changed.iloc[::-1], settings, cache_path=cache, progress=False)
    assert len(count_encoded) == 2 and np.array_equal(shuffled.text, third.text[::-1])  # vectors follow products

    build_features(changed, FeatureSettings(encoder="hashing", dim=32), cache_path=cache, progress=False)
    assert len(count_encoded[2]) == 6  # another encoder identity: nothing reusable


def test_tfidf_rebuild_of_unchanged_catalog_encodes_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "text_cache.npz"
    first = build_features(CATALOG, FeatureSettings(encoder="tfidf", dim=4), cache_path=cache, progress=False)
    monkeypatch.setattr(text_encoders.TfidfEncoder, "encode", lambda *a, **k: pytest.fail("encoded again"))
    again = build_features(CATALOG, FeatureSettings(encoder="tfidf", dim=4), cache_path=cache, progress=False)
    assert np.array_equal(again.text, first.text)  # the refit is deterministic, so its identity is the same


def test_duplicate_texts_are_encoded_once(count_encoded):
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(5)], "title": ["same"] * 4 + ["other"]})
    feats = build_features(products, FeatureSettings(encoder="hashing"), progress=False)
    assert sorted(count_encoded[0]) == ["other", "same"]
    assert np.array_equal(feats.text[0], feats.text[3])


def test_a_nightly_build_into_a_new_directory_reuses_last_nights_text_vectors(tmp_path, count_encoded):
    from dualgnn.build import BuildInputs, build_artifacts

    products = CATALOG.assign(product_id=[f"p{i}" for i in range(len(CATALOG))])
    edges = pd.DataFrame({"src": ["p0", "p2"], "dst": ["p1", "p5"]})
    edges.to_csv(tmp_path / "copurchase.csv", index=False)
    products.to_csv(tmp_path / "products.csv", index=False)
    inputs = BuildInputs(products=tmp_path / "products.csv", copurchase=tmp_path / "copurchase.csv")
    settings = FeatureSettings(encoder="hashing")
    build_artifacts(inputs, tmp_path / "last-night", settings, progress=False)
    assert len(count_encoded[0]) == 6
    products.loc[3, "title"] = "Ceramic paring knife"
    products.to_csv(tmp_path / "products.csv", index=False)
    build_artifacts(inputs, tmp_path / "tonight", settings, progress=False, reuse_text=tmp_path / "last-night")
    assert count_encoded[1:] == [product_text(products.iloc[[3]])]  # only the changed product
    assert (tmp_path / "last-night" / "text_cache.npz").exists()  # the earlier build is an input: left alone
    with pytest.raises(InputError, match="no text_cache.npz"):
        build_artifacts(inputs, tmp_path / "other", settings, progress=False, reuse_text=tmp_path)


def test_damaged_cache_is_ignored(tmp_path, count_encoded, caplog):
    cache = tmp_path / "text_cache.npz"
    cache.write_bytes(b"not an npz")
    feats = build_features(CATALOG, FeatureSettings(encoder="hashing"), cache_path=cache, progress=False)
    assert len(count_encoded[0]) == 6 and "ignoring the text cache" in caplog.text
    again = build_features(CATALOG, FeatureSettings(encoder="hashing"), cache_path=cache, progress=False)
    assert len(count_encoded) == 1 and np.array_equal(again.text, feats.text)  # rewritten cleanly


@pytest.mark.parametrize("encoder", ["tfidf", "hashing"])
def test_save_load_roundtrip_and_cold_start_match_build(tmp_path, encoder):
    feats = build_features(CATALOG, FeatureSettings(encoder=encoder, dim=8), progress=False)
    feats.save(tmp_path)
    loaded = Features.load(tmp_path)
    for name in ("text", "categorical", "numeric"):
        assert np.array_equal(getattr(loaded, name), getattr(feats, name))
    assert (loaded.cardinalities, loaded.vocab, loaded.settings) == (feats.cardinalities, feats.vocab, feats.settings)
    assert loaded.numeric_stats == pytest.approx(feats.numeric_stats)
    assert sorted(loaded.encoder_state.arrays) == sorted(feats.encoder_state.arrays)

    # Cold start: the same metadata arriving as a "new" product gets exactly the row it had in the build.
    new = transform_new(CATALOG.iloc[[1, 3]], loaded)
    np.testing.assert_allclose(new.text, feats.text[[1, 3]], atol=1e-6)
    assert np.array_equal(new.categorical, feats.categorical[[1, 3]])
    np.testing.assert_allclose(new.numeric, feats.numeric[[1, 3]], atol=1e-6)


def test_cold_start_maps_unknown_values_to_zero():
    feats = build_features(CATALOG, FeatureSettings(encoder="tfidf", dim=8), progress=False)
    new = transform_new(pd.DataFrame({"product_id": ["n1"], "title": ["unseen words only"], "brand": ["Nonesuch"],
                                      "category": ["Garden > Tools"], "price": [1e6]}), feats)
    assert new.categorical.tolist() == [[0, 0, 0]]
    assert not new.text.any()  # no word of the fitted vocabulary: the zero vector
    assert new.numeric[0, 0] > 3 and new.numeric[0, 1] == 0
    with pytest.raises(ValueError, match="batch_size"):
        transform_new(CATALOG, feats, settings=FeatureSettings(encoder="tfidf", dim=16))
    assert transform_new(CATALOG, feats, settings=FeatureSettings(encoder="tfidf", dim=8, batch_size=7)).num_products == 6


def test_catalog_with_only_ids_gets_finite_features():
    ids_only = pd.DataFrame({"product_id": ["a", "b", "c"]})
    assert product_text(ids_only) == ["", "", ""]
    for encoder in ("tfidf", "hashing"):
        feats = build_features(ids_only, FeatureSettings(encoder=encoder, dim=8), progress=False)
        assert feats.text.shape == (3, 8) and not feats.text.any()
        assert not feats.categorical.any() and feats.cardinalities == (1, 1, 1)
    with pytest.raises(InputError):
        build_features(ids_only.iloc[:0], FeatureSettings(encoder="hashing"))


def test_untidy_column_types_are_read_as_text(recwarn):
    # As read from a CSV: an all-missing column is float64, numbers in text columns, prices as strings.
    untidy = pd.DataFrame({"product_id": ["a", "b"], "title": [np.nan, 3.0], "brand": [np.nan, np.nan],
                           "category": [None, "A>B"], "price": ["1.5", "n/a"]})
    assert product_text(untidy) == ["", "3.0. A>B"]
    feats = build_features(untidy, FeatureSettings(encoder="hashing", min_count=1), progress=False)
    assert feats.vocab == {"brand": [], "category_top": ["A"], "category_leaf": ["A > B"]}
    assert feats.numeric[:, 1].tolist() == [0.0, 1.0]
    assert not [w for w in recwarn if "pandas" in str(w.category).lower()]


def test_product_text_order_and_truncation():
    row = pd.DataFrame({"product_id": ["a"], "description": ["x" * 50], "brand": ["B"], "title": ["T\n  t"],
                        "category": ["C > D"]})
    assert product_text(row, max_description_chars=5) == ["T t. C > D. B. xxxxx"]


@pytest.mark.parametrize("kwargs", [dict(encoder="word2vec"), dict(dim=1), dict(batch_size=0), dict(min_count=0),
                                    dict(max_description_chars=-1), dict(seed=-1), dict(dim=2.5),
                                    dict(encoder="tfidf", model_path="/some/model")])
def test_invalid_settings_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        FeatureSettings(**kwargs)


def test_settings_roundtrip_and_unknown_keys():
    settings = FeatureSettings(encoder="tfidf", dim=32, seed=3)
    assert FeatureSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="unknown"):
        FeatureSettings.from_dict({"encoder": "tfidf", "dims": 32})
    with pytest.raises(TypeError):
        FeatureSettings("tfidf")  # keyword-only


def test_missing_model_directory_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no sentence-transformers model"):
        build_features(CATALOG, FeatureSettings(model_path=str(tmp_path / "nowhere")), progress=False)


@pytest.mark.parametrize("config", ['{"hidden_size": 3}', "{half", ""])
def test_a_model_directory_transformers_cannot_load_is_an_input_error(tmp_path, config):
    (tmp_path / "config.json").write_text(config)
    with pytest.raises(InputError, match=f"cannot load the sentence-transformers model in {tmp_path}") as info:
        build_features(CATALOG, FeatureSettings(model_path=str(tmp_path)), progress=False)
    assert "--model-path" in info.value.hint


def test_damaged_or_missing_files_raise_artifact_error(tmp_path):
    feats = build_features(CATALOG, FeatureSettings(encoder="tfidf", dim=8), progress=False)
    feats.save(tmp_path)
    (tmp_path / "features.npz").write_bytes((tmp_path / "features.npz").read_bytes()[:100])
    with pytest.raises(ArtifactError):
        Features.load(tmp_path)

    feats.save(tmp_path)
    other = build_features(CATALOG.iloc[:3], FeatureSettings(encoder="tfidf", dim=8), progress=False)
    other.save(tmp_path / "other")
    (tmp_path / "other" / "features.npz").replace(tmp_path / "features.npz")  # arrays of another build
    with pytest.raises(ArtifactError, match="features.json says"):
        Features.load(tmp_path)

    (tmp_path / "features.json").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        Features.load(tmp_path)
