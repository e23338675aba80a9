"""timm's cosine schedule (``timm.scheduler.CosineLRScheduler``) as a float64 closed form,
under timm's own keyword names.

Source: Loshchilov & Hutter, SGDR (ICLR 2017), eq. (5) — cosine annealing from the cycle's
maximum to ``lr_min`` over a cycle of T_i steps — with SGDR's T_mult as ``cycle_mul``; the
per-cycle peak decay (``cycle_decay``), the restart count (``cycle_limit``, lr_min after the
last cycle), the k-decay exponent (Zhang & Li, "k-decay", 2020: the position within a cycle
raised to the power k, i.e. cos(pi t_cur^k / T_i^k)) and the linear warm-up (from
``warmup_lr_init`` to the peak over ``warmup_t`` steps; ``warmup_prefix`` starts the first
cycle after it instead of counting the warm-up into it) as timm's docs describe them.

``t`` is the number of ``step(t)``/``step_update(t)`` calls made so far (timm's train loop
passes the epoch or update count just reached), ``base_lr`` the optimizer's lr.

The cycle index is computed exactly (integer cycle starts T_0 (m^i - 1)/(m - 1)), not through
a floating-point logarithm, so a t on a restart starts the new cycle.
"""

from __future__ import annotations

import math

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
    def one(u: float) -> float:
        if u < warmup_t:
            return warmup_lr_init + u * (base_lr - warmup_lr_init) / warmup_t
        i, t_cur, length = _cycle(u - warmup_t if warmup_prefix else u, t_initial, cycle_mul)
        if i >= cycle_limit:
            return lr_min
        peak = base_lr * cycle_decay**i
        x = t_cur**k_decay / length**k_decay
        return lr_min + 0.5 * (peak - lr_min) * (1.0 + math.cos(math.pi * x))

    ts = np.asarray(t, dtype=np.float64)
    return _out(np.vectorize(one, otypes=[np.float64])(ts), t)


def constraint_cosine(p: dict) -> str | None:
    if p.get("cycle_mul", 1.0) < 1.0:
        return "cycle_mul < 1: cycles shrink toward a finite horizon (timm's log goes undefined)"
    return None
