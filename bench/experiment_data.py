"""The data the model experiments ran on (kept byte-for-byte equivalent so the figures reproduce).

Amazon metadata -> ProductGraph with a minimal reader (also_bought / bought_together / also_buy -> copurchase,
also_viewed / buy_after_viewing / also_view -> coview, weight 1 per listing, pairs outside the catalog dropped) and
features: TF-IDF (title . category . description[:500]) -> SVD 256-d, L2-normalised; categorical brand / category
path / leaf category codes; standardised log price + missing flag. Written before dualgnn.sources.amazon and
dualgnn.features.build existed; the official pipeline (build-graph) gives slightly different features.
"""
import gzip
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dualgnn.graph import build_graph
from dualgnn.sources.base import RawData


def read(path):
    prods, cp, cv = [], [], []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            a = r["asin"]
            cats = r.get("categories") or [r.get("category") or []]
            cat = " > ".join(cats[0]) if cats and isinstance(cats[0], list) else " > ".join(cats)
            desc = r.get("description") or ""
            if isinstance(desc, list): desc = " ".join(desc)
            prods.append({"product_id": a, "title": r.get("title") or "", "description": desc,
                          "category": cat, "brand": r.get("brand") or ""})
            rel = r.get("related") or {}
            for key in ("also_bought", "bought_together"):
                cp += [(a, b) for b in rel.get(key, [])]
            cp += [(a, b) for b in r.get("also_buy", []) or []]
            for key in ("also_viewed", "buy_after_viewing"):
                cv += [(a, b) for b in rel.get(key, [])]
            cv += [(a, b) for b in r.get("also_view", []) or []]
    products = pd.DataFrame(prods).drop_duplicates("product_id")
    ok = set(products.product_id)
    mk = lambda pairs: pd.DataFrame([(s, d, 1.0) for s, d in pairs if s in ok and d in ok], columns=["src", "dst", "weight"]) if pairs else pd.DataFrame(columns=["src","dst","weight"])
    return RawData(products, mk(cp), mk(cv))


PATHS = {"music": "/work/shared/datasets/amazon-digital-music/meta_Digital_Music.partial.jsonl.gz",
         "gift": "/work/shared/datasets/amazon-gift-cards/meta_Gift_Cards.json.gz"}


@dataclass
class Feats:
    text: np.ndarray
    categorical: np.ndarray
    cardinalities: tuple
    numeric: np.ndarray


def _prices(path):
    out = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            p = r.get("price")
            try:
                p = float(str(p).replace("$", "").replace(",", "")) if p not in (None, "") else np.nan
            except ValueError:
                p = np.nan
            out[r["asin"]] = p
    return out


def make_features(g, path, dim=256):
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    p = g.products
    text = (p.title.fillna("") + " . " + p.category.fillna("") + " . " + p.description.fillna("").str[:500]).tolist()
    X = TfidfVectorizer(min_df=2, max_features=50000, sublinear_tf=True).fit_transform(text)
    Z = TruncatedSVD(dim, random_state=0).fit_transform(X).astype(np.float32)
    Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-8)
    cats = []
    for col in ("brand", "category"):
        v = p[col].fillna("").astype(str)
        codes, uniq = pd.factorize(v)
        codes = codes + 1
        codes[(v == "").to_numpy()] = 0
        cats.append(codes)
    leaf = p.category.fillna("").str.split(" > ").str[-1]
    codes, _ = pd.factorize(leaf); codes = codes + 1; codes[(leaf == "").to_numpy()] = 0
    cats.append(codes)
    cat = np.stack(cats, 1).astype(np.int64)
    card = tuple(int(c.max()) + 1 for c in cat.T)
    pr = _prices(path)
    price = np.array([pr.get(a, np.nan) for a in p.product_id], np.float64)
    has = np.isfinite(price)
    lp = np.where(has, np.log1p(np.nan_to_num(price)), 0.0)
    lp = (lp - lp[has].mean()) / (lp[has].std() + 1e-6) if has.any() else lp
    num = np.stack([np.where(has, lp, 0.0), has.astype(float)], 1).astype(np.float32)
    return Feats(Z, cat, card, num)


def load(name="music"):
    path = PATHS[name]
    g, _ = build_graph(read(path))
    return g, make_features(g, path)
