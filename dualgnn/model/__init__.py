"""The dual-embedding GNN: encoder, its sparse and fused kernels, served vectors, cold start, model directories and the nightly refresh."""
