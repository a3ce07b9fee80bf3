"""Training losses. Each maps (source, target, a batch of training edges, negatives ...) to a scalar to minimise.

Shapes: ``source``, ``target`` (n, h) L2-normalised; edge index tensors (B,) int64; ``one_way`` (B,) bool marks
edges u->v whose reverse is absent from the *training* graph (held-out edges are never consulted: no leakage).

* :func:`paper_loss` — DAEMON Eq. 2 as written: log-sigmoid terms with uniform negatives, including the literal
  ``log sig(1 - s_u.t_z)``. With unit vectors sig(x) <= 0.73, so it never saturates (DESIGN.md).
* :func:`softmax_loss` — temperature-scaled cross-entropy over all targets (or given candidates), a hinge margin
  for direction on one-way edges, and a co-view contrastive term.
* :func:`warp_loss` — WARP-style ranking with negatives from K in-batch shuffles (Faire), same extra terms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dualgnn.model.encoder import blended

FULL_SOFTMAX_MAX = 50_000  # softmax over every target up to this many products (candidates=0) ...
AUTO_CANDIDATES = 4096  # ... beyond it, over in-batch targets plus this many shared uniform ones
SAMPLED_NEGATIVES = 1024  # sampled_softmax_loss (big full-graph batches): shared uniform negatives per chunk


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


def _queries(source, target, rows, blend: float) -> torch.Tensor:
    """Query vectors of ``rows`` under the reciprocity blend (see :func:`blended`)."""
    return blended(source[rows], target[rows], blend)[0]


def _keys(source, target, rows, blend: float) -> torch.Tensor:
    """Target-side vectors of ``rows`` (None = every product) under the reciprocity blend."""
    if rows is None:
        return blended(source, target, blend)[1]
    return blended(source[rows], target[rows], blend)[1]


def paper_loss(source, target, src, dst, negatives, one_way, cv_src, cv_dst, *, asymmetry: bool = True,
               asym_weight: float = 1.0, coview_weight: float = 1.0) -> torch.Tensor:
    """Negated Eq. 2. ``negatives`` (B, n_k) uniform random products; ``cv_src``/``cv_dst`` (C,) co-view pairs."""
    s_u = source[src]
    pos = _dot(s_u, target[dst])
    neg = torch.einsum("bh,bkh->bk", s_u, target[negatives])
    loss = -(F.logsigmoid(pos) + F.logsigmoid(1.0 - neg).sum(1)).mean()
    if asymmetry and one_way.any():
        rev = _dot(source[dst[one_way]], target[src[one_way]])
        loss = loss - asym_weight * (F.logsigmoid(pos[one_way]) + F.logsigmoid(1.0 - rev)).mean()
    if coview_weight > 0 and len(cv_src):
        cv = F.logsigmoid(_dot(source[cv_src], source[cv_dst])) + F.logsigmoid(_dot(target[cv_src], target[cv_dst]))
        loss = loss - coview_weight * cv.mean()
    return loss


def direction_margin(source, target, src, dst, one_way, margin: float) -> torch.Tensor:
    """Hinge: on one-way edges u->v, s_u.t_v should beat the reverse s_v.t_u by ``margin`` (cosine units)."""
    if not one_way.any():
        return source.new_zeros(())
    u, v = src[one_way], dst[one_way]
    gap = _dot(source[u], target[v]) - _dot(source[v], target[u])
    return F.relu(margin - gap).mean()


def coview_contrastive(source, target, cv_src, cv_dst, temperature: float,
                       candidates: torch.Tensor | None = None) -> torch.Tensor:
    """Co-viewed products are similar in both roles: s_u should pick s_v out of all sources (or the sorted unique
    ``candidates``, which must contain every ``cv_dst``), t_u t_v out of all targets."""
    if len(cv_src) == 0:
        return source.new_zeros(())
    cols = candidates if candidates is not None else torch.arange(len(source))
    ls = (source[cv_src] / temperature) @ source[cols].T
    lt = (target[cv_src] / temperature) @ target[cols].T
    labels = torch.searchsorted(cols, cv_dst)
    # A product trivially matches itself; remove it from its own candidates.
    pos = torch.searchsorted(cols, cv_src).clamp_max(len(cols) - 1)
    rows = torch.nonzero(cols[pos] == cv_src).ravel()
    ls[rows, pos[rows]] = float("-inf")
    lt[rows, pos[rows]] = float("-inf")
    return 0.5 * (F.cross_entropy(ls, labels) + F.cross_entropy(lt, labels))


def softmax_loss(source, target, src, dst, one_way, cv_src, cv_dst, *, temperature: float,
                 candidates: torch.Tensor | None = None, positives: tuple | None = None,
                 asymmetry: bool = True, asym_margin: float = 0.2,
                 asym_weight: float = 1.0, coview_weight: float = 0.2, blend: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the true target among ``candidates`` (None = all n products; else (c,) ids that include
    every ``dst``, e.g. in-batch targets plus sampled ones, for graphs too large to score all). ``positives``:
    (rows, cols) logit cells of other known positives, excluded from the denominator. ``blend``: the co-purchase
    scores are the served ones (:func:`blended`); the margin and co-view terms read the plain vectors."""
    # Scale the (B, h) queries rather than the (B, n) logits: one pass less over the big matrix.
    logits_all = (_queries(source, target, src, blend) / temperature) @ _keys(source, target, candidates, blend).T
    if candidates is None:
        labels = dst
    else:
        labels = torch.searchsorted(candidates, dst)  # candidates sorted, unique, contain dst
    if positives is not None:
        # Filtered ranking ignores a query's known targets; so does the loss: they are not negatives here.
        rows, cols = positives
        keep = cols != labels[rows]  # the edge's own target stays
        logits_all = logits_all.index_put((rows[keep], cols[keep]), torch.tensor(float("-inf")))
    loss = F.cross_entropy(logits_all, labels)
    if asymmetry and asym_weight > 0:
        loss = loss + asym_weight * direction_margin(source, target, src, dst, one_way, asym_margin)
    if coview_weight > 0:
        cv_candidates = None if candidates is None else torch.unique(torch.cat([candidates, cv_dst]))
        loss = loss + coview_weight * coview_contrastive(source, target, cv_src, cv_dst, temperature, cv_candidates)
    return loss


