"""Never lose what the user owns, and end every fault with a clear message (the console entry point, in process).

Each test drives ``cli.app.main`` as the console script does, so a user mistake must end in SystemExit with a
message and exit code 1 (2 for a bad option): an exception escaping ``main`` fails the test, as a traceback would.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import sys
from argparse import Namespace
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from tests.planted_graph import planted

PLAIN = "Past, Present & Future [w/ Bonus DVD]"


def run(capsys, *args) -> tuple[int, str]:
    """``dualgnn ARGS`` in process -> (exit code, stdout + stderr)."""
    from cli.app import main

    capsys.readouterr()
    with mock.patch.object(sys, "argv", ["dualgnn", *map(str, args)]), mock.patch.dict(os.environ, {"COLUMNS": "200"}):
        with pytest.raises(SystemExit) as exit_:
            main()
    out = capsys.readouterr()
    code = exit_.value.code if isinstance(exit_.value.code, int) else (0 if exit_.value.code is None else 1)
    return code, out.out + out.err


def write_shop(shop: Path, titles: dict[int, str] | None = None) -> Path:
    """The planted catalog as user tables in ``shop/`` (products, copurchase, coview CSVs)."""
    graph, *_ = planted()
    shop.mkdir(parents=True, exist_ok=True)
    products = graph.products.copy()
    for row, title in (titles or {}).items():
        products.loc[row, "title"] = title
    products.to_csv(shop / "products.csv", index=False)
    ids = graph.ids.ids
    for name in ("copurchase", "coview"):
        e = getattr(graph, name)
        pd.DataFrame({"src": ids[e.src], "dst": ids[e.dst]}).to_csv(shop / f"{name}.csv", index=False)
    return shop


def build_args(shop: Path, out: Path, dim: int = 32) -> list:
    return ["build-graph", "--products", shop / "products.csv", "--copurchase", shop / "copurchase.csv",
            "--coview", shop / "coview.csv", "--encoder", "hashing", "--quiet", "--out", out]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A shop's tables, their graph artifact and a model trained on it (1 epoch, tiny), made through the CLI."""
    root = tmp_path_factory.mktemp("reliability")
    shop = write_shop(root / "shop", titles={0: PLAIN})
    cli_ok(*build_args(shop, root / "graph"))
    cli_ok("train", root / "graph", "--out", root / "model", "--epochs", "1", "--dim", "16", "--quiet")
    return root


def cli_ok(*args) -> None:
    """``dualgnn ARGS`` in process, for fixtures (no capture): it must succeed."""
    from cli.app import main

    with mock.patch.object(sys, "argv", ["dualgnn", *map(str, args)]), pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code in (0, None), args


