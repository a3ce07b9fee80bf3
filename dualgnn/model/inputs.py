"""Node inputs as tensors (:class:`NodeInputs`) and the input tower that turns them into layer-0 vectors X_u.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dualgnn.config import TrainConfig


@dataclass
class NodeInputs:
    """Node input features as tensors: ``text`` (n, d_text) float32, ``categorical`` (n, c) int64 (0 = missing),
    ``numeric`` (n, p) float32, ``cardinalities`` one table size per categorical column."""

    text: torch.Tensor
    categorical: torch.Tensor
    numeric: torch.Tensor
    cardinalities: tuple[int, ...]

    @classmethod
    def from_features(cls, features) -> "NodeInputs":
        """From a :class:`dualgnn.features.store.Features` (or anything with the same four attributes)."""
        n = len(features.text)
        cat = getattr(features, "categorical", None)
        num = getattr(features, "numeric", None)
        cat = np.zeros((n, 0), np.int64) if cat is None else np.asarray(cat, np.int64)
        num = np.zeros((n, 0), np.float32) if num is None else np.asarray(num, np.float32)
        cards = tuple(int(c) for c in (getattr(features, "cardinalities", None) or ()))
        return cls(torch.from_numpy(np.ascontiguousarray(features.text, np.float32)),
                   torch.from_numpy(np.ascontiguousarray(cat)), torch.from_numpy(np.ascontiguousarray(num)), cards)

    def __len__(self) -> int:
        return len(self.text)

    def take(self, idx: torch.Tensor) -> "NodeInputs":
        return NodeInputs(self.text[idx], self.categorical[idx], self.numeric[idx], self.cardinalities)


class InputTower(nn.Module):
    """X_u = text W_text + sum of categorical embeddings + numeric W_num [+ learned id vector], shape (n, hidden)."""

    def __init__(self, config: TrainConfig, text_dim: int, cardinalities: tuple[int, ...], numeric_dim: int,
                 num_nodes: int) -> None:
        super().__init__()
        h = config.hidden_dim
        self.text = nn.Linear(text_dim, h, bias=False)
        self.categorical = nn.ModuleList(
            [nn.Embedding(max(int(c), 1), h, padding_idx=0) for c in cardinalities] if config.use_categorical else [])
        self.numeric = nn.Linear(numeric_dim, h) if config.use_numeric and numeric_dim > 0 else None
        # Id vectors help warm products; cold / new products get a zero id vector and rely on their features.
        self.ids = nn.Embedding(num_nodes, h) if config.id_embeddings else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.1)
        for emb in self.categorical:
            nn.init.normal_(emb.weight, std=0.1)

    def forward(self, inputs: NodeInputs, ids: torch.Tensor | None = None,
                id_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` (m,) graph node ids of the rows of ``inputs`` (None: no id vectors, e.g. brand-new products);
        ``id_mask`` (m,) float/bool, 0 where the id vector must not be used (cold products, dropout)."""
        # In-place sums on the projection's own output (its backward needs neither): no (n, h) copy per term.
        x = self.text(inputs.text)
        for j, emb in enumerate(self.categorical):
            x.add_(emb(inputs.categorical[:, j]))
        if self.numeric is not None:
            x.add_(self.numeric(inputs.numeric))
        if self.ids is not None and ids is not None:
            idv = self.ids(ids)
            if id_mask is not None:
                idv = idv * id_mask.to(idv.dtype).unsqueeze(1)
            x.add_(idv)
        return x
