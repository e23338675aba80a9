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


class _TimmStyle(CosineLRScheduler):
    """The cosine stand-in's machinery (warm-up, cycles, k-decay, the call the unit names)
    under another decay shape ``shape(x)``, x the position in the cycle, falling from 1 at
    x = 0 toward 0 at x = 1."""

    def shape(self, x: float) -> float:
        raise NotImplementedError

    def lr_at(self, t: float) -> list[float]:
        if t < self.warmup_t:
            return super().lr_at(t)
        i, t_cur, length = self._position(t - self.warmup_t if self.warmup_prefix else t)
        if i >= self.cycle_limit:
            return [self.lr_min for _ in self.base_lrs]
        scale = self.shape((t_cur / length) ** self.k_decay)
        return [
            self.lr_min + (b * self.cycle_decay**i - self.lr_min) * scale for b in self.base_lrs
        ]


class PolyLRScheduler(_TimmStyle):
    """timm's documented polynomial decay (1 - x)^power within SGDR's cycles."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, t_initial: int, power: float = 0.5, **kw: Any
    ):
        self.power = power
        super().__init__(optimizer, t_initial, **kw)

    def shape(self, x: float) -> float:
        return (1.0 - x) ** self.power


class PolyPowerOnPosition(PolyLRScheduler):
    """Broken: 1 - x^power instead of (1 - x)^power (equal only at power 1)."""

    def shape(self, x: float) -> float:
        return 1.0 - x**self.power


class TanhLRScheduler(_TimmStyle):
    """timm's documented tanh decay (1 - tanh(lb (1 - x) + ub x)) / 2 within SGDR's cycles;
    without warmup_prefix the warm-up rises to the curve's value at warmup_t. Unlike timm
    1.0.31 (a finding) it sets the curve's lr at construction, not the base lr."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        t_initial: int,
        lb: float = -7.0,
        ub: float = 3.0,
        **kw: Any,
    ):
        self.lb, self.ub = lb, ub
        super().__init__(optimizer, t_initial, **kw)
        self._set(self.lr_at(0))

    def shape(self, x: float) -> float:
        return 0.5 * (1.0 - math.tanh(self.lb * (1.0 - x) + self.ub * x))

    def lr_at(self, t: float) -> list[float]:
        if t < self.warmup_t and not self.warmup_prefix:
            tops = _TimmStyle.lr_at(self, self.warmup_t)
            return [
                self.warmup_lr_init + t * (top - self.warmup_lr_init) / self.warmup_t
                for top in tops
            ]
        return super().lr_at(t)


class TanhArgumentFromLb(TanhLRScheduler):
    """Broken: tanh(lb + ub x), the lower bound never left behind (lb + (ub - lb) x is
    the documented path)."""

    def shape(self, x: float) -> float:
        return 0.5 * (1.0 - math.tanh(self.lb + self.ub * x))


class _TimmDecayStyle(CosineLRScheduler):
    """Warm-up (a prefix by default) then ``decayed(u)``, u counted from the warm-up's end."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        decay_rate: float = 1.0,
        warmup_t: int = 0,
        warmup_lr_init: float = 0.0,
        warmup_prefix: bool = True,
        t_in_epochs: bool = True,
    ):
        super().__init__(
            optimizer,
            1,
            warmup_t=warmup_t,
            warmup_lr_init=warmup_lr_init,
            warmup_prefix=warmup_prefix,
            t_in_epochs=t_in_epochs,
        )
        self.decay_rate = decay_rate

    def decays(self, u: float) -> int:
        raise NotImplementedError

    def lr_at(self, t: float) -> list[float]:
        if t < self.warmup_t:
            return super().lr_at(t)
        u = t - self.warmup_t if self.warmup_prefix else t
        return [b * self.decay_rate ** self.decays(u) for b in self.base_lrs]


class StepLRScheduler(_TimmDecayStyle):
    """timm's documented step decay: decay_rate once per decay_t (a float) steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, decay_t: float, **kw: Any):
        self.decay_t = decay_t
        super().__init__(optimizer, **kw)

    def decays(self, u: float) -> int:
        return int(u // self.decay_t)


class StepDecaysOneEarly(StepLRScheduler):
    """Broken: each drop one step early, floor((u + 1) / decay_t)."""

    def decays(self, u: float) -> int:
        return int((u + 1) // self.decay_t)


class MultiStepLRScheduler(_TimmDecayStyle):
    """timm's documented milestones: one decay per milestone m reached by u + 1 (its
    docstring: compared against t + 1)."""

    def __init__(self, optimizer: torch.optim.Optimizer, decay_t: Any, **kw: Any):
        self.decay_t = sorted(decay_t)
        super().__init__(optimizer, **kw)

    def decays(self, u: float) -> int:
        return sum(m <= u + 1 for m in self.decay_t)


class MultiStepAtTorchsMilestones(MultiStepLRScheduler):
    """Broken: torch's MultiStepLR convention (a milestone m applies from u = m), one step
    late against timm's."""

    def decays(self, u: float) -> int:
        return sum(m <= u for m in self.decay_t)


class PlateauLRScheduler:
    """timm's documented plateau schedule, noise left out: torch's ReduceLROnPlateau under
    timm's keywords (mode 'max' by default), behind step(epoch, metric); for epoch <=
    warmup_t a linear warm-up from warmup_lr_init that ignores the metric."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        decay_rate: float = 0.1,
        patience_t: int = 10,
        threshold: float = 1e-4,
        cooldown_t: int = 0,
        warmup_t: int = 0,
        warmup_lr_init: float = 0.0,
        lr_min: Any = 0.0,
        mode: str = "max",
    ):
        self.optimizer, self.warmup_t, self.warmup_lr_init = optimizer, warmup_t, warmup_lr_init
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=mode,
            factor=decay_rate,
            patience=patience_t,
            threshold=threshold,
            cooldown=cooldown_t,
            min_lr=lr_min,
        )
        self.slopes = [(b - warmup_lr_init) / warmup_t for b in self.base_lrs] if warmup_t else []
        if warmup_t:
            self._start()

    def _start(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.warmup_lr_init

    def step(self, epoch: int, metric: Any = None) -> None:
        if epoch <= self.warmup_t:
            for group, slope in zip(self.optimizer.param_groups, self.slopes, strict=True):
                group["lr"] = self.warmup_lr_init + epoch * slope
        elif metric is not None:
            self.plateau.step(metric)


class PlateauWarmupStartsAtBase(PlateauLRScheduler):
    """Broken: the optimizer keeps its base lr until the first step(t), though the warm-up
    starts at warmup_lr_init."""

    def _start(self) -> None:
        pass


class PlateauFeedsWarmupMetrics(PlateauLRScheduler):
    """Broken: the metrics of the warm-up reach ReduceLROnPlateau too (its best and bad-epoch
    count start early; the warm-up's lr is set over any reduction)."""

    def step(self, epoch: int, metric: Any = None) -> None:
        if epoch <= self.warmup_t and metric is not None:
            self.plateau.step(metric)
        super().step(epoch, metric)
