"""Warm-up schedule factories with transformers' names and keywords, written here from the
formulas its documentation gives (small stand-ins for the default test run, which does not
install transformers), and a broken copy of each. Each returns torch's LambdaLR, as the
library's do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch.optim.lr_scheduler import LambdaLR


def _warm(step: int, w: int) -> float:
    return step / max(1, w)


def get_constant_schedule_with_warmup(
    optimizer: Any, num_warmup_steps: int, last_epoch: int = -1
) -> LambdaLR:
    def f(step: int) -> float:
        return _warm(step, num_warmup_steps) if step < num_warmup_steps else 1.0

    return LambdaLR(optimizer, f, last_epoch)


def get_linear_schedule_with_warmup(
    optimizer: Any, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        left = num_training_steps - step
        return max(0.0, left / max(1, num_training_steps - num_warmup_steps))

    return LambdaLR(optimizer, f, last_epoch)


def get_cosine_schedule_with_warmup(
    optimizer: Any,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> LambdaLR:
    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        done = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(2.0 * math.pi * num_cycles * done)))

    return LambdaLR(optimizer, f, last_epoch)


def get_cosine_with_hard_restarts_schedule_with_warmup(
    optimizer: Any,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: int = 1,
    last_epoch: int = -1,
) -> LambdaLR:
    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        done = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
        if done >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * done) % 1.0))))

    return LambdaLR(optimizer, f, last_epoch)


def get_polynomial_decay_schedule_with_warmup(
    optimizer: Any,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float = 1e-7,
    power: float = 1.0,
    last_epoch: int = -1,
) -> LambdaLR:
    lr_init = optimizer.defaults["lr"]

    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        if step > num_training_steps:
            return lr_end / lr_init
        left = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
        return ((lr_init - lr_end) * left**power + lr_end) / lr_init

    return LambdaLR(optimizer, f, last_epoch)


def get_inverse_sqrt_schedule(
    optimizer: Any, num_warmup_steps: int, timescale: int | None = None, last_epoch: int = -1
) -> LambdaLR:
    scale = timescale if timescale is not None else (num_warmup_steps or 10_000)

    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        return 1.0 / math.sqrt((step + scale - num_warmup_steps) / scale)

    return LambdaLR(optimizer, f, last_epoch)


def _wsd(forget_floor: bool) -> Callable[..., LambdaLR]:
    """get_wsd_schedule, or (``forget_floor``) its broken copy that ends at 0 instead of
    min_lr_ratio after the decay."""

    def get_wsd_schedule(
        optimizer: Any,
        num_warmup_steps: int,
        num_decay_steps: int,
        num_training_steps: int | None = None,
        num_stable_steps: int | None = None,
        warmup_type: str = "linear",
        decay_type: str = "cosine",
        min_lr_ratio: float = 0.0,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
    ) -> LambdaLR:
        """Warm-up from min_lr_ratio to 1, stable at 1, decay to min_lr_ratio, then flat."""
        if num_stable_steps is None:
            num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
        rises = {
            "linear": lambda x: x,
            "cosine": lambda x: (1.0 - math.cos(math.pi * x)) / 2.0,
            "1-sqrt": lambda x: 1.0 - math.sqrt(1.0 - x),
        }
        falls = {
            "linear": lambda x: 1.0 - x,
            "cosine": lambda x: (1.0 + math.cos(2.0 * math.pi * num_cycles * x)) / 2.0,
            "1-sqrt": lambda x: 1.0 - math.sqrt(x),
        }
        decay_from = num_warmup_steps + num_stable_steps
        after = 0.0 if forget_floor else min_lr_ratio

        def between(shape: float) -> float:
            return max(0.0, min_lr_ratio + (1.0 - min_lr_ratio) * shape)

        def f(step: int) -> float:
            if step < num_warmup_steps:
                return between(rises[warmup_type](step / max(1, num_warmup_steps)))
            if step < decay_from:
                return 1.0
            if step < decay_from + num_decay_steps:
                done = (step - decay_from) / max(1, num_decay_steps)
                return between(falls[decay_type](done))
            return after

        return LambdaLR(optimizer, f, last_epoch)

    return get_wsd_schedule


get_wsd_schedule = _wsd(forget_floor=False)


# --- broken copies (one slip each, the kind a port makes) --------------------------------------


def constant_warmup_one_ahead(
    optimizer: Any, num_warmup_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Warm-up (step + 1) / w: never starts at 0, reaches the top a step early."""
    return LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, num_warmup_steps)), last_epoch)


def linear_decays_past_the_end(
    optimizer: Any, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Decay without the floor at 0: negative lrs after num_training_steps."""

    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        return (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps)

    return LambdaLR(optimizer, f, last_epoch)


def cosine_full_cycle_default(
    optimizer: Any,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> LambdaLR:
    """Reads num_cycles as whole cycles (cos(pi num_cycles progress)): half the frequency."""

    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        done = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * done)))

    return LambdaLR(optimizer, f, last_epoch)


def hard_restarts_never_restart(
    optimizer: Any,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: int = 1,
    last_epoch: int = -1,
) -> LambdaLR:
    """One cosine over the whole run whatever num_cycles says."""
    return get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps, num_training_steps, 0.5, last_epoch
    )


def polynomial_ignores_lr_end(
    optimizer: Any,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float = 1e-7,
    power: float = 1.0,
    last_epoch: int = -1,
) -> LambdaLR:
    """Decays to 0 instead of lr_end."""
    return get_polynomial_decay_schedule_with_warmup(
        optimizer, num_warmup_steps, num_training_steps, 0.0, power, last_epoch
    )


def inverse_sqrt_unshifted(
    optimizer: Any, num_warmup_steps: int, timescale: int | None = None, last_epoch: int = -1
) -> LambdaLR:
    """1/sqrt(step/timescale) after the warm-up, not shifted by it: a jump at t = w."""
    scale = timescale if timescale is not None else (num_warmup_steps or 10_000)

    def f(step: int) -> float:
        if step < num_warmup_steps:
            return _warm(step, num_warmup_steps)
        return 1.0 / math.sqrt(max(step, 1) / scale)

    return LambdaLR(optimizer, f, last_epoch)


wsd_ends_at_zero = _wsd(forget_floor=True)
