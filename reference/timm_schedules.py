"""timm's schedulers (``timm.scheduler``) as float64 closed forms, under timm's own keyword
names: CosineLRScheduler, PolyLRScheduler, TanhLRScheduler (cyclic), StepLRScheduler and
MultiStepLRScheduler (step decays).

Sources: Loshchilov & Hutter, SGDR (ICLR 2017), eq. (5) — cosine annealing from the cycle's
peak to ``lr_min`` over a cycle of T_i steps — with SGDR's T_mult as ``cycle_mul``; the
per-cycle peak decay (``cycle_decay``), the cycle count (``cycle_limit``: lr_min after the
last cycle), the k-decay exponent (Zhang & Li, "k-decay", 2020: the position in a cycle
raised to the power k, x = t_cur^k / T_i^k), the tanh decay (Hsueh et al. 2019, "Stochastic
gradient descent with hyperbolic-tangent decay": 1 - tanh(lb + (ub - lb) x) over 2), the
polynomial decay (1 - x)^power, and the linear warm-up (from ``warmup_lr_init`` to the lr over
``warmup_t`` steps; ``warmup_prefix`` starts the schedule after it instead of counting the
warm-up into it) as timm's docs describe them.

``t`` is the count timm's train loop passes to ``step(t)``/``step_update(t)``: the epochs or
updates done so far. ``base_lr`` is the optimizer's lr.

The cycle index is computed exactly (cycle starts T_0 (m^i - 1)/(m - 1), walked one restart
at a time), not through a floating-point logarithm, so a t on a restart starts the new cycle.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import numpy as np

from optcheck.reference.schedules import LR, TLike, _out


def _cycle(t: float, t_initial: int, cycle_mul: float) -> tuple[int, float, float]:
    """(i, t_cur, T_i): t's cycle, its position in it, and that cycle's length."""
    if cycle_mul == 1.0:
        i = int(t // t_initial)
        return i, t - i * t_initial, float(t_initial)
    i, start, length = 0, 0.0, float(t_initial)
    while start + length <= t:  # cycles grow geometrically: O(log t) iterations
        start, length, i = start + length, length * cycle_mul, i + 1
    return i, t - start, length


def _warmed(
    t: TLike,
    base_lr: float,
    warmup_t: int,
    warmup_lr_init: float,
    warmup_prefix: bool,
    after: Callable[[float], float],
    joined: bool = False,
) -> LR:
    """The linear warm-up for t < warmup_t, then ``after(t)`` (t shifted by the warm-up when
    it is a prefix). The warm-up rises to base_lr, or, ``joined`` and not a prefix, to the
    schedule's own value at t = warmup_t, so that it meets the decay without a jump."""
    top = after(warmup_t) if joined and not warmup_prefix and warmup_t else base_lr

    def one(u: float) -> float:
        if u < warmup_t:
            return warmup_lr_init + u * (top - warmup_lr_init) / warmup_t
        return after(u - warmup_t if warmup_prefix else u)

    ts = np.asarray(t, dtype=np.float64)
    return _out(np.vectorize(one, otypes=[np.float64])(ts), t)


def _cyclic(
    base_lr: float,
    shape: Callable[[float], float],
    t_initial: int,
    lr_min: float,
    cycle_mul: float,
    cycle_decay: float,
    cycle_limit: int,
    k_decay: float,
) -> Callable[[float], float]:
    """lr_min + (peak_i - lr_min) shape(x) in cycle i, x = t_cur^k / T_i^k; lr_min after the
    last cycle. ``shape`` falls from 1 at x = 0 toward 0 at x = 1."""

    def after(u: float) -> float:
        i, t_cur, length = _cycle(u, t_initial, cycle_mul)
        if i >= cycle_limit:
            return lr_min
        x = t_cur**k_decay / length**k_decay
        return lr_min + (base_lr * cycle_decay**i - lr_min) * shape(x)

    return after


def cosine(
    t: TLike,
    base_lr: float,
    /,
    t_initial: int = 100,
    lr_min: float = 0.0,
    cycle_mul: float = 1.0,
    cycle_decay: float = 1.0,
    cycle_limit: int = 1,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = False,
    k_decay: float = 1.0,
    t_in_epochs: bool = True,  # which call the loop makes (the adapter's business), not the lr
) -> LR:
    def shape(x: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * x))

    after = _cyclic(base_lr, shape, t_initial, lr_min, cycle_mul, cycle_decay, cycle_limit, k_decay)
    return _warmed(t, base_lr, warmup_t, warmup_lr_init, warmup_prefix, after)


def poly(
    t: TLike,
    base_lr: float,
    /,
    t_initial: int = 100,
    power: float = 0.5,
    lr_min: float = 0.0,
    cycle_mul: float = 1.0,
    cycle_decay: float = 1.0,
    cycle_limit: int = 1,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = False,
    k_decay: float = 1.0,
    t_in_epochs: bool = True,
) -> LR:
    def shape(x: float) -> float:
        return (1.0 - x) ** power

    after = _cyclic(base_lr, shape, t_initial, lr_min, cycle_mul, cycle_decay, cycle_limit, k_decay)
    return _warmed(t, base_lr, warmup_t, warmup_lr_init, warmup_prefix, after)


def tanh(
    t: TLike,
    base_lr: float,
    /,
    t_initial: int = 100,
    lb: float = -7.0,
    ub: float = 3.0,
    lr_min: float = 0.0,
    cycle_mul: float = 1.0,
    cycle_decay: float = 1.0,
    cycle_limit: int = 1,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = False,
    t_in_epochs: bool = True,
) -> LR:
    def shape(x: float) -> float:
        return 0.5 * (1.0 - math.tanh(lb * (1.0 - x) + ub * x))

    # timm's tanh warm-up ends on the curve (its docs: warm-up to the lr at warmup_t).
    after = _cyclic(base_lr, shape, t_initial, lr_min, cycle_mul, cycle_decay, cycle_limit, 1.0)
    return _warmed(t, base_lr, warmup_t, warmup_lr_init, warmup_prefix, after, joined=True)


def step(
    t: TLike,
    base_lr: float,
    /,
    decay_t: float = 30.0,
    decay_rate: float = 1.0,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = True,
    t_in_epochs: bool = True,
) -> LR:
    # decay_rate per decay_t steps: base * rate^floor(t / decay_t), as torch's StepLR.
    def after(u: float) -> float:
        return base_lr * decay_rate ** (u // decay_t)

    return _warmed(t, base_lr, warmup_t, warmup_lr_init, warmup_prefix, after)


def multistep(
    t: TLike,
    base_lr: float,
    /,
    decay_t: Sequence[int] = (30, 60),
    decay_rate: float = 1.0,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = True,
    t_in_epochs: bool = True,
) -> LR:
    # One decay per milestone, counted from 1 as timm documents (a milestone m applies from
    # t = m - 1: "compared against t + 1"), unlike torch's MultiStepLR.
    marks = sorted(decay_t)

    def after(u: float) -> float:
        return base_lr * decay_rate ** bisect.bisect_right(marks, u + 1)

    return _warmed(t, base_lr, warmup_t, warmup_lr_init, warmup_prefix, after)


def constraint_cycles(p: dict) -> str | None:
    if p.get("cycle_mul", 1.0) < 1.0:
        return "cycle_mul < 1: cycles shrink toward a finite horizon (timm's log goes undefined)"
    return None
