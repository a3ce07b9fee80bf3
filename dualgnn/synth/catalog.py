"""A seeded synthetic shop: products with real-looking metadata, directed co-purchase, co-view and an event log.

The structure is planted and known, so tests and demos can check answers, not shapes:

* one-way complements: phones -> cases, chargers, screen protectors; cameras -> lenses, memory cards; laptops ->
  bags, mice; coffee makers -> filters; bikes -> helmets, lights ... never back (``catalog.complements``);
* compatibility: most of a phone's cases are made for that phone model, and the title says so
  ("ArmorLine Slim Case for Nexo X12 Pro, ..."), so direction can be learned from text;
* co-view substitutes within a category; Zipf popularity inside each category; a little noise;
* missing brands, descriptions and prices, as in real catalogs.

>>> cat = generate(SynthSettings(n_products=300, seed=1))
>>> list(cat.products.columns)
['product_id', 'title', 'description', 'category', 'brand', 'price']
>>> phones = set(cat.products.product_id[cat.products.category == "Electronics > Phones > Smartphones"])
>>> cases = set(cat.products.product_id[cat.products.category == "Electronics > Phones > Accessories > Cases"])
>>> bool(((cat.copurchase.src.isin(cases)) & (cat.copurchase.dst.isin(phones))).any())
False

Generation is vectorised numpy (loops run over categories, never products), so a million products take well
under a minute (``python bench/run.py --sizes 1m --stages build`` generates one first). Memory grows linearly
with ``n_products``. The same seed gives the same catalog; switching events on or off leaves products and edges
unchanged (each part has its own random stream).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
import pyarrow as pa

from dualgnn.errors import SettingsError
from dualgnn.synth.edges import EdgeDrawer, make_edges
from dualgnn.synth.events import EVENT_NAMES, make_events
from dualgnn.synth.products import make_products
from dualgnn.synth.vocab import CATEGORIES, COMPLEMENTS

__all__ = ["SynthSettings", "SynthCatalog", "generate", "complements_table"]


@dataclass(frozen=True, kw_only=True)
class SynthSettings:
    """What to generate. Validated on construction (``ValueError`` names the bad field).

    ``copurchase_per_product`` / ``coview_per_product``: average distinct edges per product (coview counts both
    directions). ``popularity_skew``: Zipf exponent of popularity inside a category (0 = uniform).
    ``compat_share``: share of complement purchases that fit the source (a case for *that* phone).
    ``noise_share``: share of co-purchase draws that are random pairs (never complement -> primary).
    ``missing_share``: share of blank brands and missing prices (descriptions: 1.5 times that).
    ``events_per_product``: event-log volume when ``with_events``; ``n_customers`` defaults to ``n_products // 2``.
    """

    n_products: int = 10_000
    seed: int = 0
    copurchase_per_product: float = 10.0
    coview_per_product: float = 10.0
    popularity_skew: float = 1.0
    compat_share: float = 0.8
    noise_share: float = 0.03
    missing_share: float = 0.03
    with_events: bool = False
    events_per_product: float = 20.0
    n_customers: int | None = None
    days: int = 90
    start: str = "2024-01-01"

    def __post_init__(self) -> None:
        self._coerce()
        checks = (
            ("n_products", 100 <= self.n_products <= 5_000_000, "from 100 to 5,000,000"),
            ("seed", self.seed >= 0, "non-negative"),
            ("copurchase_per_product", 0 < self.copurchase_per_product <= 200, "in (0, 200]"),
            ("coview_per_product", 0 <= self.coview_per_product <= 200, "in [0, 200]"),
            ("popularity_skew", 0 <= self.popularity_skew <= 3, "in [0, 3]"),
            ("compat_share", 0 <= self.compat_share <= 1, "in [0, 1]"),
            ("noise_share", 0 <= self.noise_share <= 0.5, "in [0, 0.5]"),
            ("missing_share", 0 <= self.missing_share <= 0.5, "in [0, 0.5]"),
            ("events_per_product", 0 < self.events_per_product <= 500, "in (0, 500]"),
            ("n_customers", self.n_customers is None or self.n_customers >= 1, "None or at least 1"),
            ("days", 1 <= self.days <= 3650, "from 1 to 3650"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise SettingsError(f"SynthSettings.{name} = {getattr(self, name)!r}: must be {rule}")
        try:
            pd.Timestamp(self.start)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"SynthSettings.start = {self.start!r}: not a date ({exc})") from exc

    def _coerce(self) -> None:
        """Check types; turn numpy numbers into Python ones so the settings serialise to JSON."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "start" or (f.name == "n_customers" and value is None):
                continue
            if f.name == "with_events":
                kind, ok = bool, isinstance(value, (bool, np.bool_))
            elif f.type in ("int", "int | None"):
                kind, ok = int, isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
            else:
                kind = float
                ok = (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                      and math.isfinite(value))
            if not ok:
                raise SettingsError(f"SynthSettings.{f.name} = {value!r}: must be {'an' if kind is int else 'a'} "
                                 f"{kind.__name__}")
            object.__setattr__(self, f.name, kind(value))  # frozen dataclass: the documented way to normalise

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SynthCatalog:
    """A generated catalog, in the generic-table layout ``dualgnn build-graph`` reads.

    * ``products``: product_id ("P0000123"), title, description, category (path joined by " > "), brand ("" when
      missing), price (float, NaN when missing); sorted by product_id.
    * ``copurchase``: src, dst (product ids), weight (float32 count >= 1); src -> dst is "bought dst after src".
    * ``coview``: same columns; pairs mostly listed in both directions.
    * ``events``: customer_id, session_id, product_id, event (view / cart / purchase), timestamp (datetime64[s]),
      sorted by time; None unless ``settings.with_events``.
    * ``complements``: the planted truth, one row per (primary, complement) category pair (see
      :func:`complements_table`).
    """

    settings: SynthSettings
    products: pd.DataFrame
    copurchase: pd.DataFrame
    coview: pd.DataFrame
    complements: pd.DataFrame
    events: pd.DataFrame | None = None

    def counts(self) -> dict[str, int]:
        out = {"products": len(self.products), "copurchase": len(self.copurchase), "coview": len(self.coview)}
        if self.events is not None:
            out["events"] = len(self.events)
        return out


