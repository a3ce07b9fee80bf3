"""The optimiser and the averaged weights (EMA) of a training run, both made before the first step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from dualgnn.config import TrainConfig


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, fused: one kernel per parameter and no (rows, h) temporaries for the id-vector table."""
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)


def update_ema(ema: dict | None, model: torch.nn.Module, decay: float, step: int) -> dict | None:
    """Move the averaged weights ``ema`` towards the model's (None = start from them); a no-op when decay is 0.

    The decay warms up as min(decay, (1 + step) / (10 + step)) (as TensorFlow's ExponentialMovingAverage with
    num_updates), so the average does not drag the random initial weights along in short runs."""
    if decay <= 0:
        return None
    decay = min(decay, (1.0 + step) / (10.0 + step))
    fresh = ema is None or step <= 1  # the average starts at the first step's weights
    if ema is None:
        ema = new_ema(model, decay)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if fresh or not v.is_floating_point():
                ema[k].copy_(v)
            else:
                ema[k].lerp_(v, 1.0 - decay)
    return ema


def new_ema(model: torch.nn.Module, decay: float) -> dict | None:
    """Buffers for the averaged weights (filled by the first :func:`update_ema`), made before training starts so
    that long-lived memory is not allocated between a step's temporaries (see :func:`init_optimizer_state`)."""
    if decay <= 0:
        return None
    return {k: torch.empty_like(v) for k, v in model.state_dict().items()}


def init_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Create the optimiser's per-parameter state now, with the values its lazy creation at the first step would
    give (a zero-learning-rate step on zero gradients, then the step counts reset).

    Why: Adam's moments for the id-vector table are two (n, h) tensors that live as long as training. Made lazily,
    they land in whatever memory the first step's temporaries just freed; with the heap-only allocator
    (``--fast-alloc``) every later step's temporaries then have to fit around them, and the peak grows
    (``python bench/step_timer.py GRAPH_DIR --fast-alloc`` measures it)."""
    saved = [(group["lr"], group.get("weight_decay", 0.0)) for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = 0.0
        if "weight_decay" in group:
            group["weight_decay"] = 0.0  # else the decay term would enter the moments
        for p in group["params"]:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    for group, (lr, decay) in zip(optimizer.param_groups, saved):
        group["lr"] = lr
        if "weight_decay" in group:
            group["weight_decay"] = decay
        for p in group["params"]:
            p.grad = None
            step = optimizer.state[p].get("step")
            if torch.is_tensor(step):
                step.zero_()
            elif step is not None:
                optimizer.state[p]["step"] = 0


@contextmanager
def averaged_weights(model: torch.nn.Module, ema: dict | None):
    """Inside the block the model carries the averaged weights (if any); the training weights come back after."""
    if ema is None:
        yield
        return
    training = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema)
    try:
        yield
    finally:
        model.load_state_dict(training)
