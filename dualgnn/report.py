"""Output of `dualgnn evaluate`: a rich table per protocol, ``report.json`` and ``report.png`` (HR@k / MRR@k curves).

>>> write_report(report, Path("eval-out"))  # doctest: +SKIP
{'json': PosixPath('eval-out/report.json'), 'png': PosixPath('eval-out/report.png')}
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dualgnn.artifacts import atomic_path, write_json
from dualgnn.metrics import KS

#: Columns shown per protocol kind, and whether higher is better (None: not ranked, never bold).
RANK_COLUMNS = [(f"HR@{k}", True) for k in KS] + [(f"MRR@{k}", True) for k in KS] + \
    [("coverage@10", True), ("popbias@10", None), ("pairs", None), ("seconds", None)]
DIRECTION_COLUMNS = [("direction_acc", True), ("direction_auc", True), ("pairs", None), ("seconds", None)]


def columns_for(rows: list[dict]) -> list[tuple[str, bool | None]]:
    return DIRECTION_COLUMNS if any("direction_acc" in r for r in rows) else RANK_COLUMNS


def render_tables(report) -> list:
    """One :class:`rich.table.Table` per protocol: methods as rows, the best value per column in bold."""
    from rich.table import Table

    tables = []
    for protocol in report.protocols:
        rows = [r for r in report.rows if r["protocol"] == protocol]
        cols = columns_for(rows)
        tasks = report.meta.get("tasks", {}).get(protocol, {})
        title = f"{protocol}  ({tasks.get('pairs', len(rows) and rows[0].get('pairs', 0)):,} held-out pairs"
        if tasks.get("pairs_before_sampling", 0) > tasks.get("pairs", 0):
            title += f", sampled from {tasks['pairs_before_sampling']:,}"
        table = Table(title=title + ")", title_justify="left")
        table.add_column("method")
        for name, _ in cols:
            table.add_column(name, justify="right")
        best = {name: _best([r.get(name) for r in rows], higher) for name, higher in cols if higher is not None}
        for r in rows:
            cells = [r["method"]]
            for name, _ in cols:
                text = _fmt(name, r.get(name))
                cells.append(f"[bold]{text}[/]" if name in best and _close(r.get(name), best[name]) else text)
            table.add_row(*cells)
        tables.append(table)
    return tables


#: What `dualgnn evaluate` writes into its --out directory (nothing else there is touched).
REPORT_FILES = ("report.json", "report.png", "report.partial.json")


def is_report_file(path: Path) -> bool:
    """True when ``path`` is one of :data:`REPORT_FILES` that an earlier evaluate wrote (its JSON says so)."""
    for name in ("report.json", "report.partial.json"):
        candidate = path.parent / name
        if candidate.exists():
            obj = json.loads(candidate.read_text())
            return isinstance(obj, dict) and {"rows", "meta"} <= set(obj)
    return False


def write_report(report, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json`` (atomic) and ``report.png`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "png": out_dir / "report.png"}
    write_json(paths["json"], _finite(report.to_dict()))
    plot_curves(report, paths["png"])
    return paths


def write_partial(report, out_dir: str | Path) -> Path:
    """``report.partial.json``: the rows finished so far, rewritten after every method; `dualgnn evaluate` deletes it
    once the full report is written, so a crash or Ctrl-C in a long GNN row keeps the finished rows."""
    path = Path(out_dir) / "report.partial.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, _finite(report.to_dict()))
    return path


def plot_curves(report, path: str | Path) -> None:
    """HR@k and MRR@k against k, one line per method, one row of panels per ranking protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = [p for p in report.protocols
                 if any(f"HR@{KS[0]}" in r for r in report.rows if r["protocol"] == p)]
    fig, axes = plt.subplots(max(len(protocols), 1), 2, figsize=(10, 3.2 * max(len(protocols), 1)), squeeze=False)
    for i, protocol in enumerate(protocols):
        for r in (r for r in report.rows if r["protocol"] == protocol):
            for j, metric in enumerate(("HR", "MRR")):
                axes[i, j].plot(KS, [r.get(f"{metric}@{k}", math.nan) for k in KS], marker="o", label=r["method"])
        for j, metric in enumerate(("HR", "MRR")):
            axes[i, j].set(title=f"{protocol}: {metric}@k", xlabel="k", xticks=list(KS))
            axes[i, j].grid(alpha=0.3)
    if protocols:
        axes[0, 1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _best(values, higher: bool):
    vals = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    if len(vals) < 2:
        return None
    return max(vals) if higher else min(vals)


def _close(a, b) -> bool:
    return b is not None and isinstance(a, (int, float)) and abs(a - b) < 5e-4


def _fmt(name: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if name == "pairs":
        return f"{int(value):,}"
    if name == "seconds":
        return f"{value:.1f}"
    return f"{value:.3f}"


def _finite(obj):
    """NaN -> None so the JSON is strict."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