def complements_table() -> pd.DataFrame:
    """The planted truth: columns primary, complement (category paths), share (of the primary's complement
    purchases) and compat ("model", "brand" or "": how a complement is tied to its primary product).

    >>> complements_table().loc[0, ["primary", "complement", "compat"]].tolist()
    ['Electronics > Phones > Smartphones', 'Electronics > Phones > Accessories > Cases', 'model']
    """
    path = {spec.key: spec.path for spec in CATEGORIES}
    compat = {spec.key: spec.compat[1] if spec.compat else "" for spec in CATEGORIES}
    rows = [(path[p], path[c], share, compat[c]) for p, comps in COMPLEMENTS.items() for c, share in comps]
    return pd.DataFrame(rows, columns=["primary", "complement", "share", "compat"])


def _ids(prefix: str, n: int) -> pa.Array:
    """``prefix`` + zero-padded 0..n-1 ("P0000000"), at least 7 digits, as an Arrow string array."""
    width = max(7, len(str(max(n - 1, 0))))
    return pa.array(np.strings.add(prefix, np.strings.zfill(np.arange(n).astype(str), width)))


def _take(ids: pa.Array, index: np.ndarray) -> pd.Series:
    # Arrow strings: 10 M ids cost ~100 MB instead of ~600 MB of Python str objects.
    return pd.Series(ids.take(pa.array(index, pa.int64())).to_pandas(), copy=False)


def _edge_frame(ids: pa.Array, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"src": _take(ids, src), "dst": _take(ids, dst), "weight": weight.astype(np.float32)})


def generate(settings: SynthSettings) -> SynthCatalog:
    """Generate the catalog described by ``settings`` (deterministic in ``settings.seed``)."""
    s = settings
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence(s.seed).spawn(5)]
    rng_products, rng_ids, rng_copurchase, rng_coview, rng_events = streams
    table = make_products(s.n_products, popularity_skew=s.popularity_skew, missing_share=s.missing_share,
                          rng=rng_products)
    # Categories are generated in blocks; shuffle so ids say nothing about the category. rank[i] = final row.
    rank = rng_ids.permutation(s.n_products)
    order = np.argsort(rank)
    ids = _ids("P", s.n_products)
    products = table.frame.iloc[order].reset_index(drop=True)
    products.insert(0, "product_id", ids.to_pandas())

    drawer = EdgeDrawer(table, s.compat_share)
    cp = make_edges(drawer, round(s.n_products * s.copurchase_per_product), "copurchase",
                    noise_share=s.noise_share, rank=rank, rng=rng_copurchase)
    n_coview = round(s.n_products * s.coview_per_product)
    cv = (make_edges(drawer, n_coview, "coview", noise_share=0.0, rank=rank, rng=rng_coview) if n_coview
          else (np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.float32),))
    events = _events_frame(drawer, ids, rank, s, rng_events) if s.with_events else None
    return SynthCatalog(settings=s, products=products, copurchase=_edge_frame(ids, *cp),
                        coview=_edge_frame(ids, *cv), complements=complements_table(), events=events)


def _events_frame(drawer: EdgeDrawer, ids: pa.Array, rank: np.ndarray, s: SynthSettings,
                  rng: np.random.Generator) -> pd.DataFrame:
    n_customers = s.n_customers or max(10, s.n_products // 2)
    ev = make_events(drawer, n_events=round(s.n_products * s.events_per_product), n_customers=n_customers,
                     days=s.days, rng=rng)
    # Customer numbers come out skewed towards 0 (heavy shoppers first); shuffle them like the product ids.
    customer = rng.permutation(n_customers)[ev["customer"]]
    timestamp = np.datetime64(pd.Timestamp(s.start).floor("s").to_datetime64(), "s") + ev["seconds"].astype(
        "timedelta64[s]")
    return pd.DataFrame({
        "customer_id": _take(_ids("C", n_customers), customer),
        "session_id": _take(_ids("S", int(ev["session"].max()) + 1), ev["session"]),
        "product_id": _take(ids, rank[ev["product"]]),
        "event": _take(pa.array(EVENT_NAMES), ev["event"]),
        "timestamp": pd.Series(timestamp),
    })
