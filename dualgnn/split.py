"""Seeded train / validation / test splits, saved with the artifacts so every method sees the same one.

* ``edge`` split (EQ1, EQ3, EQ5): co-purchase edges are split; co-view edges all stay as side information.
* ``node`` split (EQ4 cold start): products are split; validation and test products lose every edge (both
  types) from the training graph and come back with metadata only. Their co-purchase edges to training products
  become the held-out edges.

No leakage: only ``train_copurchase`` and ``train_coview`` may feed message passing, negatives or baselines.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dualgnn.artifacts import read_npz, write_npz
from dualgnn.config import MAX_SEED
from dualgnn.errors import ArtifactError, SettingsError
from dualgnn.graph import Edges, ProductGraph

#: The evaluation split's train / validation / test shares (`dualgnn evaluate`, `train --split`).
EVAL_SHARES = (0.75, 0.05, 0.20)


def parse_shares(text: str) -> tuple[float, float, float]:
    """``"0.75,0.05,0.2"`` -> (0.75, 0.05, 0.2); anything else is a :class:`SettingsError` naming ``--split``."""
    try:
        shares = tuple(float(v) for v in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != 3:
        raise SettingsError(f"{text!r} is not three comma-separated shares, e.g. 0.75,0.05,0.2", option="--split")
    return shares  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class SplitSettings:
    """How to split. ``ratios`` are train / validation / test shares and must sum to 1.

    >>> SplitSettings(kind="edge", ratios=(0.8, 0.0, 0.2), seed=0).ratios
    (0.8, 0.0, 0.2)
    """

    kind: str = "edge"
    ratios: tuple[float, float, float] = EVAL_SHARES
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("edge", "node"):
            raise SettingsError(f"split kind must be 'edge' or 'node', not {self.kind!r}")
        if len(self.ratios) != 3 or any(r < 0 for r in self.ratios) or abs(sum(self.ratios) - 1) > 1e-6:
            raise SettingsError(f"split ratios must be three non-negative shares summing to 1, not {self.ratios}",
                                option="--split")
        if self.ratios[0] <= 0:
            raise SettingsError("the training share must be positive", option="--split")
        if not 0 <= self.seed <= MAX_SEED:
            raise SettingsError(f"the split seed must be from 0 to {MAX_SEED}, not {self.seed}", option="--split-seed")
        object.__setattr__(self, "ratios", tuple(float(r) for r in self.ratios))


@dataclass
class Split:
    """Edges per part, in internal ids. ``cold`` (node split only) lists validation + test products."""

    settings: SplitSettings
    train_copurchase: Edges
    val_copurchase: Edges
    test_copurchase: Edges
    train_coview: Edges
    cold: np.ndarray
    fingerprint: str = ""

    def digest(self) -> str:
        """A short hash of the settings and every part's edges: a checkpoint resumes only on the same split."""
        h = hashlib.sha256(repr((self.settings.kind, self.settings.ratios, self.settings.seed)).encode())
        h.update(np.ascontiguousarray(self.cold, np.int64).tobytes())
        for name in ("train_copurchase", "val_copurchase", "test_copurchase", "train_coview"):
            e: Edges = getattr(self, name)
            for arr in (np.asarray(e.src, np.int64), np.asarray(e.dst, np.int64), np.asarray(e.weight, np.float32)):
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        arrays = {"cold": self.cold, "settings_kind": np.array(self.settings.kind),
                  "settings_ratios": np.array(self.settings.ratios), "settings_seed": np.array(self.settings.seed),
                  "fingerprint": np.array(self.fingerprint)}
        for name in ("train_copurchase", "val_copurchase", "test_copurchase", "train_coview"):
            e: Edges = getattr(self, name)
            arrays.update({f"{name}_src": e.src, f"{name}_dst": e.dst, f"{name}_weight": e.weight})
        write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | Path, graph: ProductGraph | None = None) -> "Split":
        z = read_npz(path)
        settings = SplitSettings(kind=str(z["settings_kind"]), ratios=tuple(z["settings_ratios"].tolist()),
                                 seed=int(z["settings_seed"]))
        parts = {name: Edges(z[f"{name}_src"], z[f"{name}_dst"], z[f"{name}_weight"])
                 for name in ("train_copurchase", "val_copurchase", "test_copurchase", "train_coview")}
        split = cls(settings=settings, cold=z["cold"], fingerprint=str(z["fingerprint"]), **parts)
        if graph is not None:
            from dualgnn.artifacts import graph_fingerprint

            if split.fingerprint and split.fingerprint != graph_fingerprint(graph):
                raise ArtifactError(f"{path} was made for another graph", hint="delete it to make a new split")
        return split

    def describe(self) -> dict:
        return {"settings": asdict(self.settings), "train_copurchase": len(self.train_copurchase),
                "val_copurchase": len(self.val_copurchase), "test_copurchase": len(self.test_copurchase),
                "train_coview": len(self.train_coview), "cold_products": int(len(self.cold))}