def copy_of(world: Path, name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(world / name, dst)
    return dst


# --- 1. --out never deletes what the user owns ----------------------------------------------------------------

def test_build_graph_into_the_folder_of_its_inputs_is_refused_and_the_inputs_stay(tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    before = snapshot(shop)
    code, out = run(capsys, *build_args(shop, shop))
    assert code == 1 and "an input of this command" in out and str(shop) in out
    assert snapshot(shop) == before


def test_train_into_its_own_graph_is_refused_and_the_graph_still_loads(world, tmp_path, capsys):
    from dualgnn.artifacts import load_graph

    graph = copy_of(world, "graph", tmp_path)
    before = snapshot(graph)
    code, out = run(capsys, "train", graph, "--out", graph, "--epochs", "1", "--quiet")
    assert code == 1 and "input of this command" in out
    assert snapshot(graph) == before and load_graph(graph).num_products > 0


def test_train_onto_a_user_file_is_refused_and_no_dot_file_hides_it(world, tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    before = snapshot(shop)
    code, out = run(capsys, "train", world / "graph", "--out", shop / "products.csv", "--epochs", "1", "--quiet")
    assert code == 1 and "existing file" in out and "products.csv" in out
    assert snapshot(shop) == before and sorted(p.name for p in shop.iterdir()) == sorted(before)


def test_a_directory_that_is_no_artifact_of_that_kind_is_never_replaced(world, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    code, out = run(capsys, "train", world / "graph", "--out", mine, "--epochs", "1", "--quiet")
    assert code == 1 and "not a dualgnn model artifact" in out and (mine / "notes.txt").read_text() == "my notes"
    graph_copy = copy_of(world, "graph", tmp_path)  # a graph artifact is not a model artifact either
    before = snapshot(graph_copy)
    code, out = run(capsys, "train", world / "graph", "--out", graph_copy, "--epochs", "1", "--quiet")
    assert code == 1 and "holds a dualgnn graph artifact" in out and snapshot(graph_copy) == before


def test_an_artifact_of_the_same_kind_and_an_empty_directory_are_replaced(world, tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(capsys, *build_args(shop, empty))[0] == 0
    assert run(capsys, *build_args(shop, empty))[0] == 0  # a rebuild replaces its own earlier artifact
    assert (empty / "manifest.json").exists()


def test_an_artifact_holding_another_artifact_is_not_replaced(world, tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    graph = tmp_path / "g"
    assert run(capsys, *build_args(shop, graph))[0] == 0
    shutil.copytree(world / "model", graph / "model")
    code, out = run(capsys, *build_args(shop, graph))
    assert code == 1 and "holds another dualgnn artifact" in out and (graph / "model" / "weights.pt").exists()


def test_an_artifact_holding_a_users_files_is_not_replaced(world, tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    graph = tmp_path / "g"
    assert run(capsys, *build_args(shop, graph))[0] == 0
    assert run(capsys, "evaluate", graph, "--protocols", "EQ1", "--methods", "popularity", "--quiet")[0] == 0
    (graph / ".eval.lock").write_text("4242\n")  # a killed run's lock
    assert run(capsys, *build_args(shop, graph))[0] == 0  # evaluate's default report folder is dualgnn's own
    assert not (graph / "eval").exists() and not (graph / ".eval.lock").exists()
    (graph / "eval").mkdir()
    (graph / "eval" / "mine.txt").write_text("mine")  # but not once it holds the user's files
    (graph / "NOTES.md").write_text("why this graph")
    (graph / "models").mkdir()
    (graph / "models" / "v1.txt").write_text("kept")
    code, out = run(capsys, *build_args(shop, graph))
    assert code == 1 and "NOTES.md, eval, models" in out and "did not write" in out
    assert (graph / "NOTES.md").read_text() == "why this graph" and (graph / "models" / "v1.txt").exists()
    model = copy_of(world, "model", tmp_path)
    (model / "results.csv").write_text("mine")
    code, out = run(capsys, "train", world / "graph", "--out", model, "--epochs", "1", "--quiet")
    assert code == 1 and "results.csv" in out and (model / "results.csv").read_text() == "mine"


def test_an_out_that_is_a_symbolic_link_is_not_replaced(world, tmp_path, capsys):
    model = copy_of(world, "model", tmp_path)
    link = tmp_path / "current"
    link.symlink_to(model)
    before = snapshot(model)
    code, out = run(capsys, "train", world / "graph", "--out", link, "--epochs", "1", "--quiet")
    assert code == 1 and "symbolic link" in out
    assert link.is_symlink() and snapshot(model) == before


OUT_COMMANDS = {
    "build-graph": lambda w, out: build_args(w / "shop", out),
    "train": lambda w, out: ["train", w / "graph", "--out", out, "--epochs", "1", "--dim", "16", "--quiet"],
    "evaluate": lambda w, out: ["evaluate", w / "graph", "--protocols", "EQ1", "--methods", "popularity",
                                "--out", out, "--quiet"],
    "recommend": lambda w, out: ["recommend", w / "graph", "--model", w / "model", "--product", "P0000", "--out", out],
    "synth": lambda w, out: ["synth", "--products", "200", "--out", out],
}


@pytest.mark.parametrize("command", sorted(OUT_COMMANDS))
@pytest.mark.parametrize("target", ["a user file", "a user folder", "the current directory"])
def test_no_command_removes_or_changes_a_file_it_did_not_create(world, tmp_path, capsys, monkeypatch, command,
                                                                target):
    """The sweep: every command with --out, pointed at things the user owns, leaves every byte where it was."""
    user = tmp_path / "user"
    user.mkdir()
    for name in ("products.csv", "report.json", "report.png", "notes.txt", "synth.json", "copurchase.csv"):
        (user / name).write_text(f"the user's {name}\n")
    before = snapshot(user)
    monkeypatch.chdir(user)
    out = {"a user file": user / "products.csv", "a user folder": user, "the current directory": Path(".")}[target]
    code, text = run(capsys, *OUT_COMMANDS[command](world, out))
    assert code == 1, text
    assert snapshot(user) == before and sorted(p.name for p in user.iterdir()) == sorted(before)


def test_recommend_replaces_its_own_earlier_table(world, tmp_path, capsys):
    out = tmp_path / "lists.csv"
    assert run(capsys, *OUT_COMMANDS["recommend"](world, out))[0] == 0
    assert run(capsys, *OUT_COMMANDS["recommend"](world, out))[0] == 0
    assert pd.read_csv(out)["product_id"].eq("P0000").all()


# --- 2. --resume only on the data the checkpoint was made on ----------------------------------------------------

@pytest.mark.parametrize("other", ["same product count, other edges", "another product count"])
def test_resume_on_another_graph_is_refused(tmp_path, other):
    from dualgnn.config import TrainConfig
    from dualgnn.errors import ArtifactError
    from dualgnn.graph import ProductGraph
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.loop import train

    config = TrainConfig.preset("default", epochs=1, batch_size=64, hidden_dim=16)
    graph, feats, *_ = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    train(graph, feats, split, config, out_dir=tmp_path, progress=False)
    if other == "another product count":
        graph2, feats2, *_ = planted(groups=9)
    else:
        feats2 = feats
        keep = np.arange(len(graph.copurchase)) % 7 != 0
        graph2 = ProductGraph(graph.ids, graph.products, graph.copurchase.subset(keep), graph.coview)
    split2 = make_split(graph2, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    with pytest.raises(ArtifactError, match="was made on another"):
        train(graph2, feats2, split2, config.replace(epochs=2), out_dir=tmp_path, resume=True, progress=False)


def test_resume_on_the_same_data_still_works(tmp_path):
    from dualgnn.config import TrainConfig
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.loop import train

    graph, feats, *_ = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.8, 0.1, 0.1), seed=0))
    config = TrainConfig.preset("default", epochs=1, batch_size=64, hidden_dim=16)
    train(graph, feats, split, config, out_dir=tmp_path, progress=False)
    result = train(graph, feats, split, config.replace(epochs=2), out_dir=tmp_path, resume=True, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2]


# --- 3. text from the data is printed as written, never as markup -----------------------------------------------

def test_titles_and_ids_with_brackets_print_as_written(world, capsys):
    code, out = run(capsys, "recommend", world / "graph", "--model", world / "model", "--product", "P0000", "-k", "3")
    assert code == 0 and PLAIN in " ".join(out.split())  # the table may wrap the title


def test_a_skipped_line_example_with_markup_is_printed_and_the_build_succeeds(tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    with open(shop / "copurchase.csv", "a") as fh:
        fh.write("[/bold],p1\n")
    code, out = run(capsys, *[a for a in build_args(shop, tmp_path / "g") if a != "--quiet"])
    assert code == 0 and "[/bold]" in out and (tmp_path / "g" / "manifest.json").exists()


# --- 4. a model is used only with the features it was trained on ------------------------------------------------

def test_new_products_against_a_graph_with_other_features_are_refused(world, tmp_path, capsys):
    rebuilt = tmp_path / "rebuilt"
    args = build_args(world / "shop", rebuilt)
    args[args.index("hashing")] = "tfidf"
    assert run(capsys, *args)[0] == 0
    new = tmp_path / "new.csv"
    new.write_text("product_id,title,brand\nNEW1,a brand new phone,acme\n")
    code, out = run(capsys, "recommend", rebuilt, "--model", world / "model", "--new-products", new)
    assert code == 1 and "built with other settings" in out and "encoder" in out


# --- 7. damaged model and graph files: a clear error naming the file --------------------------------------------

def _pickle_of_something_else(path: Path) -> None:
    path.write_bytes(pickle.dumps(Namespace(a=1)))


DAMAGE = {
    "garbage weights.pt": ("weights.pt", lambda p: p.write_bytes(b"\x00garbage" * 10)),
    "a non-weights pickle": ("weights.pt", _pickle_of_something_else),
    "an empty weights.pt": ("weights.pt", lambda p: p.write_bytes(b"")),
    "a manifest that is a list": ("manifest.json", lambda p: p.write_text("[1, 2]")),
    "1-D embeddings": ("embeddings.npz", lambda p: np.savez(open(p, "wb"), source=np.zeros(80, np.float32),
                                                            target=np.zeros(80, np.float32))),
    "NaN embeddings": ("embeddings.npz", lambda p: np.savez(open(p, "wb"), source=np.full((80, 4), np.nan, np.float32),
                                                            target=np.zeros((80, 4), np.float32))),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_model_files_give_a_clear_error(world, tmp_path, capsys, damage):
    model = copy_of(world, "model", tmp_path)
    name, spoil = DAMAGE[damage]
    spoil(model / name)
    new = tmp_path / "new.csv"
    new.write_text("product_id,title\nNEW1,a brand new phone\n")
    code, out = run(capsys, "recommend", world / "graph", "--model", model, "--new-products", new)
    assert code == 1 and name in out, out


def test_an_edge_index_out_of_range_in_graph_npz_is_named(world, tmp_path, capsys):
    graph = copy_of(world, "graph", tmp_path)
    with np.load(graph / "graph.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["copurchase_dst"][0] = 10_000
    np.savez(open(graph / "graph.npz", "wb"), **arrays)
    code, out = run(capsys, "recommend", graph, "--model", world / "model", "--product", "P0000")
    assert code == 1 and "graph.npz" in out and "outside" in out


# --- 8. environment faults: checked before the work where possible, else a plain message -------------------------

def test_out_under_a_file_is_refused_before_any_work(world, tmp_path, capsys):
    (tmp_path / "file.csv").write_text("x\n")
    code, out = run(capsys, "train", world / "graph", "--out", tmp_path / "file.csv" / "model", "--epochs", "1")
    assert code == 1 and "is a file, not a directory" in out


def test_a_directory_named_like_a_table_is_refused(world, tmp_path, capsys):
    (tmp_path / "x.csv").mkdir()
    code, out = run(capsys, *OUT_COMMANDS["recommend"](world, tmp_path / "x.csv"))
    assert code == 1 and "is a directory" in out


def test_a_read_only_place_is_refused_before_the_work(world, tmp_path, capsys):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    with mock.patch("tempfile.TemporaryFile", read_only):
        code, out = run(capsys, "train", world / "graph", "--out", tmp_path / "m", "--epochs", "1", "--quiet")
    assert code == 1 and "read-only" in out and not (tmp_path / "m").exists()


def test_a_full_disk_while_saving_weights_is_a_plain_message(world, tmp_path, capsys):
    import torch

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

    usage = shutil.disk_usage(tmp_path)._replace(free=1024)
    with mock.patch.object(torch, "save", full), mock.patch("shutil.disk_usage", return_value=usage):
        code, out = run(capsys, "train", world / "graph", "--out", tmp_path / "m", "--epochs", "1", "--quiet")
    assert code == 1 and "no space left" in out and not (tmp_path / "m").exists()


def test_an_os_error_anywhere_ends_in_a_message(world, tmp_path, capsys):
    with mock.patch("dualgnn.build.build_graph", side_effect=OSError(errno.EIO, "Input/output error", "disk0")):
        code, out = run(capsys, *build_args(world / "shop", tmp_path / "g"))
    assert code == 1 and "disk0" in out and "Input/output error" in out


# --- 9. temporaries never outlive their run ----------------------------------------------------------------------

def test_a_killed_runs_temporaries_are_swept_by_the_next_run(world, tmp_path, capsys):
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".g.{dead}.abcd.tmp"
    stale.mkdir()
    (stale / "text_cache.npz").write_bytes(b"x" * 100)
    (tmp_path / f".g.{dead}.old-{dead}").mkdir()
    alive = tmp_path / f".g.{os.getpid()}.live.tmp"  # this process: still running, kept
    alive.mkdir()
    assert run(capsys, *build_args(world / "shop", tmp_path / "g"))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["g", alive.name])


def test_sigterm_during_build_graph_leaves_no_temporary(world, tmp_path):
    import signal
    import subprocess
    import time

    from tests.conftest import REPO

    args = build_args(world / "shop", tmp_path / "g")
    args[args.index("hashing")] = "minilm"  # slow enough to be caught in the middle
    proc = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob(".g.*.tmp")):
        time.sleep(0.01)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_second_writer_of_the_same_out_is_refused(world, tmp_path, capsys):
    from dualgnn.outputs import output_lock

    with output_lock(tmp_path / "g"):
        code, out = run(capsys, *build_args(world / "shop", tmp_path / "g"))
    assert code == 1 and "another dualgnn run" in out and not (tmp_path / "g").exists()


# --- 12. messages that say what is wrong -------------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["--events", "e.csv", "--copurchase", "c.csv"], "--events derives both edge types"),
    (["--copurchase", "c.csv"], "edge tables need a products table"),
])
def test_build_graph_option_mixups_say_what_is_wrong(tmp_path, capsys, args, says):
    for name in ("e.csv", "c.csv"):
        (tmp_path / name).write_text("src,dst\na,b\n")
    code, out = run(capsys, "build-graph", *[tmp_path / a if a.endswith(".csv") else a for a in args],
                    "--out", tmp_path / "g")
    assert code == 1 and says in out


BAD_OPTIONS = {  # each names the option the user typed, not a settings field behind it
    "--dim": ["train", "{graph}", "--dim", "0"],
    "--epochs": ["train", "{graph}", "--epochs", "0"],
    "--window-days": ["build-graph", "--events", "{shop}/copurchase.csv", "--window-days", "-1"],
    "--min-support": ["build-graph", "--events", "{shop}/copurchase.csv", "--min-support", "0"],
    "--products": ["synth", "--products", "5"],
    "--methods": ["evaluate", "{graph}", "--methods", ""],
    "--protocols": ["evaluate", "{graph}", "--protocols", " , "],
}


@pytest.mark.parametrize("option", sorted(BAD_OPTIONS))
def test_a_bad_option_is_named_as_typed_before_any_work(world, tmp_path, capsys, option):
    args = [a.format(graph=world / "graph", shop=world / "shop") for a in BAD_OPTIONS[option]]
    code, out = run(capsys, *args, "--out", tmp_path / "out")
    assert code == 2 and option in out and not (tmp_path / "out").exists(), out
    assert "hidden_dim" not in out and "Settings" not in out and "window must" not in out


def test_no_co_purchase_edge_left_names_the_file_and_what_was_skipped(world, tmp_path, capsys):
    shop = write_shop(tmp_path / "shop")
    (shop / "copurchase.csv").write_text("src,dst\nX1,Y1\nX2,Y2\n")
    code, out = run(capsys, *build_args(shop, tmp_path / "g"))
    out = " ".join(out.split())
    assert code == 1 and f"no co-purchase edge of {shop / 'copurchase.csv'} remains" in out
    assert "edges with an end not in the catalog: 2" in out and "line 2: 'X1'" in out


def test_info_on_a_missing_directory_says_so(tmp_path, capsys):
    code, out = run(capsys, "info", tmp_path / "nothing")
    assert code == 1 and "does not exist" in out


def test_absurd_thread_counts_are_a_bad_option(world, tmp_path, capsys):
    code, out = run(capsys, "train", world / "graph", "--out", tmp_path / "m", "--threads", "100000")
    assert code == 2 and "--threads" in out


@pytest.mark.parametrize("args", [["train", "--split-seed", "-1"], ["train", "--seed", str(2**70)],
                                  ["evaluate", "--split-seed", "-3"], ["evaluate", "--seed", "-1"]])
def test_a_seed_numpy_or_torch_cannot_take_is_a_bad_option(world, tmp_path, capsys, args):
    code, out = run(capsys, args[0], world / "graph", *args[1:], "--out", tmp_path / "m")
    assert code == 2 and args[1] in out and not (tmp_path / "m").exists()


def test_evaluate_with_another_graphs_model_names_the_graph(world, tmp_path, capsys):
    other = tmp_path / "other"
    shop2 = write_shop(tmp_path / "shop2")
    products = pd.read_csv(shop2 / "products.csv")
    products.loc[0, "product_id"] = "renamed"
    products.to_csv(shop2 / "products.csv", index=False)
    for name in ("copurchase", "coview"):
        edges = pd.read_csv(shop2 / f"{name}.csv").replace({"P0000": "renamed"})
        edges.iloc[np.arange(len(edges)) % 7 != 0].to_csv(shop2 / f"{name}.csv", index=False)
    assert run(capsys, *build_args(shop2, other))[0] == 0
    code, out = run(capsys, "evaluate", other, "--model", world / "model", "--protocols", "EQ1",
                    "--methods", "dualgnn", "--quiet", "--out", tmp_path / "eval")
    assert code == 1 and "another graph" in out and "--split" not in out


def test_an_empty_validation_split_is_said_plainly_and_history_is_strict_json(tmp_path):
    from dualgnn.config import TrainConfig
    from dualgnn.split import SplitSettings, make_split
    from dualgnn.training.loop import train

    graph, feats, *_ = planted()
    split = make_split(graph, SplitSettings(kind="edge", ratios=(0.9, 0.0, 0.1), seed=0))
    result = train(graph, feats, split, TrainConfig.preset("default", epochs=2, batch_size=64, hidden_dim=16),
                   out_dir=tmp_path, progress=False)
    assert np.isnan(result.best_val) and 1 <= result.best_epoch <= 2
    history = json.loads((tmp_path / "history.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"bare {c} in history.json"))
    assert all("val_hr10" not in h for h in history)


def test_an_edge_weight_near_the_float32_maximum_keeps_its_influence():
    import torch

    from dualgnn.model.encoder import edge_norms

    src, dst = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])
    norms = edge_norms(src, dst, torch.tensor([3e38, 1.0, 1.0]), 3)
    assert torch.isfinite(norms).all() and norms.tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_quiet_prints_no_progress_bar_even_while_the_text_model_loads(world, tmp_path, capsys):
    args = build_args(world / "shop", tmp_path / "g")
    args[args.index("hashing")] = "minilm"
    code, out = run(capsys, *args)
    assert code == 0 and "product graph" in out  # the summary stays; the bars go
    assert "Loading weights" not in out and "it/s" not in out and "Batches" not in out
