"""Warm-up schedule factories as float64 closed forms, under the factories' own keyword names.

Libraries such as transformers (``transformers.optimization``) ship schedules as functions
``get_..._schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, ...)`` that
return torch's LambdaLR: lr_t = base_lr * lambda(t). The forms here follow the formulas those
functions document; ``t`` is the scheduler's epoch (torch's last_epoch), ``base_lr`` the
optimizer's lr. Every warm-up is linear from 0: lambda(t) = t / max(1, w) for t < w, so the lr
at t = 0 is 0 (an optimizer step at lr 0 is a valid, if idle, step).

Signatures follow reference/schedules.py: ``f(t, base_lr, /, **params)``, t scalar or array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from optcheck.reference.schedules import LR, TLike, _cos_half, _out, _pow


def _warm(t: np.ndarray, w: int) -> np.ndarray:
    return t / max(1, w)


def _progress(t: np.ndarray, w: int, total: int) -> np.ndarray:
    """(t - w) / max(1, total - w): the fraction of the post-warm-up phase done."""
    return (t - w) / max(1, total - w)


def constant_with_warmup(t: TLike, base_lr: float, /, num_warmup_steps: int = 10) -> LR:
    t = np.asarray(t)
    f = np.where(t < num_warmup_steps, _warm(t, num_warmup_steps), 1.0)
    return _out(base_lr * f, t)


def linear_with_warmup(
    t: TLike, base_lr: float, /, num_warmup_steps: int = 10, num_training_steps: int = 100
) -> LR:
    # Linear warm-up, then linear decay to 0 at num_training_steps, 0 after.
    t = np.asarray(t)
    w, n = num_warmup_steps, num_training_steps
    decay = np.maximum(0.0, (n - t) / max(1, n - w))
    return _out(base_lr * np.where(t < w, _warm(t, w), decay), t)


def cosine_with_warmup(
    t: TLike,
    base_lr: float,
    /,
    num_warmup_steps: int = 10,
    num_training_steps: int = 100,
    num_cycles: float = 0.5,
) -> LR:
    # Linear warm-up, then (1 + cos(2 pi num_cycles progress)) / 2, floored at 0; with the
    # default half cycle, cosine annealing to 0 at num_training_steps (SGDR eq. (5)).
    t = np.asarray(t)
    w = num_warmup_steps
    x = 2.0 * num_cycles * _progress(t, w, num_training_steps)
    decay = np.maximum(0.0, _cos_half(x, 1.0))
    return _out(base_lr * np.where(t < w, _warm(t, w), decay), t)


def cosine_with_hard_restarts(
    t: TLike,
    base_lr: float,
    /,
    num_warmup_steps: int = 10,
    num_training_steps: int = 100,
    num_cycles: int = 1,
) -> LR:
    # Linear warm-up, then num_cycles cosine decays to 0, each restarting at base_lr; 0 from
    # num_training_steps on. The cycle position is formed in integers (num_cycles (t - w)
    # mod (total - w)), so a restart lands exactly where it is due.
    t = np.asarray(t)
    w, span = num_warmup_steps, max(1, num_training_steps - num_warmup_steps)
    done = t - w
    phase = np.mod(num_cycles * done, span)
    decay = np.where(done >= span, 0.0, _cos_half(phase, span))
    return _out(base_lr * np.where(t < w, _warm(t, w), decay), t)


def polynomial_decay_with_warmup(
    t: TLike,
    base_lr: float,
    /,
    num_warmup_steps: int = 10,
    num_training_steps: int = 100,
    lr_end: float = 1e-7,
    power: float = 1.0,
) -> LR:
    # Linear warm-up, then (base - lr_end)(1 - progress)^power + lr_end, lr_end after.
    t = np.asarray(t)
    w, n = num_warmup_steps, num_training_steps
    left = np.clip(1.0 - (t - w) / max(1, n - w), 0.0, 1.0)
    decay = (base_lr - lr_end) * _pow(left, power) + lr_end
    out = np.where(t < w, base_lr * _warm(t, w), np.where(t > n, lr_end, decay))
    return _out(out, t)


def inverse_sqrt_with_warmup(
    t: TLike, base_lr: float, /, num_warmup_steps: int = 10, timescale: int | None = None
) -> LR:
    # Linear warm-up, then 1 / sqrt((t - w + s) / s), s = timescale (default w, or 10,000
    # without warm-up): Vaswani et al. 2017 sec. 5.3's decay, continuous at t = w.
    t = np.asarray(t)
    w = num_warmup_steps
    s = timescale if timescale is not None else (w or 10_000)
    decay = 1.0 / np.sqrt((t - w + s) / s)
    return _out(base_lr * np.where(t < w, _warm(t, w), decay), t)


def warmup_stable_decay(
    t: TLike,
    base_lr: float,
    /,
    num_warmup_steps: int = 10,
    num_decay_steps: int = 20,
    num_training_steps: int | None = None,
    num_stable_steps: int | None = 50,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0.0,
    num_cycles: float = 0.5,
) -> LR:
    # Warm-up from r = min_lr_ratio to 1 over w steps, 1 for s steps, decay to r over d steps,
    # r after; each ramp's shape f(p), p in [0, 1), enters as r + (1 - r) f(p), floored at 0.
    # Without num_stable_steps the stable phase is what num_training_steps leaves.
    t = np.asarray(t, dtype=np.float64)
    w, d, r = num_warmup_steps, num_decay_steps, min_lr_ratio
    s = num_stable_steps if num_stable_steps is not None else num_training_steps - w - d
    up = t / max(1, w)
    rise = {
        "linear": lambda: up,
        "cosine": lambda: _cos_half(t + max(1, w), max(1, w)),  # (1 - cos(pi p)) / 2
        "1-sqrt": lambda: 1.0 - np.sqrt(np.maximum(0.0, 1.0 - up)),
    }[warmup_type]()
    done = t - w - s
    down = done / max(1, d)
    fall = {
        "linear": lambda: 1.0 - down,
        # (1 + cos(2 pi num_cycles p)) / 2: a half cosine to r with the default half cycle.
        "cosine": lambda: _cos_half(2.0 * num_cycles * done, max(1, d)),
        "1-sqrt": lambda: 1.0 - np.sqrt(np.maximum(0.0, down)),
    }[decay_type]()
    rise, fall = (np.maximum(0.0, r + (1.0 - r) * f) for f in (rise, fall))
    f = np.where(t < w, rise, np.where(t < w + s, 1.0, np.where(done < d, fall, r)))
    return _out(base_lr * f, t)


def constraint_warmup_stable_decay(p: Mapping[str, Any]) -> str | None:
    if p.get("num_stable_steps", 50) is None:
        total = p.get("num_training_steps")
        if total is None:
            return "num_training_steps or num_stable_steps must be given"
        if total < p.get("num_warmup_steps", 10) + p.get("num_decay_steps", 20):
            return "num_training_steps must be >= num_warmup_steps + num_decay_steps"
    elif p.get("num_stable_steps", 50) < 0:
        return "num_stable_steps must be >= 0"
    if p.get("num_decay_steps", 20) < 0:
        return "num_decay_steps must be >= 0"
    if p.get("warmup_type", "linear") not in WSD_SHAPES:
        return f"warmup_type must be one of {WSD_SHAPES}"
    if p.get("decay_type", "cosine") not in WSD_SHAPES:
        return f"decay_type must be one of {WSD_SHAPES}"
    if not 0.0 <= p.get("min_lr_ratio", 0.0) <= 1.0:
        return "min_lr_ratio must be in [0, 1]"
    return constraint_warmup({k: v for k, v in p.items() if k != "num_training_steps"})


WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def constraint_warmup(p: Mapping[str, Any]) -> str | None:
    w = p.get("num_warmup_steps", 10)
    if w < 0:
        return "num_warmup_steps must be >= 0"
    n = p.get("num_training_steps")
    if n is not None and n < w:
        return "num_training_steps must be >= num_warmup_steps"
    if p.get("timescale") is not None and p["timescale"] < 1:
        return "timescale must be >= 1"
    if p.get("power", 1.0) < 0 or p.get("lr_end", 0.0) < 0:
        return "power and lr_end must be >= 0"
    return None if p.get("num_cycles", 1) >= 0 else "num_cycles must be >= 0"


def constraint_polynomial_decay(p: Mapping[str, Any]) -> str | None:
    if p.get("num_training_steps", 100) == p.get("num_warmup_steps", 10):
        # The limit is clear (lr_end from t = w on), but transformers 5.23.0 divides by
        # num_training_steps - num_warmup_steps and raises ZeroDivisionError at t = w.
        return "num_training_steps must exceed num_warmup_steps (no decay phase)"
    return constraint_warmup(p)
