"""Synthetic products: titles, descriptions, brands and prices, plus the hidden ties the edge generators use.

Products are made one category at a time (a loop over ~34 categories; everything inside is vectorised), in the
order of :data:`dualgnn.synth.vocab.CATEGORIES`, so each category is a contiguous block of rows. Product ids are
given later, in :mod:`dualgnn.synth.catalog`, after a shuffle.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter

import numpy as np
import pandas as pd

from dualgnn.synth.vocab import CATEGORIES, GENERIC_SENTENCES, CategorySpec

CATEGORY_INDEX = {spec.key: i for i, spec in enumerate(CATEGORIES)}
BRANDS = sorted({b for spec in CATEGORIES for b in spec.brands})
_BRAND_LOOKUP = pd.Index(BRANDS)
#: Products per model: a phone model comes in a few storage / colour variants, a book series has a few volumes.
VARIANTS_PER_MODEL = 5


@dataclass
class ProductTable:
    """Products in generation order (category blocks), with hidden columns. All arrays have shape ``(n,)``.

    ``frame``: title, description, category, brand, price (what a shop would publish; no ids yet).
    ``cat``: category index into ``CATEGORIES``. ``key``: the product's substitute group inside its category (its
    model; for an accessory the model or brand it fits; otherwise its brand). ``model``: global model id or -1.
    ``brand``: global brand id (kept even where the published brand is blanked). ``pop``: popularity weight.
    ``starts``: row where each category begins, shape ``(n_categories + 1,)``.
    """

    frame: pd.DataFrame
    cat: np.ndarray
    key: np.ndarray
    model: np.ndarray
    brand: np.ndarray
    pop: np.ndarray
    starts: np.ndarray


def allocate(n: int, shares: np.ndarray, minimum: int = 2) -> np.ndarray:
    """Split ``n`` into integer parts proportional to ``shares`` (largest remainder), each at least ``minimum``.

    >>> allocate(10, np.array([1.0, 1.0, 2.0]), minimum=1).tolist()
    [3, 3, 4]
    """
    spare = n - minimum * len(shares)
    exact = spare * shares / shares.sum()
    counts = np.floor(exact).astype(np.int64)
    # Hand the leftover units to the largest remainders; ties go to the earlier category (stable sort).
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: spare - counts.sum()]] += 1
    return counts + minimum


def fill(template: str, fields: dict, n: int) -> np.ndarray:
    """Vectorised ``template.format(**row)`` for ``n`` rows; ``fields`` values are str or object arrays of ``n``.

    >>> fill("{brand} {model}", {"brand": np.array(["Nexo"], object), "model": "X12"}, 1).tolist()
    ['Nexo X12']
    """
    out = np.full(n, "", dtype=object)
    for literal, name, _, _ in Formatter().parse(template):
        if literal:
            out = out + literal
        if name is not None:
            out = out + fields[name]
    return out


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Popularity ``1 / rank**exponent`` over a random ranking: a few hubs and a long tail."""
    rank = rng.permutation(n) + 1.0
    return rank ** -exponent


