"""Planted co-purchase and co-view edges of the synthetic catalog, drawn in bulk with numpy.

Every edge is a draw ``(src, dst)``; duplicates are merged and their count is the weight, so popular pairs get
large weights on their own. Draws are made per (source category, destination category) rule, never per product.

Co-purchase rules (``COPURCHASE_MIX`` gives the shares):

* primary -> complement, one way (phone -> case); with probability ``compat_share`` the complement fits the
  source (a case for that phone model, a lens for that camera brand), otherwise any complement by popularity;
* complement -> sibling complement of the same primary (case -> screen protector), one way either way round;
* within a category, both ways (two books of one series, two helmets);
* noise: uniform random pairs anywhere, except the forbidden complement -> primary direction.

Co-view pairs are substitutes: same category, mostly the same model / fitted model / brand, mostly both ways.
"""

from __future__ import annotations

import numpy as np

from dualgnn.synth.products import CATEGORY_INDEX, ProductTable
from dualgnn.synth.vocab import CATEGORIES, COMPLEMENTS

#: Shares of a category's co-purchase draws, by the category's role.
COPURCHASE_MIX = {"primary": {"complement": 0.92, "self": 0.08}, "complement": {"sibling": 0.5, "self": 0.5},
                  "standalone": {"self": 1.0}}
SAME_GROUP_SHARE = 0.6  # share of substitute draws (co-view, within-category co-purchase) from the same group
COVIEW_BOTH_WAYS = 0.7  # share of co-view pairs listed in both directions ("symmetric-ish", as in Amazon data)
_KEY_BITS = 32          # group id = category << 32 | key


