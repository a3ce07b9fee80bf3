#!/usr/bin/env bash
# Every experiment in the README's "Differences from the paper" table, two at a time (1 torch thread each).
# Results: bench/results/train_experiments.jsonl (one JSON line per run). Usage: bash bench/train_ablations.sh [music|gift]
set -u
DATA=${1:-music}
PY=${PY:-.venv/bin/python}
run() { name=$1; shift; "$PY" bench/train_experiments.py --data "$DATA" --name "$name" "$@"; }
export -f run
export DATA PY
runs=(
  "default"
  "paper --preset paper"
  "no-asymmetry -- asymmetry=False"
  "no-coview -- use_coview=False"
  "symmetric-gnn -- dual=False directed=False"
  "no-self-term -- self_term=False"
  "single-embedding -- dual=False"
  "3-layers -- num_layers=3"
  "no-id-embeddings -- id_embeddings=False"
  "agg-sum -- aggregation=sum"
  "agg-attention -- aggregation=attention"
  "loss-warp -- loss=warp"
  "no-target-bias -- target_bias=False"
  "agg-mean -- aggregation=mean"
  "1-layer -- num_layers=1"
  "loss-paper -- loss=paper"
  "combine-last -- layer_combine=last"
  "linear-activation -- activation=none"
  "hidden-128 -- hidden_dim=128"
  "temperature-0.1 -- temperature=0.1"
  "separate-inputs -- separate_inputs=True"
)
printf '%s\n' "${runs[@]}" | xargs -P "${JOBS:-2}" -I{} bash -c 'run {}'
