"""A synthetic event log (view / cart / purchase) that follows the same planted structure as the edges.

A session: a customer views a few substitutes in one category (mostly the same model or brand), ends on the
product they want, and sometimes carts and buys it. After buying a primary product (a phone) they often come back
hours to days later, in a new session, and buy complements that fit it (a case for that phone); now and then they
add the complement in the same session. Customers are skewed: a few shop a lot. Everything is drawn per session
in bulk; no loop over customers or sessions.
"""

from __future__ import annotations

import numpy as np

from dualgnn.synth.edges import SAME_GROUP_SHARE as SUBSTITUTE_SHARE
from dualgnn.synth.edges import EdgeDrawer
from dualgnn.synth.products import CATEGORY_INDEX
from dualgnn.synth.vocab import CATEGORIES, COMPLEMENTS

VIEW, CART, PURCHASE = 0, 1, 2
EVENT_NAMES = ("view", "cart", "purchase")
P_PURCHASE, P_ABANDON = 0.35, 0.10   # session ends with a purchase / with an item left in the cart
P_FOLLOW_UP = 0.7                   # a primary purchase brings the customer back for complements
P_SAME_SESSION = 0.3                # ... and sometimes the complement goes into the same basket
_EVENTS_PER_SESSION = 4.0           # measured average with the settings above; sizes the session count


def make_events(d: EdgeDrawer, *, n_events: int, n_customers: int, days: int, rng: np.random.Generator) -> dict:
    """About ``n_events`` events as arrays (customer, session, product, event code, seconds since start).

    Rows are sorted by time. Products are generation rows of ``d``'s table, customers ``0..n_customers-1``,
    sessions ``0..k`` (follow-up visits get numbers after the first visits').
    """
    t = d.t
    n_sessions = max(1, int(n_events / _EVENTS_PER_SESSION))
    # Activity skew: u**2 piles customers towards low numbers (about 10% of customers make 30% of sessions).
    customer = (n_customers * rng.random(n_sessions) ** 2).astype(np.int64)
    # Shopping trips start at a phone, a book ... more often than at an accessory (which mostly comes after).
    complements = {k for comps in COMPLEMENTS.values() for k, _ in comps}
    weight = np.diff(t.starts) * np.array([0.5 if spec.key in complements else 1.0 for spec in CATEGORIES])
    cat = rng.choice(len(CATEGORIES), size=n_sessions, p=weight / weight.sum())
    anchor = d.by_cat.draw(cat.astype(np.int64), rng)
    start = rng.random(n_sessions) * days * 86400.0

    # Views: the anchor last, substitutes before it.
    n_views = np.minimum(rng.geometric(0.35, size=n_sessions), 10)
    sess = np.repeat(np.arange(n_sessions), n_views)
    pos = np.arange(len(sess)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
    subs = d.matching(cat[sess], t.key[anchor[sess]], SUBSTITUTE_SHARE, rng)
    product = np.where(pos == n_views[sess] - 1, anchor[sess], subs)
    gaps = rng.exponential(45.0, size=len(sess)) + 5.0
    time = start[sess] + _cumsum_within(gaps, n_views)
    end = start + np.bincount(sess, weights=gaps, minlength=n_sessions)

    outcome = rng.random(n_sessions)
    bought = outcome < P_PURCHASE
    carted = outcome < P_PURCHASE + P_ABANDON
    rows = [(customer[sess], sess, product, np.full(len(sess), VIEW), time)]
    s = np.flatnonzero(carted)
    rows.append((customer[s], s, anchor[s], np.full(len(s), CART), end[s] + 20.0))
    s = np.flatnonzero(bought)
    rows.append((customer[s], s, anchor[s], np.full(len(s), PURCHASE), end[s] + 80.0))
    rows += _follow_ups(d, s, customer, anchor, end[s] + 80.0, n_sessions, rng)

    cols = [np.concatenate(parts) for parts in zip(*rows)]
    order = np.argsort(cols[4], kind="stable")
    names = ("customer", "session", "product", "event", "seconds")
    return {name: col[order] for name, col in zip(names, cols)}


def _cumsum_within(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running sum restarting at every block of ``lengths``."""
    total = np.cumsum(values)
    block_start = np.repeat(total[np.cumsum(lengths) - lengths] - values[np.cumsum(lengths) - lengths], lengths)
    return total - block_start


def _follow_ups(d: EdgeDrawer, s, customer, anchor, bought_at, n_sessions, rng) -> list[tuple]:
    """Complement purchases after the primary purchases of sessions ``s`` (bought at ``bought_at``).

    Each follow-up buys 1-3 complements, three minutes apart; each is viewed, carted and bought 30 s apart.
    """
    cat = d.t.cat[anchor[s]]
    is_primary = np.array([spec.key in COMPLEMENTS for spec in CATEGORIES])[cat]
    keep = is_primary & (rng.random(len(s)) < P_FOLLOW_UP)
    s, bought_at, cat = s[keep], bought_at[keep], cat[keep]
    same = rng.random(len(s)) < P_SAME_SESSION
    session = np.where(same, s, n_sessions + np.arange(len(s)))  # a later visit is a new session
    delay = np.where(same, 30.0 + rng.exponential(120.0, len(s)), 3600.0 + rng.exponential(1.5 * 86400, len(s)))
    k = 1 + rng.binomial(2, 0.4, size=len(s))
    item_s = np.repeat(np.arange(len(s)), k)
    item_pos = np.arange(len(item_s)) - np.repeat(np.cumsum(k) - k, k)
    product = np.empty(len(item_s), np.int64)
    item_cat = cat[item_s]
    for primary, comps in COMPLEMENTS.items():
        rows = np.flatnonzero(item_cat == CATEGORY_INDEX[primary])
        p = np.array([w for _, w in comps])
        which = rng.choice(len(comps), size=len(rows), p=p / p.sum())
        for j, (comp, _) in enumerate(comps):
            r = rows[which == j]
            product[r] = d.complement_of(anchor[s[item_s[r]]], CATEGORY_INDEX[comp], rng)
    when = bought_at[item_s] + delay[item_s] + 180.0 * item_pos
    cust, sess = customer[s[item_s]], session[item_s]
    return [(cust, sess, product, np.full(len(item_s), code), when + 30.0 * code) for code in (VIEW, CART, PURCHASE)]
