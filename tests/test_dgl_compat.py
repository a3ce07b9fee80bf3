"""The DGL import shim: DGL's pieces dualgnn relies on work on this torch, and a broken DGL fails clearly."""

import subprocess
import sys

import torch

from dualgnn._dgl_compat import dgl, fn


def test_heterograph_message_passing_follows_edge_direction():
    g = dgl.heterograph({("product", "copurchase", "product"): (torch.tensor([0, 0]), torch.tensor([1, 2]))},
                        num_nodes_dict={"product": 3})
    g.ndata["h"] = torch.tensor([[1.0], [10.0], [100.0]])
    with g.local_scope():
        g.update_all(fn.copy_u("h", "m"), fn.sum("m", "out"))
        received = g.ndata["out"].squeeze(1).tolist()
    assert received == [0.0, 1.0, 1.0]  # messages flow src -> dst only
    assert "out" not in g.ndata  # local_scope keeps temporaries out


def test_weighted_sampling_and_save_load(tmp_path):
    g = dgl.heterograph({("product", "coview", "product"): (torch.tensor([0, 1, 2, 3]), torch.tensor([4, 4, 4, 4]))})
    g.edata["weight"] = torch.tensor([0.0, 0.0, 1.0, 1.0])
    sub = dgl.sampling.sample_neighbors(g, {"product": torch.tensor([4])}, 2, prob="weight")
    src, _ = sub.edges()
    assert sorted(src.tolist()) == [2, 3]  # zero-probability edges are never sampled
    dgl.save_graphs(str(tmp_path / "g.bin"), [g])
    (loaded,), _ = dgl.load_graphs(str(tmp_path / "g.bin"))
    assert loaded.num_edges() == 4


def test_gatconv_runs_with_edge_weights():
    from dgl.nn import GATConv

    g = dgl.graph((torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])))
    conv = GATConv(4, 3, num_heads=1)
    out = conv(g, torch.randn(3, 4), edge_weight=torch.ones(3))
    assert torch.isfinite(out).all()


def test_import_dualgnn_has_no_side_effects():
    """No torch, no DGL, no environment variable: `dualgnn --help` and `info` must not pay for them."""
    code = ("import os, sys; before = dict(os.environ); import dualgnn, cli.app; cli.app._register()\n"
            "print(sorted(m for m in ('torch', 'dgl') if m in sys.modules), dict(os.environ) == before)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["[]", "True"]


def test_the_first_command_that_needs_dgl_fails_with_an_actionable_message():
    code = ("import sys; sys.modules['dgl'] = None\nimport dualgnn\n"
            "sys.argv = ['dualgnn', 'train', 'nowhere', '--out', 'nowhere-model']\n"
            "from cli.app import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "needs DGL 2.1.0" in proc.stderr and "pip install torch==2.13.0 dgl==2.1.0" in proc.stderr
