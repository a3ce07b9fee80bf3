"""The CSR weighted sum equals DGL's u_mul_e/sum kernel, values and gradients, including multi-edges."""

import numpy as np
import torch

from dualgnn._dgl_compat import dgl, fn
from dualgnn.model.spmm import WholeGraph, has_csr, weighted_sum


def _graph(seed: int = 0):
    rng = np.random.default_rng(seed)
    n, m = 50, 400
    src, dst = torch.from_numpy(rng.integers(0, n, m)), torch.from_numpy(rng.integers(0, n, m))
    src[:3], dst[:3] = 7, 9  # a repeated edge: both copies must count
    g = dgl.heterograph({("product", "copurchase", "product"): (src, dst),
                         ("product", "coview", "product"): (dst, src)}, num_nodes_dict={"product": n})
    for etype in g.canonical_etypes:
        g.edges[etype].data["norm"] = torch.from_numpy(rng.random((m, 1)).astype(np.float32))
    return g


def _dgl_sum(g, etype, x):
    with g.local_scope():
        g.srcdata["m"] = x
        g.update_all(fn.u_mul_e("m", "norm", "x"), fn.sum("x", "h"), etype=etype)
        return g.dstdata["h"]


def test_csr_matches_dgl_forward_and_backward():
    g = _graph()
    whole = WholeGraph.of(g)
    x = torch.randn(g.num_nodes(), 8, dtype=torch.float32)
    for etype in ("copurchase", "coview"):
        assert has_csr(whole, etype)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = weighted_sum(whole, etype, xa), _dgl_sum(g, etype, xb)
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
        w = torch.randn_like(ya)
        (ya * w).sum().backward()
        (yb * w).sum().backward()
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)


def test_graph_without_matrices_is_not_mistaken_for_one():
    g = _graph(1)
    assert not has_csr(g, "copurchase")  # a DGL graph (or a sampled block) takes DGL's kernels
    whole = WholeGraph.of(g)
    assert whole.with_relations({}).csr == whole.csr and whole.num_edges("coview") == g.num_edges("coview")


def test_reverse_and_symmetric_relations_share_their_matrices():
    n = 6
    src, dst = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2, 3, 5])
    g = dgl.heterograph({("product", "copurchase", "product"): (src, dst),
                         ("product", "copurchased_by", "product"): (dst, src),
                         ("product", "coview", "product"): (torch.cat([src, dst]), torch.cat([dst, src]))},
                        num_nodes_dict={"product": n})
    for etype in g.canonical_etypes:
        g.edges[etype].data["norm"] = torch.full((g.num_edges(etype), 1), 0.5)
    whole = WholeGraph.of(g)
    mats = whole.csr
    assert mats["copurchased_by"][0] is mats["copurchase"][1]  # A_by = A^T: no second copy
    assert mats["coview"][0] is mats["coview"][1]  # symmetric: its own transpose
    x = torch.randn(n, 3)
    torch.testing.assert_close(weighted_sum(whole, "copurchased_by", x), _dgl_sum(g, "copurchased_by", x))
    torch.testing.assert_close(weighted_sum(whole, "coview", x), _dgl_sum(g, "coview", x))


def test_row_blocks_and_fused_relu_match_dgl(monkeypatch):
    """Products written a few rows at a time, with the ReLU fused in, give relu(DGL's sum) and its gradient."""
    import dualgnn.model.spmm as spmm

    monkeypatch.setattr(spmm, "ROWS_PER_BLOCK", 7)  # 50 rows: 8 blocks, the last one short
    g = _graph(seed=1)
    whole = WholeGraph.of(g)
    x = torch.randn(g.num_nodes(), 8, dtype=torch.float32)
    for etype in ("copurchase", "coview"):
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = weighted_sum(whole, etype, xa, relu=True), torch.relu(_dgl_sum(g, etype, xb))
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
        assert (ya == 0).any() and (ya > 0).any()  # the ReLU did cut something
        w = torch.randn_like(ya)
        (ya * w).sum().backward()
        (yb * w).sum().backward()
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)


def test_row_block_products_write_and_accumulate_into_the_output(monkeypatch):
    import dualgnn.model.spmm as spmm
    from dualgnn.model.spmm import product_into

    monkeypatch.setattr(spmm, "ROWS_PER_BLOCK", 3)  # 10 rows: 4 blocks, the last one short
    rng = np.random.default_rng(0)
    dense = torch.from_numpy((rng.random((10, 7)) < 0.3) * rng.random((10, 7))).float()
    x = torch.randn(7, 4)
    out = product_into(torch.empty(10, 4), dense.to_sparse_csr(), x)
    torch.testing.assert_close(out, dense @ x)
    product_into(out, dense.to_sparse_csr(), x, accumulate=True)
    torch.testing.assert_close(out, 2 * dense @ x)
