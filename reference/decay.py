"""Maximize and weight decay before a step, and the two decay variants real packages ship.

The references whose decay is decoupled by default (Lion, signSGD/Signum) share it, so that
every record forms the decayed parameter and the signed gradient alike and names the two
slips alike:
    g <- -g if maximize
    θ <- θ(1 - ηλ)           decoupled (the default)
    g <- g + λθ              "coupled-decay": L2 inside the gradient
    θ <- θ(1 - λ)            "decay-without-lr": decoupled, not scaled by η
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optcheck.reference.spec import Array, Hyper, State, StepFn, Variant


def before_step(
    param: Array, grad: Array, hp: Hyper, *, coupled: bool = False, decay_scale: float | None = None
) -> tuple[Array, Array]:
    """(θ, g) as the step sees them: g signed by maximize, λ applied one of the three ways
    (``decay_scale``: what multiplies λ in θ(1 - ·λ), η when None)."""
    lr, wd = hp["lr"], hp.get("weight_decay", 0.0)
    g = -grad if hp.get("maximize", False) else grad
    if wd != 0:
        if coupled:
            g = g + wd * param
        else:
            param = param * (1.0 - (lr if decay_scale is None else decay_scale) * wd)
    return param, g


def _with(impl: Callable[..., tuple[Array, dict]], doc: str, **decay: Any) -> StepFn:
    def step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
        return impl(param, grad, state, hp, **decay)

    step.__doc__ = doc
    return step


def decay_variants(
    impl: Callable[..., tuple[Array, dict]], coupled_source: str, without_lr_source: str
) -> tuple[Variant, Variant]:
    """The coupled-decay and decay-without-lr variants of ``impl(param, grad, state, hp, *,
    coupled, decay_scale)``, which forms its (θ, g) with ``before_step``."""
    return (
        Variant(
            "coupled-decay",
            _with(impl, "Decay as L2 inside the gradient: g + λθ.", coupled=True),
            "weight decay added to the gradient (L2) instead of θ(1-ηλ)",
            coupled_source,
        ),
        Variant(
            "decay-without-lr",
            _with(impl, "Decoupled decay θ(1-λ), not scaled by η.", decay_scale=1.0),
            "decoupled decay θ(1-λ), not scaled by η",
            without_lr_source,
        ),
    )
