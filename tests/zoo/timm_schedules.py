"""A cosine scheduler with timm's API (``step(epoch)``, ``step_update(num_updates)``,
``t_in_epochs``, its keywords), written here from timm's documented behaviour and SGDR /
k-decay (small stand-in for the default test run: timm 1.0.31 does not import here, see
README), and a broken copy. Not torch's LRScheduler: it is told the count, it does not count.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class CosineLRScheduler:
    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        t_initial: int,
        lr_min: float = 0.0,
        cycle_mul: float = 1.0,
        cycle_decay: float = 1.0,
        cycle_limit: int = 1,
        warmup_t: int = 0,
        warmup_lr_init: float = 0.0,
        warmup_prefix: bool = False,
        t_in_epochs: bool = True,
        k_decay: float = 1.0,
    ):
        self.optimizer = optimizer
        self.t_initial, self.lr_min, self.k_decay = t_initial, lr_min, k_decay
        self.cycle_mul, self.cycle_decay, self.cycle_limit = cycle_mul, cycle_decay, cycle_limit
        self.warmup_t, self.warmup_lr_init = warmup_t, warmup_lr_init
        self.warmup_prefix, self.t_in_epochs = warmup_prefix, t_in_epochs
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        if warmup_t:  # the warm-up starts at warmup_lr_init right away
            self._set([warmup_lr_init] * len(self.base_lrs))

    def _position(self, t: float) -> tuple[int, float, float]:
        # SGDR cycles: T_i = t_initial * cycle_mul**i, walked one restart at a time.
        i, start, length = 0, 0.0, float(self.t_initial)
        while start + length <= t:
            start, length, i = start + length, length * self.cycle_mul, i + 1
        return i, t - start, length

    def lr_at(self, t: float) -> list[float]:
        if t < self.warmup_t:
            return [
                self.warmup_lr_init + t * (b - self.warmup_lr_init) / self.warmup_t
                for b in self.base_lrs
            ]
        i, t_cur, length = self._position(t - self.warmup_t if self.warmup_prefix else t)
        if i >= self.cycle_limit:
            return [self.lr_min for _ in self.base_lrs]
        x = (t_cur / length) ** self.k_decay
        scale = 0.5 * (1.0 + math.cos(math.pi * x))
        return [
            self.lr_min + (b * self.cycle_decay**i - self.lr_min) * scale for b in self.base_lrs
        ]

    def _set(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr

    def step(self, epoch: int, metric: Any = None) -> None:
        if self.t_in_epochs:
            self._set(self.lr_at(epoch))

    def step_update(self, num_updates: int, metric: Any = None) -> None:
        if not self.t_in_epochs:
            self._set(self.lr_at(num_updates))

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class CosineDecayOneCycleLate(CosineLRScheduler):
    """Broken: the i-th cycle peaks at base * cycle_decay**(i + 1) from the second cycle on
    (an off-by-one in the restart count), so every restart comes back too low."""

    def lr_at(self, t: float) -> list[float]:
        lrs = super().lr_at(t)
        shifted = t - self.warmup_t if self.warmup_prefix else t
        i = self._position(shifted)[0] if t >= self.warmup_t else 0
        if 0 < i < self.cycle_limit:
            return [self.lr_min + (v - self.lr_min) * self.cycle_decay for v in lrs]
        return lrs
