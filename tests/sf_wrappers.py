"""Schedule-Free wrappers as optimizer factories ``f(params, **hp)``, the form optcheck builds
targets from: ``optcheck validate sf_wrappers:schedulefree_sgd --like SGDScheduleFree``.

A wrapper (schedulefree's ScheduleFreeWrapper and ScheduleFreeWrapperReference,
pytorch-optimizer's ScheduleFreeWrapper) takes a built base optimizer and runs it on z; what
the result must equal is a record's formula for that base:

- base torch.optim.SGD with momentum 0: z ← z − γ(g + λy) is SGDScheduleFree's z-step
  (Alg. 1 with SGD), no warm-up (the wrapper has none): record ``SGDScheduleFree``;
- base torch.optim.Adam with β1 = 0: z ← z − γ(g/(√v̂ + ε) + λy) (torch's Adam with β1 = 0
  keeps m = g and 1 − β1^t = 1) is AdamWScheduleFree's: record ``AdamWScheduleFree``, the
  wrapper's momentum as β1.

The record's keywords map onto the wrapper's (momentum or betas[0] → momentum, weight_decay →
weight_decay_at_y, r, weight_lr_power) and the base's (lr, betas[1], eps). The wrapper's
keywords are one value for every param group, so a group's own momentum, betas or
weight_decay is dropped before the base sees it (the base would read them as its own
momentum or decay at z).
"""

from __future__ import annotations

from typing import Any

import torch

WRAPPER_KEYS = ("momentum", "betas", "weight_decay")


def _base_groups(params: Any) -> Any:
    params = list(params)
    if params and isinstance(params[0], dict):
        return [{k: v for k, v in g.items() if k not in WRAPPER_KEYS} for g in params]
    return params


def _sgd(params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(_base_groups(params), lr=lr, momentum=0.0)


def _adam(params: Any, lr: float, beta2: float, eps: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(_base_groups(params), lr=lr, betas=(0.0, beta2), eps=eps)


def schedulefree_sgd(
    params: Any,
    lr: float = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> Any:
    import schedulefree

    return schedulefree.ScheduleFreeWrapper(
        _sgd(params, lr), momentum=momentum, weight_decay_at_y=weight_decay, r=r,
        weight_lr_power=weight_lr_power,
    )  # fmt: skip


def schedulefree_reference_sgd(
    params: Any,
    lr: float = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> Any:
    import schedulefree

    return schedulefree.ScheduleFreeWrapperReference(
        _sgd(params, lr), momentum=momentum, weight_decay_at_y=weight_decay, r=r,
        weight_lr_power=weight_lr_power,
    )  # fmt: skip


def schedulefree_adam(
    params: Any,
    lr: float = 0.0025,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> Any:
    import schedulefree

    return schedulefree.ScheduleFreeWrapper(
        _adam(params, lr, betas[1], eps), momentum=betas[0], weight_decay_at_y=weight_decay,
        r=r, weight_lr_power=weight_lr_power,
    )  # fmt: skip


def pytorch_optimizer_sgd(
    params: Any,
    lr: float = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> Any:
    import pytorch_optimizer

    return pytorch_optimizer.ScheduleFreeWrapper(
        _sgd(params, lr), momentum=momentum, weight_decay=weight_decay, r=r,
        weight_lr_power=weight_lr_power,
    )  # fmt: skip
