"""Markdown table of bench/results/train_experiments.jsonl (last run per data set and name)."""
import json
from pathlib import Path

rows = {}
for line in (Path(__file__).parent / "results" / "train_experiments.jsonl").read_text().splitlines():
    r = json.loads(line)
    rows[(r["data"], r["name"])] = r
print("| data | run | overrides | val HR@10 | HR@5 | HR@10 | HR@20 | MRR@10 | dir acc | dir AUC | best ep / run | wall s | CPU s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (data, name), r in sorted(rows.items()):
    ov = " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or ("preset " + r["preset"])
    print(f"| {data} | {name} | {ov} | {r.get('best_val_hr10', float('nan')):.3f} | {r['HR@5']:.3f} | {r['HR@10']:.3f} | {r['HR@20']:.3f} | {r['MRR@10']:.3f} | "
          f"{r['direction_acc']:.3f} | {r['direction_auc']:.3f} | {r['best_epoch']}/{r['epochs_run']} | "
          f"{r['train_seconds']:.0f} | {r.get('train_cpu_seconds', float('nan')):.0f} |")
