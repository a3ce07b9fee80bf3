"""Output of `dualgnn evaluate`: a rich table per protocol, notes (tuned values, skipped methods), ``report.json``
and ``report.png`` (HR@k / MRR@k curves per ranking protocol, direction accuracy / AUC bars; titled with the data
set and split).

>>> write_report(report, Path("eval-out"))  # doctest: +SKIP
{'json': PosixPath('eval-out/report.json'), 'png': PosixPath('eval-out/report.png')}
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dualgnn.artifacts import atomic_path, write_json
from dualgnn.metrics import KS
from dualgnn.outputs import REPORT_FILES

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


def is_report_file(path: Path) -> bool:
    """True when ``path`` is one of :data:`REPORT_FILES` that an earlier evaluate wrote (its JSON says so)."""
    for name in ("report.json", "report.partial.json"):
        candidate = path.parent / name
        if candidate.exists():
            obj = json.loads(candidate.read_text())
            return isinstance(obj, dict) and {"rows", "meta"} <= set(obj)
    return False


def render_notes(report) -> list[str]:
    """Plain-text lines under the tables: the splits, each tuned classic's values and tuning time, skipped methods."""
    from dualgnn.evaluation.methods import format_params

    lines = [f"{report.meta.get('dataset') or 'data'}: {split_label(report.meta)}"]
    for method, t in report.meta.get("tuning", {}).items():
        val = t.get("validation", {})
        if t.get("per_split"):  # the ranker: fitted on each split's validation edges
            lines.append(f"fitted {method}: {t['params']}  (inner validation HR@10 {val.get('HR@10', float('nan')):.3f}"
                         f" / MRR@10 {val.get('MRR@10', float('nan')):.3f}, candidate recall "
                         f"{t.get('candidate_recall', float('nan')):.3f}, {t['seconds']:.1f}s, GNN {t.get('gnn')})")
            continue
        figure = f"validation HR@10 {val['HR@10']:.3f} / MRR@10 {val['MRR@10']:.3f}, " if val else "untuned, "
        lines.append(f"tuned {method}: {format_params(t['params'])}  ({figure}{t['evaluations']} settings, "
                     f"{t['seconds']:.1f}s, on {t.get('validation_pairs', 0):,} {t.get('tuned_on', 'validation')})")
    node = [t["node_split"] for t in report.meta.get("tuning", {}).values() if "node_split" in t]
    if node:
        lines.append(f"EQ4 (node split), tuned classics: {node[0]}")
    for method, reason in report.meta.get("skipped", {}).items():
        lines.append(f"skipped {method}: {reason}")
    return lines


def split_label(meta: dict) -> str:
    """``edge split 75/5/20 seed 0; node split 75/5/20 seed 0`` from ``meta["splits"]``."""
    parts = []
    for kind, d in meta.get("splits", {}).items():
        st = d.get("settings", {})
        ratios = "/".join(f"{100 * r:g}" for r in st.get("ratios", ()))
        parts.append(f"{kind} split {ratios} seed {st.get('seed', '?')}")
    return "; ".join(parts) or "no split"


def write_report(report, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json`` (atomic) and ``report.png`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "png": out_dir / "report.png"}
    write_json(paths["json"], report.to_dict())  # write_json makes NaN null
    plot_curves(report, paths["png"])
    return paths


def write_partial(report, out_dir: str | Path) -> Path:
    """``report.partial.json``: the rows finished so far, rewritten after every method; `dualgnn evaluate` deletes it
    once the full report is written, so a crash or Ctrl-C in a long GNN row keeps the finished rows."""
    path = Path(out_dir) / "report.partial.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, report.to_dict())
    return path


def plot_curves(report, path: str | Path) -> None:
    """HR@k and MRR@k against k, one line per method, one row of panels per ranking protocol; a last row of
    direction accuracy / AUC bars per method for the direction protocols. The title names the data and split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranking = [p for p in report.protocols if any(f"HR@{KS[0]}" in r for r in report.rows if r["protocol"] == p)]
    direction = [p for p in report.protocols if any("direction_acc" in r for r in report.rows if r["protocol"] == p)]
    n_rows = max(len(ranking) + bool(direction), 1)
    fig, axes = plt.subplots(n_rows, 2, figsize=(11, 3.4 * n_rows + 0.6), squeeze=False)
    for i, protocol in enumerate(ranking):
        pairs = report.meta.get("tasks", {}).get(protocol, {}).get("pairs")
        for r in (r for r in report.rows if r["protocol"] == protocol):
            for j, metric in enumerate(("HR", "MRR")):
                axes[i, j].plot(KS, [r.get(f"{metric}@{k}", math.nan) for k in KS], marker="o", label=r["method"])
        for j, metric in enumerate(("HR", "MRR")):
            axes[i, j].set(title=f"{protocol}: {metric}@k" + (f" ({pairs:,} held-out pairs)" if pairs else ""),
                           xlabel="k (length of the recommended list)", ylabel=f"{metric}@k", xticks=list(KS))
            axes[i, j].grid(alpha=0.3)
    if ranking:
        axes[0, 1].legend(fontsize=7, loc="best")
    if direction:
        _direction_bars(report, direction, axes[len(ranking)])
    fig.suptitle(f"dualgnn evaluate: {report.meta.get('dataset') or 'data'}, {split_label(report.meta)} "
                 f"({report.meta.get('num_products', 0):,} products; full ranking, filtered)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _direction_bars(report, protocols: list[str], axes) -> None:
    """Grouped bars: one group per method, one bar per direction protocol; 0.5 is a coin flip."""
    methods = report.methods
    width = 0.8 / len(protocols)
    for j, metric in enumerate(("direction_acc", "direction_auc")):
        ax = axes[j]
        for i, protocol in enumerate(protocols):
            rows = {r["method"]: r for r in report.rows if r["protocol"] == protocol}
            pairs = report.meta.get("tasks", {}).get(protocol, {}).get("pairs", 0)
            ax.bar([m + i * width for m in range(len(methods))],
                   [rows.get(m, {}).get(metric, math.nan) for m in methods], width,
                   label=f"{protocol} ({pairs:,} pairs)")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks([m + width * (len(protocols) - 1) / 2 for m in range(len(methods))], methods,
                      rotation=45, ha="right", fontsize=7)
        label = {"direction_acc": "accuracy, score(u,v) > score(v,u)", "direction_auc": "AUC"}[metric]
        ax.set(title=f"direction {label}, one-way held-out u->v", ylabel=metric, ylim=(0, 1))
        ax.legend(fontsize=7, loc="lower right")


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