class GroupSampler:
    """Draw items of a given group with probability proportional to their weight, many draws in one call.

    >>> s = GroupSampler(np.array([0, 0, 1]), np.array([1.0, 0.0, 1.0]))
    >>> s.draw(np.array([0, 1, 7]), np.random.default_rng(0)).tolist()
    [0, 2, -1]
    """

    def __init__(self, group: np.ndarray, weight: np.ndarray) -> None:
        # Heaviest first inside each group: most draws then land in the few cache lines at the group's head,
        # which makes the binary searches below several times faster than over randomly ordered weights.
        self.order = np.lexsort((-weight, group))
        sorted_group = group[self.order]
        self.keys, self.start = np.unique(sorted_group, return_index=True)
        self.end = np.r_[self.start[1:], len(sorted_group)]
        self.cum = np.cumsum(weight[self.order], dtype=np.float64)
        self.lo = np.where(self.start > 0, self.cum[self.start - 1], 0.0)
        self.hi = self.cum[self.end - 1]

    def draw(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of ``groups`` (int64), -1 where the group is unknown."""
        pos = np.clip(np.searchsorted(self.keys, groups), 0, len(self.keys) - 1)
        known = self.keys[pos] == groups
        x = self.lo[pos] + rng.random(len(groups)) * (self.hi[pos] - self.lo[pos])
        # Inverse-CDF lookup in the group's slice of the global cumulative sum; clip guards float round-off.
        idx = np.clip(np.searchsorted(self.cum, x, side="right"), self.start[pos], self.end[pos] - 1)
        return np.where(known, self.order[idx], -1)


class EdgeDrawer:
    """Samplers over one :class:`ProductTable`, shared by the edge and the event generators."""

    def __init__(self, table: ProductTable, compat_share: float) -> None:
        self.t = table
        self.compat_share = compat_share
        self.by_cat = GroupSampler(table.cat.astype(np.int64), table.pop)
        self.by_key = GroupSampler(self.group(table.cat, table.key), table.pop)

    @staticmethod
    def group(cat, key) -> np.ndarray:
        return (np.asarray(cat, np.int64) << _KEY_BITS) | np.asarray(key, np.int64)

    def sources(self, c: int, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` products of category ``c``: half uniformly (every product has some edges), half by popularity."""
        out = rng.integers(self.t.starts[c], self.t.starts[c + 1], size=m)
        popular = np.flatnonzero(rng.random(m) < 0.5)
        out[popular] = self.in_category(c, len(popular), rng)
        return out

    def in_category(self, c: int, m: int, rng: np.random.Generator) -> np.ndarray:
        return self.by_cat.draw(np.full(m, c, np.int64), rng)

    def matching(self, cats, keys: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
        """Products of category ``cats`` (one, or one per key): with probability ``share`` from the group
        ``keys``, else any product of the category by popularity.

        Falls back to the whole category where the group has no product (a phone model nobody made a case for).
        """
        cats = np.broadcast_to(np.asarray(cats, np.int64), keys.shape)
        out = np.full(len(keys), -1, np.int64)
        use = np.flatnonzero(rng.random(len(keys)) < share)
        out[use] = self.by_key.draw(self.group(cats[use], keys[use]), rng)
        rest = np.flatnonzero(out < 0)
        out[rest] = self.by_cat.draw(cats[rest], rng)
        return out

    def complement_of(self, src: np.ndarray, c: int, rng: np.random.Generator) -> np.ndarray:
        """Complements in category ``c`` for products ``src``, compatible with probability ``compat_share``."""
        compat = CATEGORIES[c].compat
        if compat is None:
            return self.in_category(c, len(src), rng)
        level = compat[1]
        keys = self.t.model[src] if level == "model" else self.t.brand[src]
        return self.matching(c, keys, self.compat_share, rng)


def _primaries_of() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for primary, comps in COMPLEMENTS.items():
        for comp, _ in comps:
            out.setdefault(comp, []).append(primary)
    return out


def forbidden_matrix() -> np.ndarray:
    """``F[a, b]`` is True when ``b`` is a primary of complement ``a``: no co-purchase edge may go ``a -> b``."""
    f = np.zeros((len(CATEGORIES), len(CATEGORIES)), bool)
    for primary, comps in COMPLEMENTS.items():
        for comp, _ in comps:
            f[CATEGORY_INDEX[comp], CATEGORY_INDEX[primary]] = True
    return f


def copurchase_rules() -> list[tuple[int, int, float, str]]:
    """``(src category, dst category, share of the source category's draws, kind)`` for every rule."""
    parents = _primaries_of()
    rules = []
    for c, spec in enumerate(CATEGORIES):
        if spec.key in COMPLEMENTS:
            mix = COPURCHASE_MIX["primary"]
            comps = COMPLEMENTS[spec.key]
            total = sum(s for _, s in comps)
            rules += [(c, CATEGORY_INDEX[k], mix["complement"] * s / total, "complement") for k, s in comps]
        elif spec.key in parents:
            siblings = sorted({k for p in parents[spec.key] for k, _ in COMPLEMENTS[p]} - {spec.key})
            mix = COPURCHASE_MIX["complement"] if siblings else {"self": 1.0}
            rules += [(c, CATEGORY_INDEX[k], mix["sibling"] / len(siblings), "sibling") for k in siblings]
        else:
            mix = COPURCHASE_MIX["standalone"]
        rules.append((c, c, mix["self"], "self"))
    return rules


def _draw_copurchase(d: EdgeDrawer, m: int, noise_share: float, rng) -> tuple[np.ndarray, np.ndarray]:
    t = d.t
    sizes = np.diff(t.starts)
    per_cat = m * (1 - noise_share) * sizes / sizes.sum()
    srcs, dsts = [], []
    for c, dc, share, kind in copurchase_rules():
        k = int(round(per_cat[c] * share / (2 if kind == "self" else 1)))  # a self draw yields two edges
        if k == 0:
            continue
        src = d.sources(c, k, rng)
        if kind == "complement":
            dst = d.complement_of(src, dc, rng)
        elif kind == "sibling" and CATEGORIES[c].compat and CATEGORIES[c].compat == CATEGORIES[dc].compat:
            dst = d.matching(dc, t.key[src], d.compat_share, rng)  # case and protector for the same phone
        elif kind == "sibling":
            dst = d.in_category(dc, k, rng)
        else:
            dst = d.matching(c, t.key[src], SAME_GROUP_SHARE, rng)
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        srcs.append(src)
        dsts.append(dst)
    k = int(round(m * noise_share))
    src, dst = rng.integers(len(t.cat), size=k), rng.integers(len(t.cat), size=k)
    ok = ~forbidden_matrix()[t.cat[src], t.cat[dst]]
    srcs.append(src[ok])
    dsts.append(dst[ok])
    return np.concatenate(srcs), np.concatenate(dsts)


def _draw_coview(d: EdgeDrawer, m: int, rng) -> tuple[np.ndarray, np.ndarray]:
    t = d.t
    sizes = np.diff(t.starts)
    srcs, dsts = [], []
    for c in range(len(CATEGORIES)):
        # Both directions of a pair count as two edges, so draw fewer pairs than edges.
        k = int(round(m * sizes[c] / sizes.sum() / (1 + COVIEW_BOTH_WAYS)))
        src = d.sources(c, k, rng)
        dst = d.matching(c, t.key[src], SAME_GROUP_SHARE, rng)
        both = rng.random(k) < COVIEW_BOTH_WAYS
        srcs += [src, dst[both]]
        dsts += [dst, src[both]]
    return np.concatenate(srcs), np.concatenate(dsts)


def make_edges(d: EdgeDrawer, target: int, kind: str, *, noise_share: float, rank: np.ndarray,
               rng: np.random.Generator, rounds: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About ``target`` distinct edges of ``kind`` ("copurchase" or "coview") as (src, dst, weight=count).

    ``rank`` maps a generation row to its final row (the product id order); edges come out sorted by
    (src, dst) in that order. Draws repeat until ``target`` distinct edges exist or ``rounds`` runs out
    (a tiny catalog cannot hold that many distinct pairs).
    """
    n = len(d.t.cat)
    keys = np.zeros(0, np.int64)
    counts = np.zeros(0, np.int64)
    need = target
    for _ in range(rounds):
        src, dst = (_draw_copurchase(d, need, noise_share, rng) if kind == "copurchase"
                    else _draw_coview(d, need, rng))
        ok = src != dst
        new = rank[src[ok]].astype(np.int64) * n + rank[dst[ok]]
        # Merge with what we have: repeated pairs add up into the weight.
        keys, inverse = np.unique(np.concatenate([keys, new]), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([counts, np.ones(len(new), np.int64)]),
                             minlength=len(keys)).astype(np.int64)
        if len(keys) >= 0.98 * target:
            break
        # Top up; duplicates grow with popularity, so ask for a bit more than the shortfall.
        need = int((target - len(keys)) * 1.3) + 1
    return keys // n, keys % n, counts.astype(np.float32)
