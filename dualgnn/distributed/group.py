"""The process group the trainers and export workers share: PyTorch's ``torch.distributed`` over gloo (CPU).

Every collective here is one of torch's own; this module only gives them the shapes dualgnn needs (an error
every process raises, rows gathered by catalog id, a few floats decided on rank 0). Nothing is pickled: errors
travel as UTF-8 bytes in tensors, rows as float tensors.

>>> with process_group("env://") as group:      # under torchrun  # doctest: +SKIP
...     print(group.rank, group.size)
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from dualgnn.errors import DualGNNError

#: How long a process waits for the others at a collective before giving up (a dead peer, a wrong address).
TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class Group:
    """This process's place in the group: ``rank`` in ``0 .. size - 1``."""

    rank: int
    size: int

    @property
    def leader(self) -> bool:
        return self.rank == 0


@contextlib.contextmanager
def process_group(init_method: str, *, rank: int | None = None, size: int | None = None) -> Iterator[Group]:
    """Join the gloo group at ``init_method`` (``env://`` under torchrun, which sets rank and size; or
    ``tcp://HOST:PORT`` with ``rank`` and ``size``) for the block, and leave it afterwards."""
    import torch.distributed as dist

    kwargs = {} if rank is None else {"rank": rank, "world_size": size}
    try:
        dist.init_process_group("gloo", init_method=init_method, timeout=TIMEOUT, **kwargs)
    except (RuntimeError, ValueError) as exc:
        raise DualGNNError(f"cannot join the process group at {init_method}: {exc}",
                           hint="start every process with the same torchrun rendezvous (README \"More than one "
                                "machine\")") from exc
    try:
        yield Group(dist.get_rank(), dist.get_world_size())
    finally:
        dist.destroy_process_group()


def agree(error: str | None) -> None:
    """Every process raises the first error any process reports (``None``: this one has none), so a bad input seen
    by one rank stops all of them at once instead of leaving the others waiting at the next collective."""
    import torch.distributed as dist

    data = (error or "").encode("utf-8")
    size = torch.tensor([len(data)], dtype=torch.int64)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    if longest == 0:
        return
    mine = torch.zeros(longest, dtype=torch.uint8)
    if data:
        mine[:len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    texts = [torch.zeros(longest, dtype=torch.uint8) for _ in sizes]
    dist.all_gather(texts, mine)
    for rank, (n, text) in enumerate(zip(sizes, texts)):
        if int(n.item()):
            message = bytes(text[:int(n.item())].tolist()).decode("utf-8")
            raise DualGNNError(message if rank == dist.get_rank() else f"process {rank}: {message}")


def checked(group: Group, fn):
    """``fn()`` on every process; if any process fails with a :class:`DualGNNError`, all of them raise it."""
    try:
        value = fn()
    except DualGNNError as exc:
        agree(str(exc))
        raise
    agree(None)
    return value


def decide(group: Group, values: list[float] | None) -> list[float]:
    """Floats computed on rank 0 (``values``; ignored elsewhere), the same list on every process."""
    import torch.distributed as dist

    n = torch.tensor([len(values) if group.leader else 0], dtype=torch.int64)
    dist.broadcast(n, 0)
    out = torch.tensor(values if group.leader else [0.0] * int(n.item()), dtype=torch.float64)
    dist.broadcast(out, 0)
    return out.tolist()


def share_text(group: Group, text: str | None) -> str:
    """A string made on rank 0 (``text``; ignored elsewhere), the same on every process."""
    import torch.distributed as dist

    data = (text or "").encode("utf-8") if group.leader else b""
    n = torch.tensor([len(data)], dtype=torch.int64)
    dist.broadcast(n, 0)
    buf = torch.zeros(int(n.item()), dtype=torch.uint8)
    if group.leader and data:
        buf[:] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    dist.broadcast(buf, 0)
    return bytes(buf.tolist()).decode("utf-8")


def mean_over(values: float) -> float:
    """The mean of one float over all processes."""
    import torch.distributed as dist

    t = torch.tensor([values], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def gather_rows(group: Group, ids: np.ndarray, rows: torch.Tensor, total: int) -> np.ndarray | None:
    """Rank 0 gets a ``(total, d)`` float32 array whose row ``ids[i]`` of process p is that process's ``rows[i]``;
    the others get None. Every row of the result must come from exactly one process (each its own products)."""
    import torch.distributed as dist

    counts = [torch.zeros(1, dtype=torch.int64) for _ in range(group.size)]
    dist.all_gather(counts, torch.tensor([len(ids)], dtype=torch.int64))
    longest = int(max(c.item() for c in counts))
    width = rows.shape[1]
    padded_ids = torch.full((longest,), -1, dtype=torch.int64)
    padded_ids[:len(ids)] = torch.from_numpy(np.asarray(ids, np.int64))
    padded = torch.zeros(longest, width, dtype=torch.float32)
    padded[:len(ids)] = rows
    all_ids = [torch.empty_like(padded_ids) for _ in range(group.size)] if group.leader else None
    all_rows = [torch.empty_like(padded) for _ in range(group.size)] if group.leader else None
    dist.gather(padded_ids, all_ids, dst=0)
    dist.gather(padded, all_rows, dst=0)
    if not group.leader:
        return None
    out = np.zeros((total, width), np.float32)
    seen = np.zeros(total, bool)
    for c, i, r in zip(counts, all_ids, all_rows):
        k = int(c.item())
        out[i[:k].numpy()] = r[:k].numpy()
        seen[i[:k].numpy()] = True
    if not seen.all():
        raise DualGNNError(f"{int((~seen).sum()):,} products have no vector after gathering the partitions' rows",
                           hint="re-partition the graph: its parts do not cover the catalog")
    return out
