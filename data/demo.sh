#!/usr/bin/env bash
# The main job end to end on the bundled sample (run by `make demo`):
# build the graph, train, evaluate against the baselines, print recommendations.
set -euo pipefail
DUALGNN=${1:-dualgnn}
OUT=${2:-demo-output}
SAMPLE=data/sample
PHONE=P0001246   # "Nexo Edge 4 128GB Smartphone"
CASE=P0000320    # "Crystique Silicone Case for Nexo Edge 4"
CAMERA=P0001660  # "Kairo EOS-5 Mark IV 24MP Mirrorless Camera"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. build the product graph and features"
"$DUALGNN" build-graph --products "$SAMPLE/products.csv.gz" --copurchase "$SAMPLE/copurchase.csv.gz" \
  --coview "$SAMPLE/coview.csv.gz" --out "$OUT/graph"

step "2. train the dual-embedding GNN to ship (every co-purchase but a 5% validation slice), then its ranker on that slice"
"$DUALGNN" train "$OUT/graph" --out "$OUT/model"

step "3. evaluate on held-out co-purchases, next to the baselines (evaluate trains its own model on the split)"
"$DUALGNN" evaluate "$OUT/graph" --protocols EQ1,EQ3 \
  --methods popularity,cooccurrence,rp3beta,text-knn,dualgnn,ranker --out "$OUT/eval"

step "4. after a phone (cases, chargers) and after its case (no phones), with reasons"
"$DUALGNN" recommend "$OUT/graph" --model "$OUT/model" --product "$PHONE" --product "$CASE" -k 8 --explain

step "5. a camera bought together with a phone: complete the basket"
"$DUALGNN" recommend "$OUT/graph" --model "$OUT/model" --basket "$PHONE,$CAMERA" -k 8

step "6. a product added this morning, from its metadata alone (cold start)"
"$DUALGNN" recommend "$OUT/graph" --model "$OUT/model" --new-products data/new_products.csv -k 8

step "7. the whole catalog, to a file"
"$DUALGNN" recommend "$OUT/graph" --model "$OUT/model" --all -k 20 --out "$OUT/recommendations.parquet" --quiet
echo "wrote $OUT/recommendations.parquet; training curve: $OUT/model/training_curve.png; evaluation: $OUT/eval/"
