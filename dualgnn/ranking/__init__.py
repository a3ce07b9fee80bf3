"""The second stage: candidates from the GNN, the graph and the best classic, re-ranked by a LightGBM LambdaRank model over pair features."""