def _model_labels(spec: CategorySpec, n_models: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct model labels: "X12 Pro" (code style) or "The Lantern Files" (phrase style)."""
    series, suffixes = spec.models
    k = rng.permutation(n_models)
    s = np.asarray(series, dtype=object)[k % len(series)]
    if spec.model_style == "phrase":
        combos = len(series) * len(suffixes)
        label = "The " + s + " " + np.asarray(suffixes, dtype=object)[(k // len(series)) % len(suffixes)]
        edition = np.where(k >= combos, " " + (k // combos + 1).astype(str).astype(object), "")
        return label + edition
    # (series, number) is unique per k, so labels are distinct; the suffix only decorates.
    number = (k // len(series) + 3).astype(str).astype(object)
    return s + number + np.asarray(suffixes, dtype=object)[rng.integers(len(suffixes), size=n_models)]


def _pick(values: tuple[str, ...], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    idx = rng.integers(len(values), size=n)
    return np.asarray(values, dtype=object)[idx], idx


def _volume_numbers(model: np.ndarray) -> np.ndarray:
    """1, 2, 3 ... within each model (a book's number in its series)."""
    order = np.argsort(model, kind="stable")
    sorted_m = model[order]
    start = np.flatnonzero(np.r_[True, sorted_m[1:] != sorted_m[:-1]])
    pos = np.arange(len(model)) - np.repeat(start, np.diff(np.r_[start, len(model)]))
    out = np.empty(len(model), np.int64)
    out[order] = pos + 1
    return out


def make_products(n_products: int, *, popularity_skew: float, missing_share: float,
                  rng: np.random.Generator) -> ProductTable:
    """Generate ``n_products`` products over all categories (see :class:`ProductTable`)."""
    sizes = allocate(n_products, np.array([spec.share for spec in CATEGORIES]))
    starts = np.r_[0, np.cumsum(sizes)]
    parts: list[dict] = []
    model_offset = 0
    # Per generated primary: (model gids, "Brand Label" strings, model popularity, model brand ids), so that
    # accessories can point at them. Primaries come first in CATEGORIES.
    models_of: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for c, (spec, n) in enumerate(zip(CATEGORIES, sizes)):
        n = int(n)
        pop = zipf_weights(n, popularity_skew, rng)
        fields: dict = {"noun": spec.noun, "model": "", "target": "",
                        "num": rng.integers(1, 10, size=n).astype(str).astype(object)}
        model = np.full(n, -1, np.int64)
        key = None
        if spec.models is None:
            brand, _ = _pick(spec.brands, n, rng)
        else:
            local, brand, fields["model"], names, mbrand = _models(spec, n, rng)
            n_models = len(names)
            model = key = model_offset + local
            if spec.model_style == "phrase":
                fields["num"] = _volume_numbers(local).astype(str).astype(object)
            mpop = np.bincount(local, weights=pop, minlength=n_models)
            models_of[spec.key] = (model_offset + np.arange(n_models), names, mpop,
                                   _BRAND_LOOKUP.get_indexer(mbrand).astype(np.int64))
            model_offset += n_models
        if spec.compat is not None:
            key, brand = _compat(spec, n, brand, models_of[spec.compat[0]], fields, rng)
        brand_id = _BRAND_LOOKUP.get_indexer(brand).astype(np.int64)
        if key is None:
            key = brand_id
        tier = np.zeros(n, np.int64)
        for j, values in enumerate(spec.attrs):
            fields[f"a{j}"], idx = _pick(values, n, rng)
            if j == 0:
                tier = idx
        fields["brand"] = brand
        price = spec.price[0] * np.exp(spec.price[1] * rng.standard_normal(n))
        if spec.tiered:
            price *= 1.0 + 0.35 * tier
        parts.append({"title": fill(spec.title, fields, n), "description": _describe(spec, fields, n, rng),
                      "category": np.full(n, spec.path, dtype=object), "brand": brand.copy(), "price": price,
                      "cat": np.full(n, c, np.int32), "key": key, "model": model, "brand_id": brand_id, "pop": pop})
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    _blank(cols, missing_share, rng)
    frame = pd.DataFrame({name: cols[name] for name in ("title", "description", "category", "brand", "price")})
    return ProductTable(frame=frame, cat=cols["cat"], key=cols["key"].astype(np.int64), model=cols["model"],
                        brand=cols["brand_id"], pop=cols["pop"], starts=starts)


def _models(spec: CategorySpec, n: int, rng: np.random.Generator):
    """Group ``n`` products into models of about ``VARIANTS_PER_MODEL`` variants each.

    Returns (model of each product, brand of each product, model label of each product, "Brand Label" of each
    model, brand of each model).
    """
    n_models = max(1, -(-n // VARIANTS_PER_MODEL))
    labels = _model_labels(spec, n_models, rng)
    # Market leaders first: brand shares fall off with the brand's position in the list.
    bw = 1.0 / np.arange(1, len(spec.brands) + 1) ** 0.7
    mbrand = np.asarray(spec.brands, dtype=object)[rng.choice(len(spec.brands), n_models, p=bw / bw.sum())]
    # Every model gets at least one product; the rest are spread at random.
    local = np.concatenate([np.arange(n_models), rng.integers(n_models, size=n - n_models)])
    rng.shuffle(local)
    return local, mbrand[local], labels[local], mbrand + " " + labels, mbrand


def _compat(spec, n, brand, primary, fields, rng):
    """Tie each accessory to a primary model (or brand), popular ones more often; return (key, brand)."""
    gids, names, mpop, mbrand_id = primary
    level = spec.compat[1]
    if level == "model":
        pick = rng.choice(len(gids), size=n, p=mpop / mpop.sum())
        key, fields["target"] = gids[pick], names[pick]
        target_brand = np.asarray(BRANDS, dtype=object)[mbrand_id[pick]]
    else:
        bpop = np.bincount(mbrand_id, weights=mpop, minlength=len(BRANDS))
        key = rng.choice(len(BRANDS), size=n, p=bpop / bpop.sum())
        target_brand = np.asarray(BRANDS, dtype=object)[key]
        fields["target"] = target_brand
    # Brand families: the phone maker also sells cases for its own phones.
    own = rng.random(n) < spec.family_share
    return key.astype(np.int64), np.where(own, target_brand, brand)


def _describe(spec: CategorySpec, fields: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """One of the category's description templates, sometimes followed by a stock sentence."""
    which = rng.integers(len(spec.descriptions), size=n)
    out = np.empty(n, dtype=object)
    for t, template in enumerate(spec.descriptions):
        rows = which == t
        sub = {k: (v[rows] if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
        out[rows] = fill(template, sub, int(rows.sum()))
    extra, _ = _pick(GENERIC_SENTENCES, n, rng)
    return np.where(rng.random(n) < 0.4, out + " " + extra, out)


def _blank(cols: dict, share: float, rng: np.random.Generator) -> None:
    """Real catalogs have holes: blank some brands and descriptions, drop some prices; round the rest."""
    n = len(cols["title"])
    cols["brand"][rng.random(n) < share] = ""
    cols["description"][rng.random(n) < 1.5 * share] = ""
    price = cols["price"]
    # Shop prices end in .99 above ten; cheap items keep their cents.
    price = np.where(price >= 10, np.floor(price) + 0.99, np.maximum(np.round(price, 2), 0.99))
    price[rng.random(n) < share] = np.nan
    cols["price"] = price
