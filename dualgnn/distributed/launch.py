"""Starting the processes: PyTorch's launcher, ``torchrun`` (``python -m torch.distributed.run``), one process per
part (training) or per query range (export), on this machine or on every machine of an ip config.

An ip config is DGL's launch tool's file: one machine per line, its address first (anything after it, such as
DGL's port, is ignored; blank lines and ``#`` comments are skipped). The first machine hosts the rendezvous.

>>> torchrun_command(["train-distributed", "parts", "--out", "m"], nproc_per_node=2)[3:6]
['--standalone', '--nnodes', '1']
"""

from __future__ import annotations

import sys
from pathlib import Path

from dualgnn.errors import InputError

#: What torchrun sets in every process it starts: a command seeing them is a worker, not the launcher.
WORKER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def read_ip_config(path: str | Path) -> list[str]:
    """The machines' addresses, in order; :class:`InputError` naming the file for an empty or unreadable one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the ip config: {exc}", path=path,
                         hint="one machine address per line, the rendezvous host first") from exc
    hosts = [line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not hosts:
        raise InputError("the ip config lists no machine", path=path, hint="one machine address per line")
    return hosts


def torchrun_command(args: list[str], *, nproc_per_node: int, hosts: list[str] | None = None, node_rank: int = 0,
                     port: int = 29500) -> list[str]:
    """The command that starts ``nproc_per_node`` processes of ``dualgnn ARGS`` here: alone (``hosts`` None) or as
    machine ``node_rank`` of ``hosts`` (a static rendezvous at the first host's ``port``)."""
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    if hosts is None:
        cmd += ["--standalone", "--nnodes", "1"]
    else:
        if not 0 <= node_rank < len(hosts):
            raise InputError(f"--machine-rank {node_rank} is not a line of the ip config (0..{len(hosts) - 1})")
        cmd += ["--nnodes", str(len(hosts)), "--node-rank", str(node_rank), "--master-addr", hosts[0],
                "--master-port", str(port)]
    return cmd + ["--nproc-per-node", str(nproc_per_node), "-m", "cli", *args]


def is_worker(environ: dict) -> bool:
    """True in a process torchrun (or another launcher that sets torch's variables) started."""
    return all(v in environ for v in WORKER_VARIABLES)