def _against_negatives(queries: torch.Tensor, positives: torch.Tensor, pool: torch.Tensor, pool_ids: torch.Tensor,
                       positive_ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean cross-entropy of each row's positive against the shared ``pool`` rows, whose ids ``pool_ids`` are
    sorted and unique; a pool entry that is the row's own positive (``positive_ids``) is left out.

    Written for speed on (B x k) logits: the temperature scales the queries, the positive joins the denominator
    through ``logaddexp`` (no concatenated matrix), and the rare clashes are found by binary search."""
    q = queries / temperature
    pos = _dot(q, positives)
    neg = q @ pool.T
    at = torch.searchsorted(pool_ids, positive_ids).clamp_max(len(pool_ids) - 1)
    rows = torch.nonzero(pool_ids[at] == positive_ids).ravel()
    if len(rows):
        neg.index_put_((rows, at[rows]), torch.tensor(float("-inf")))  # in place: mm's backward keeps q, pool
    return (torch.logaddexp(pos, torch.logsumexp(neg, 1)) - pos).mean()


def sampled_softmax_loss(source, target, src, dst, one_way, cv_src, cv_dst, negatives, *, temperature: float,
                         asymmetry: bool = True, asym_margin: float = 0.2, asym_weight: float = 1.0,
                         coview_weight: float = 0.2, blend: float = 0.0) -> torch.Tensor:
    """The softmax loss for catalogs too big to score every target: each positive competes with the same
    ``negatives`` (k,) uniformly drawn products instead of all n. Uniform sampling keeps it an estimate of the
    full softmax (no popularity correction needed); cost is (B x k), independent of the catalog size. The
    direction margin and the co-view term (against the same pool) are as in :func:`softmax_loss`."""
    negatives = torch.unique(negatives)
    loss = _against_negatives(_queries(source, target, src, blend), _keys(source, target, dst, blend),
                              _keys(source, target, negatives, blend), negatives, dst, temperature)
    if asymmetry and asym_weight > 0:
        loss = loss + asym_weight * direction_margin(source, target, src, dst, one_way, asym_margin)
    if coview_weight > 0 and len(cv_src):
        cv = (_against_negatives(source[cv_src], source[cv_dst], source[negatives], negatives, cv_dst, temperature)
              + _against_negatives(target[cv_src], target[cv_dst], target[negatives], negatives, cv_dst, temperature))
        loss = loss + coview_weight * 0.5 * cv
    return loss


def warp_loss(source, target, src, dst, one_way, cv_src, cv_dst, *, num_products: int, shuffles: int = 3,
              margin: float = 0.1, generator: torch.Generator | None = None, asymmetry: bool = True,
              asym_margin: float = 0.2, asym_weight: float = 1.0, coview_weight: float = 0.2,
              temperature: float = 0.05, blend: float = 0.0) -> torch.Tensor:
    """WARP: negatives are the batch's targets under K random permutations; each positive's hinge on its worst
    violator is weighted by log(1 + estimated rank), rank ~ (n - 1) * violators / K."""
    s_u = _queries(source, target, src, blend)
    pos = _dot(s_u, _keys(source, target, dst, blend))
    negs = torch.stack([dst[torch.randperm(len(dst), generator=generator)] for _ in range(shuffles)], 1)
    neg = torch.einsum("bh,bkh->bk", s_u, _keys(source, target, negs, blend))
    neg = neg.masked_fill(negs == dst.unsqueeze(1), float("-inf"))  # a shuffle may hit the true target
    viol = F.relu(margin - pos.unsqueeze(1) + neg)
    n_viol = (viol > 0).sum(1).float()
    weight = torch.log1p(torch.floor((num_products - 1) * n_viol / shuffles)) / math.log(num_products)
    loss = (weight * viol.max(1).values).mean()
    if asymmetry and asym_weight > 0:
        loss = loss + asym_weight * direction_margin(source, target, src, dst, one_way, asym_margin)
    if coview_weight > 0:
        loss = loss + coview_weight * coview_contrastive(source, target, cv_src, cv_dst, temperature)
    return loss


def loss_weights(config) -> dict:
    """The keyword weights ``config`` gives :func:`softmax_loss`, :func:`sampled_softmax_loss` and :func:`warp_loss`
    (besides the temperature)."""
    return dict(asymmetry=config.asymmetry and config.directed, asym_margin=config.asym_margin,
                asym_weight=config.asym_weight, coview_weight=config.coview_weight, blend=config.blend)


def batch_loss(config, source, target, src, dst, one_way, cv_src, cv_dst, negatives, *,
               generator: torch.Generator | None = None, known=None, catalog: int | None = None) -> torch.Tensor:
    """The loss ``config.loss`` names, with the config's weights. Indices are rows of ``source``/``target``
    (all products in full-graph mode; the sampled seeds in mini-batch mode). ``negatives`` (B, n_negatives)
    uniform random rows, used by the paper loss. ``known``: (n, n) scipy CSR of training targets per query, for
    ``mask_positives`` (full softmax only). ``catalog``: the number of products the rows stand for (default
    ``len(target)``; a partition's rows stand for the whole catalog), which picks the softmax's form."""
    common = loss_weights(config)
    catalog = len(target) if catalog is None else catalog
    if config.loss == "paper":
        return paper_loss(source, target, src, dst, negatives, one_way, cv_src, cv_dst,
                          asymmetry=common["asymmetry"], asym_weight=config.asym_weight,
                          coview_weight=config.coview_weight)
    if config.loss == "softmax":
        candidates = None
        n_candidates = config.candidates or (0 if catalog <= FULL_SOFTMAX_MAX else AUTO_CANDIDATES)
        if 0 < n_candidates < len(target):
            # In-batch targets plus shared uniform negatives: a sampled softmax for graphs too big to score all.
            extra = torch.randint(0, len(target), (n_candidates,), generator=generator)
            candidates = torch.unique(torch.cat([dst, extra]))
        positives = None
        if config.mask_positives and candidates is None and known is not None:
            sub = known[src.numpy()].tocoo()
            positives = (torch.from_numpy(sub.row.astype("int64")), torch.from_numpy(sub.col.astype("int64")))
        return softmax_loss(source, target, src, dst, one_way, cv_src, cv_dst, temperature=config.temperature,
                            candidates=candidates, positives=positives, **common)
    return warp_loss(source, target, src, dst, one_way, cv_src, cv_dst, num_products=catalog,
                     shuffles=config.warp_shuffles, margin=config.warp_margin, generator=generator,
                     temperature=config.temperature, **common)
