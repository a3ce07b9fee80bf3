"""Big full-graph batches: the chunked (gradient-cached) loss has the value and gradient of the plain loss."""

import torch

from dualgnn.config import TrainConfig
from dualgnn.training.chunked import chunked_loss
from dualgnn.training.losses import batch_loss


def _embeddings(seed: int = 0, n: int = 40):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, 8, generator=g, requires_grad=True)
    s = torch.nn.functional.normalize(w @ torch.randn(8, 8, generator=g), dim=-1)
    t = torch.nn.functional.normalize(w.flip(0), dim=-1)
    return w, s, t


def test_chunked_equals_plain_softmax_loss_and_gradient():
    # Every chunk of 8 edges touches all 12 products, so each chunk's sampled softmax is the full softmax and the
    # chunked loss must equal the plain one exactly, value and gradient.
    config = TrainConfig.preset("default", batch_size=8, asymmetry=False, coview_weight=0.0)
    src = torch.arange(32) % 12
    dst = (src + 5) % 12
    one_way = torch.zeros(32, dtype=torch.bool)
    empty = torch.zeros(0, dtype=torch.int64)

    w1, s1, t1 = _embeddings(n=12)
    chunked = chunked_loss(config, s1, t1, (src, dst, one_way, empty, empty), torch.Generator(), None)
    chunked.backward()
    w2, s2, t2 = _embeddings(n=12)
    negatives = torch.zeros((32, config.n_negatives), dtype=torch.int64)
    plain = batch_loss(config, s2, t2, src, dst, one_way, empty, empty, negatives)
    plain.backward()

    torch.testing.assert_close(chunked.detach(), plain.detach())
    torch.testing.assert_close(w1.grad, w2.grad)
    assert w1.grad.abs().sum() > 0


def test_chunks_of_a_big_catalog_score_a_sample_of_it(monkeypatch):
    # A "big" catalog of 1,000 products, 8 sampled negatives: each chunk sees its endpoints and 8 others, never all.
    import dualgnn.training.chunked as sampling

    monkeypatch.setattr(sampling, "FULL_SOFTMAX_MAX", 100)
    monkeypatch.setattr(sampling, "LOSS_CHUNK", 16)
    config = TrainConfig.preset("default", batch_size=8, asymmetry=False, coview_weight=0.0, candidates=8)
    w, s, t = _embeddings(n=1000)
    src, dst = torch.arange(64), torch.arange(64) + 100
    empty = torch.zeros(0, dtype=torch.int64)
    loss = chunked_loss(config, s, t, (src, dst, torch.zeros(64, dtype=torch.bool), empty, empty),
                        torch.Generator().manual_seed(0), None)
    full = batch_loss(config, s, t, src, dst, torch.zeros(64, dtype=torch.bool), empty, empty,
                      torch.zeros((64, 5), dtype=torch.int64))
    assert loss < full  # 9 candidates instead of 1,000
    loss.backward()
    touched = (w.grad.abs().sum(1) > 0).sum()
    assert 128 <= touched < 1000  # the endpoints and the sampled candidates get gradient, not every product


def test_a_batch_of_one_chunk_is_the_plain_loss():
    config = TrainConfig.preset("default", batch_size=64, coview_weight=0.0)
    w, s, t = _embeddings()
    src, dst = torch.arange(10), torch.arange(10, 20)
    empty = torch.zeros(0, dtype=torch.int64)
    one_way = torch.ones(10, dtype=torch.bool)
    loss = chunked_loss(config, s, t, (src, dst, one_way, empty, empty), torch.Generator(), None)
    expected = batch_loss(config, s, t, src, dst, one_way, empty, empty, torch.zeros((10, 5), dtype=torch.int64))
    torch.testing.assert_close(loss, expected)


def test_coview_term_over_all_candidates_equals_the_full_term():
    from dualgnn.training.losses import coview_contrastive

    _, s, t = _embeddings(3)
    cv_src, cv_dst = torch.tensor([0, 1, 2, 5]), torch.tensor([3, 3, 9, 7])
    full = coview_contrastive(s, t, cv_src, cv_dst, 0.1)
    every = coview_contrastive(s, t, cv_src, cv_dst, 0.1, candidates=torch.arange(40))
    torch.testing.assert_close(full, every)
    some = coview_contrastive(s, t, cv_src, cv_dst, 0.1, candidates=torch.tensor([1, 3, 5, 7, 9, 20]))
    assert torch.isfinite(some) and some < full  # fewer competitors: an easier task


def test_sampled_softmax_with_every_product_as_negative_is_the_full_softmax():
    from dualgnn.training.losses import sampled_softmax_loss, softmax_loss

    _, s, t = _embeddings(4, n=30)
    src, dst = torch.tensor([0, 1, 2, 3]), torch.tensor([5, 6, 7, 5])
    cv_src, cv_dst = torch.tensor([8, 9]), torch.tensor([10, 2])
    one_way = torch.tensor([True, False, True, False])
    kw = dict(temperature=0.1, asym_margin=0.2, asym_weight=1.0, coview_weight=0.2)
    full = softmax_loss(s, t, src, dst, one_way, cv_src, cv_dst, **kw)
    # the co-view term of the full loss also drops the query itself from its candidates
    sampled = sampled_softmax_loss(s, t, src, dst, one_way, torch.zeros(0, dtype=torch.int64),
                                   torch.zeros(0, dtype=torch.int64), torch.arange(30), **kw)
    no_cv = softmax_loss(s, t, src, dst, one_way, torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), **kw)
    torch.testing.assert_close(sampled, no_cv)
    assert full > no_cv