def _cut(n: int, ratios: tuple[float, float, float], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    order = rng.permutation(n)
    n_train = int(round(ratios[0] * n))
    # No test share (production training): rounding must not strand an edge outside both parts.
    n_val = n - n_train if ratios[2] == 0 else int(round(ratios[1] * n))
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def production_settings(validation: float = 0.05, seed: int = 0) -> SplitSettings:
    """The split of a model a shop ships: every co-purchase edge is learnt from but a seeded ``validation`` slice,
    which only decides when to stop (and is propagated over when the served vectors are computed)."""
    if not 0 <= validation < 0.5:
        raise SettingsError(f"the validation share must be in [0, 0.5), not {validation}", option="--validation")
    return SplitSettings(kind="edge", ratios=(1.0 - validation, validation, 0.0), seed=seed)


def is_production(settings: SplitSettings) -> bool:
    """True for a split that holds out no test edges (a shipped model's), False for an evaluation split."""
    return settings.kind == "edge" and settings.ratios[2] == 0


def whole_graph(graph: ProductGraph) -> Split:
    """Every edge as training edges: the graph the served vectors of a production model propagate over."""
    from dualgnn.artifacts import graph_fingerprint

    return Split(production_settings(0.0), graph.copurchase, Edges.empty(), Edges.empty(), graph.coview,
                 cold=np.zeros(0, np.int64), fingerprint=graph_fingerprint(graph))


def make_split(graph: ProductGraph, settings: SplitSettings) -> Split:
    """Split ``graph`` as ``settings`` says. Deterministic for a given graph and seed."""
    from dualgnn.artifacts import graph_fingerprint

    rng = np.random.default_rng(settings.seed)
    cp, cv = graph.copurchase, graph.coview
    if settings.kind == "edge":
        tr, va, te = _cut(len(cp), settings.ratios, rng)
        return Split(settings, cp.subset(np.sort(tr)), cp.subset(np.sort(va)), cp.subset(np.sort(te)), cv,
                     cold=np.zeros(0, np.int64), fingerprint=graph_fingerprint(graph))

    _, va_nodes, te_nodes = _cut(graph.num_products, settings.ratios, rng)
    part = np.zeros(graph.num_products, np.int8)  # 0 train, 1 validation, 2 test
    part[va_nodes], part[te_nodes] = 1, 2
    ps, pd_ = part[cp.src], part[cp.dst]
    # A held-out edge joins a cold product to a warm one; cold-cold edges have no warm end to anchor the
    # cold product's forward pass and are dropped from every part.
    train_cp = cp.subset((ps == 0) & (pd_ == 0))
    val_cp = cp.subset(((ps == 1) & (pd_ == 0)) | ((ps == 0) & (pd_ == 1)))
    test_cp = cp.subset(((ps == 2) & (pd_ == 0)) | ((ps == 0) & (pd_ == 2)))
    train_cv = cv.subset((part[cv.src] == 0) & (part[cv.dst] == 0))
    cold = np.sort(np.concatenate([va_nodes, te_nodes])).astype(np.int64)
    return Split(settings, train_cp, val_cp, test_cp, train_cv, cold=cold, fingerprint=graph_fingerprint(graph))


def split_path(directory: str | Path, settings: SplitSettings) -> Path:
    """Where a split with ``settings`` is saved, e.g. ``split-edge-0.75-0.05-0.2-seed0.npz``."""
    ratios = "-".join(f"{r:g}" for r in settings.ratios)
    return Path(directory) / f"split-{settings.kind}-{ratios}-seed{settings.seed}.npz"


def load_or_make_split(graph: ProductGraph, settings: SplitSettings, directory: str | Path | None) -> Split:
    """The split saved in ``directory`` for ``settings`` (also ``split.npz``, the one ``dualgnn train`` writes, when
    its settings match), or a new one, saved there. A saved split of another graph raises ArtifactError."""
    if directory is None:
        return make_split(graph, settings)
    for path in (Path(directory) / "split.npz", split_path(directory, settings)):
        if path.exists():
            split = Split.load(path, graph=graph)
            if _same_settings(split.settings, settings):
                return split
    split = make_split(graph, settings)
    split.save(split_path(directory, settings))
    return split


def _same_settings(a: SplitSettings, b: SplitSettings) -> bool:
    return a.kind == b.kind and a.seed == b.seed and np.allclose(a.ratios, b.ratios, atol=1e-9)
