"""Classic recommenders with the same (ids, scores) contract: popularity, co-occurrence, text kNN, and tuned PageRank, RP3beta, EASE^R, item kNN."""
