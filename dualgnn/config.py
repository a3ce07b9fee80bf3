"""Training configuration: one frozen, validated dataclass, saved as JSON beside the weights.

Two presets:

* ``paper`` — DAEMON as published: 3 layers, sum aggregation, ReLU per edge type, no self term, one ``W_l`` per
  layer, literal Eq. 2 log-sigmoid loss with uniform negatives, Adam lr 1e-4, 64-d, batch 1024, <= 30 epochs,
  fan-outs 20/10/10.
* ``default`` — what measured best on amazon-digital-music (see the README's "Differences from the paper").

>>> TrainConfig.preset("paper").num_layers
3
>>> TrainConfig.preset("default", epochs=5).epochs
5
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from dualgnn.errors import SettingsError

MAX_SEED = 2**32 - 1  # numpy takes no negative seed and torch none beyond 64 bits: one range for every seed
AGGREGATIONS = ("sum", "mean", "weighted", "attention")
LOSSES = ("paper", "softmax", "warp")
MODES = ("auto", "full", "sampled")
COMBINES = ("last", "mean")
ACTIVATIONS = ("relu", "none")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that decides the model and its training. Invalid values raise ``ValueError`` on construction."""

    # --- encoder
    hidden_dim: int = 64
    num_layers: int = 2
    aggregation: str = "weighted"
    self_term: bool = True
    activation: str = "relu"  # per edge type, as in the paper; "none" = linear propagation (LightGCN-like)
    layer_combine: str = "mean"  # "last" (paper) or mean over the input and every layer's output (LightGCN-style)
    separate_inputs: bool = False  # paper: s and t both start from X_u; True: two input projections
    id_embeddings: bool = True  # learned per-product vector added to the input (warm products only)
    id_dropout: float = 0.1  # share of products whose id vector is zeroed per step, so features alone also work
    target_bias: bool = True  # per-target popularity b_v: s.t + b_v, folded in as [s, 1].[t, b]; needs dual
    use_categorical: bool = True
    use_numeric: bool = True
    use_coview: bool = True
    dual: bool = True  # False: one embedding per product (source == target), an ablation
    directed: bool = True  # False: copurchase treated as undirected (the symmetric single-embedding baseline)
    # DirGNN-style reverse view: the source tower also reads co-purchase IN-neighbours' targets and the target
    # tower OUT-neighbours' sources, through a separate weight W_rev (direction stays learnable). Needs dual.
    reverse_relations: bool = False
    # Reciprocity blend lam: relevance of v after u is s_u.t_v + lam * s_v.t_u, served as ONE inner product of
    # query [s, lam t] with target [t, s] (vectors twice as wide). For lam < 1 the direction decision is that of
    # s.t alone: (1 - lam)(s_u.t_v - s_v.t_u) > 0. Co-purchase is often mutual (an album and its sequel); the
    # blend lets the reverse evidence count without giving up direction. Used in the loss and in every score.
    blend: float = 0.5
    # --- loss
    loss: str = "softmax"
    temperature: float = 0.1
    asymmetry: bool = True
    asym_margin: float = 0.2
    asym_weight: float = 1.0
    coview_weight: float = 0.2
    n_negatives: int = 5  # paper loss: uniform negatives per edge (the paper does not state n_k)
    mask_positives: bool = False  # softmax: a query's other training targets are not negatives (as in filtered eval)
    candidates: int = 0  # softmax: 0 = all targets; else in-batch targets + this many shared uniform negatives
    warp_shuffles: int = 3
    warp_margin: float = 0.1
    # Hide each step's positive co-purchase edges from that step's message passing, as held-out pairs are hidden
    # at evaluation and in use (dualgnn/training/hiding.py), plus (whole-graph steps) a random ``edge_dropout`` share of all.
    # Off by default: +0.006 HR@10 on music over two seeds (within the seed spread), -0.029 on gift cards.
    hide_positives: bool = False
    edge_dropout: float = 0.0
    # --- optimisation
    lr: float = 5e-3
    weight_decay: float = 0.0
    # Exponential moving average of the weights (0 = off): validation, early stopping and the exported vectors
    # use the averaged weights, which smooth the step-to-step noise of big-batch training.
    ema_decay: float = 0.97
    epochs: int = 30
    patience: int = 5
    batch_size: int = 4096
    max_steps_per_epoch: int = 16  # full-graph mode: batches grow beyond batch_size to keep steps per epoch <= this
    fanouts: tuple[int, ...] = (20, 10)
    mode: str = "auto"
    seed: int = 0
    eval_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "fanouts", tuple(int(f) for f in self.fanouts))
        checks = [
            (self.hidden_dim >= 1, f"hidden_dim must be >= 1, not {self.hidden_dim}"),
            (self.num_layers >= 0, f"num_layers must be >= 0, not {self.num_layers}"),
            (self.aggregation in AGGREGATIONS, f"aggregation must be one of {AGGREGATIONS}, not {self.aggregation!r}"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}, not {self.loss!r}"),
            (self.mode in MODES, f"mode must be one of {MODES}, not {self.mode!r}"),
            (self.activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}, not {self.activation!r}"),
            (self.layer_combine in COMBINES, f"layer_combine must be one of {COMBINES}, not {self.layer_combine!r}"),
            (self.temperature > 0, f"temperature must be > 0, not {self.temperature}"),
            (0.0 <= self.id_dropout < 1.0, f"id_dropout must be in [0, 1), not {self.id_dropout}"),
            (self.asym_weight >= 0 and self.coview_weight >= 0, "loss weights must be >= 0"),
            (self.candidates >= 0, f"candidates must be >= 0, not {self.candidates}"),
            (self.n_negatives >= 1, f"n_negatives must be >= 1, not {self.n_negatives}"),
            (self.warp_shuffles >= 1, f"warp_shuffles must be >= 1, not {self.warp_shuffles}"),
            (0.0 <= self.edge_dropout < 1.0, f"edge_dropout must be in [0, 1), not {self.edge_dropout}"),
            (self.lr > 0, f"lr must be > 0, not {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, not {self.weight_decay}"),
            (0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), not {self.ema_decay}"),
            (self.epochs >= 1, f"epochs must be >= 1, not {self.epochs}"),
            (self.patience >= 1, f"patience must be >= 1, not {self.patience}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, not {self.batch_size}"),
            (self.max_steps_per_epoch >= 1, f"max_steps_per_epoch must be >= 1, not {self.max_steps_per_epoch}"),
            (self.eval_every >= 1, f"eval_every must be >= 1, not {self.eval_every}"),
            (0 <= self.seed <= MAX_SEED, f"seed must be from 0 to {MAX_SEED}, not {self.seed}"),
            (len(self.fanouts) == self.num_layers and all(f >= 1 for f in self.fanouts),
             f"fanouts needs one positive fan-out per layer ({self.num_layers}), not {self.fanouts}"),
            (self.dual or not self.separate_inputs, "separate_inputs needs dual=True"),
            (self.dual or not self.reverse_relations, "reverse_relations needs dual=True"),
            (0.0 <= self.blend < 1.0, f"blend must be in [0, 1) (1 would make every score symmetric), not {self.blend}"),
            (self.blend == 0 or (self.dual and self.loss != "paper"),
             "blend needs dual=True and the softmax or warp loss (set blend=0)"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fanouts"] = list(self.fanouts)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SettingsError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **overrides) -> "TrainConfig":
        return replace(self, **overrides)

    @classmethod
    def preset(cls, name: str, **overrides) -> "TrainConfig":
        """A named preset with ``overrides`` applied. Changing ``num_layers`` alone adapts ``fanouts``."""
        if name not in PRESETS:
            raise SettingsError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        base = dict(PRESETS[name])
        if "num_layers" in overrides and "fanouts" not in overrides:
            paper_fanouts = (20, 10, 10, 10, 10, 10, 10, 10)
            overrides["fanouts"] = paper_fanouts[: overrides["num_layers"]]
        base.update(overrides)
        return cls(**base)


PRESETS: dict[str, dict] = {
    "default": {},
    "paper": dict(
        hidden_dim=64, num_layers=3, aggregation="sum", self_term=False, activation="relu", layer_combine="last",
        separate_inputs=False, id_embeddings=False, id_dropout=0.0, target_bias=False, use_categorical=False, use_numeric=False,
        blend=0.0, ema_decay=0.0, hide_positives=False, edge_dropout=0.0,
        loss="paper", asymmetry=True, use_coview=True, coview_weight=1.0, asym_weight=1.0, n_negatives=5,
        lr=1e-4, weight_decay=0.0, epochs=30, patience=30, batch_size=1024, fanouts=(20, 10, 10),
        max_steps_per_epoch=10**9,  # every batch of 1024 edges is a step, as published
    ),
}
