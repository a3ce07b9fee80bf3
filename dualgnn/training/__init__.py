"""Training: the loop, its steps, losses, edge hiding, checkpoints and the process's memory policy."""
