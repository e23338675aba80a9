"""Deliberately broken learning-rate schedulers, the kind a third party might write.

Each takes torch's constructor names, so it can be validated ``--like <TorchClass>``; each
docstring says the slip and which check must catch it. Most are written the common
third-party way, ``lr = base * f(last_epoch)`` recomputed every step (``_ClosedForm``).
At the end: optimizers that mishandle the lr a scheduler writes (for the interplay checks).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import (
    ChainedScheduler,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)


class _ClosedForm(LRScheduler):
    """lr_t = lr_at(t, base) recomputed from last_epoch (subclasses set attributes first)."""

    def lr_at(self, t: int, base: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [self.lr_at(self.last_epoch, float(b)) for b in self.base_lrs]


class _Cosine(_ClosedForm):
    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


# --- step schedules ---------------------------------------------------------------------------


class StepLROffByOne(_ClosedForm):
    """Drops one epoch late (floor((t - 1) / step_size)): step_drops."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        return base * self.gamma ** (max(t - 1, 0) // self.step_size)


class StepLRGammaOff(_ClosedForm):
    """gamma off by 0.1 % (a rounded constant): step_drops, crossval."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = step_size, gamma * 1.001
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        return base * self.gamma ** (t // self.step_size)


class MultiStepIgnoresRepeats(_ClosedForm):
    """Milestones as a set: a repeated milestone drops once, not gamma^k: step_drops."""

    def __init__(self, optimizer: Any, milestones: Any, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones, self.gamma = sorted(set(milestones)), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        return base * self.gamma ** sum(m <= t for m in self.milestones)


class MultiStepAssumesSorted(_ClosedForm):
    """Bisects the milestones as given, which is right only when they are sorted (torch
    takes any order): step_drops."""

    def __init__(self, optimizer: Any, milestones: Any, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones, self.gamma = list(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        return base * self.gamma ** bisect.bisect_right(self.milestones, t)


class StepLRFirstGroupOnly(_ClosedForm):
    """Every param group follows the first group's lr (one schedule for the optimizer):
    crossval.schedule_groups only; one group cannot tell."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        first = float(self.base_lrs[0]) * self.gamma ** (self.last_epoch // self.step_size)
        return [first for _ in self.base_lrs]


class ExponentialLRGammaOff(_ClosedForm):
    """gamma off by 0.1 %: crossval; with gamma = 1 it rises (monotone_nonincreasing)."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1):
        self.gamma = gamma * 1.001
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        return base * self.gamma**t


class ExponentialLRViaLog(_ClosedForm):
    """gamma^t as exp(t log gamma): at gamma = 0 (a valid drop to 0 after the first step)
    log is -inf and t = 0 gives 0 * -inf = NaN; every other gamma is right:
    crossval.schedule, at gamma 0 only."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(base * np.exp(t * np.log(self.gamma)))


# --- cosine, restarts -------------------------------------------------------------------------


class CosineWrongPeriod(_Cosine):
    """Divides by T_max + 1 (cosine with the wrong period): cosine_landmarks, periodic."""

    def lr_at(self, t: int, base: float) -> float:
        arg = math.pi * t / (self.T_max + 1)
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(arg)) / 2


class CosineIgnoresEtaMin(_Cosine):
    """Anneals to 0 whatever eta_min says: cosine_landmarks, bounded."""

    def lr_at(self, t: int, base: float) -> float:
        return base * (1 + math.cos(math.pi * t / self.T_max)) / 2


class CosineGapRatio(_Cosine):
    """Anneals the fraction of the gap left, (lr_cos - eta_min) / (base - eta_min), then scales
    it back: right for every eta_min but base, where 0 / 0 is NaN: crossval.schedule at
    eta_min = base only."""

    def lr_at(self, t: int, base: float) -> float:
        half = (1 + math.cos(math.pi * t / self.T_max)) / 2
        gap = np.float64(base - self.eta_min)
        with np.errstate(invalid="ignore"):
            left = (self.eta_min + gap * half - self.eta_min) / gap
        return float(self.eta_min + gap * left)


class _Restarts(_ClosedForm):
    def __init__(
        self,
        optimizer: Any,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ):
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def cosine(self, t_cur: float, t_i: float, base: float) -> float:
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


class RestartNeverResets(_Restarts):
    """Forgets to reset T_cur: a plain cosine of period 2 T_0: restart_points, periodic."""

    def lr_at(self, t: int, base: float) -> float:
        return self.cosine(t, self.T_0, base)


class RestartOffByOne(_Restarts):
    """Restarts after T_cur reaches T_i (T_cur runs 0..T_i), one epoch late: restart_points."""

    def lr_at(self, t: int, base: float) -> float:
        t_i, start = self.T_0, 0
        while t - start > t_i:
            start, t_i = start + t_i + 1, t_i * self.T_mult
        return self.cosine(t - start, t_i, base)


# --- warmup, polynomial -----------------------------------------------------------------------


class RestartsFloorEpoch(CosineAnnealingWarmRestarts):
    """step(epoch) truncates a fractional epoch to whole epochs (right at integers):
    crossval.schedule_epochs only."""

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        super().step(None if epoch is None else math.floor(epoch))


class _Linear(_ClosedForm):
    def __init__(
        self,
        optimizer: Any,
        start_factor: float = 1 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)


class WarmupFromZero(_Linear):
    """Ramps from 0 instead of start_factor (warmup starting at the wrong factor): bounded."""

    def lr_at(self, t: int, base: float) -> float:
        frac = min(t, self.total_iters) / max(self.total_iters, 1)
        return base * self.end_factor * frac


class WarmupModulo(_Linear):
    """Position t % total_iters: the ramp starts over after the warmup: nondecreasing_warmup."""

    def lr_at(self, t: int, base: float) -> float:
        frac = (t % self.total_iters) / self.total_iters if self.total_iters else 1.0
        return base * (self.start_factor + (self.end_factor - self.start_factor) * frac)


class _Poly(_ClosedForm):
    def __init__(
        self, optimizer: Any, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def left(self, t: int) -> float:
        return 1.0 - t / self.total_iters if self.total_iters else 0.0


class PolynomialAbs(_Poly):
    """|1 - t/T|^power (abs() to dodge a complex power): rises again past T:
    monotone_nonincreasing."""

    def lr_at(self, t: int, base: float) -> float:
        return base * abs(self.left(t)) ** self.power


class PolynomialSigned(_Poly):
    """sign(1 - t/T) |1 - t/T|^power, no clamp at T: goes negative: nonnegative."""

    def lr_at(self, t: int, base: float) -> float:
        x = self.left(t)
        return base * math.copysign(abs(x) ** self.power, x)


# --- one-cycle, cyclic ------------------------------------------------------------------------


class OneCycleLatePeak(OneCycleLR):
    """Peaks at pct_start * total_steps instead of that - 1 (phase end off by one):
    one_cycle_landmarks."""

    def __init__(self, optimizer: Any, *args: Any, **kwargs: Any):
        super().__init__(optimizer, *args, **kwargs)
        self._schedule_phases[0]["end_step"] += 1
        if len(self._schedule_phases) == 3:
            self._schedule_phases[1]["end_step"] += 1


class OneCycleFirstMaxLR(OneCycleLR):
    """Takes a per-group max_lr list but cycles every group to its first entry:
    crossval.schedule_groups, only where the list form is drawn."""

    def __init__(self, optimizer: Any, max_lr: Any, *args: Any, **kwargs: Any):
        first = max_lr[0] if isinstance(max_lr, (list, tuple)) else max_lr
        super().__init__(optimizer, first, *args, **kwargs)


class CyclicFirstBounds(CyclicLR):
    """Takes per-group base_lr / max_lr lists but cycles every group between their first
    entries: crossval.schedule_groups, only where the list form is drawn."""

    def __init__(self, optimizer: Any, base_lr: Any, max_lr: Any, *args: Any, **kwargs: Any):
        def first(x: Any) -> Any:
            return x[0] if isinstance(x, (list, tuple)) else x

        super().__init__(optimizer, first(base_lr), first(max_lr), *args, **kwargs)


class OneCycleNoDivFactor(OneCycleLR):
    """Starts at max_lr (div_factor dropped from initial_lr): one_cycle_landmarks."""

    def __init__(self, optimizer: Any, *args: Any, **kwargs: Any):
        super().__init__(optimizer, *args, **kwargs)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = group["max_lr"]
            group["lr"] = group["max_lr"]
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class CyclicPeriodOff(_ClosedForm):
    """Triangular cycle whose down phase is one step too long (period off by one): periodic."""

    def __init__(
        self,
        optimizer: Any,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        last_epoch: int = -1,
        **_: Any,
    ):
        self.lo, self.hi = base_lr, max_lr
        self.up = step_size_up
        self.down = (step_size_down if step_size_down is not None else step_size_up) + 1
        for group in optimizer.param_groups:
            group["lr"] = base_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base: float) -> float:
        pos = t % (self.up + self.down)
        tri = pos / self.up if pos <= self.up else 1 - (pos - self.up) / self.down
        return self.lo + (self.hi - self.lo) * tri


# --- regions of torch's accepted space that the invariants leave out (accepted=, epochs) -------


class CosineAnnealsDown(_Cosine):
    """Assumes eta_min <= base (anneals from the larger to the smaller): right wherever it
    is, wrong once eta_min lies above the base lr (torch's cosine rises to it):
    crossval.schedule, only where ``accepted`` draws eta_min above base."""

    def lr_at(self, t: int, base: float) -> float:
        hi, lo = max(base, self.eta_min), min(base, self.eta_min)
        return lo + (hi - lo) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class ExponentialLRCapsGamma(_ClosedForm):
    """Caps gamma at 1 ("a decay never grows"): right for every gamma <= 1 the invariants
    draw; crossval.schedule with torch's gamma > 1 only."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: float, base: float) -> float:
        return base * min(self.gamma, 1.0) ** t


class StepLRRoundsEpoch(StepLR):
    """step(epoch) rounds a fractional epoch to the nearest whole one (right at integers):
    crossval.schedule_epochs only, which StepLR did not draw before."""

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        super().step(None if epoch is None else round(epoch))


class OneCycleCapsStart(OneCycleLR):
    """Clips the start lr max_lr / div_factor to max_lr: right for div_factor >= 1, wrong for
    torch's accepted div_factor < 1: crossval.schedule, only where ``accepted`` draws it."""

    def __init__(self, optimizer: Any, max_lr: Any, *args: Any, **kwargs: Any):
        div = kwargs.pop("div_factor", 25.0)
        super().__init__(optimizer, max_lr, *args, div_factor=max(div, 1.0), **kwargs)


class CyclicWholeStepSizes(CyclicLR):
    """Truncates fractional step sizes to whole steps (torch takes them as floats):
    crossval.schedule, only where ``accepted`` draws a fraction."""

    def __init__(self, optimizer: Any, base_lr: Any, max_lr: Any, *args: Any, **kwargs: Any):
        for key in ("step_size_up", "step_size_down"):
            if kwargs.get(key) is not None:
                kwargs[key] = max(int(kwargs[key]), 1 if key == "step_size_up" else 0)
        super().__init__(optimizer, base_lr, max_lr, *args, **kwargs)


class OneCycleMomentumOnly(OneCycleLR):
    """Cycles group['momentum'] whatever the optimizer: under Adam betas[0] stays at its
    t = 0 value: crossval.schedule_groups, only where it draws Adam (betas)."""

    def get_lr(self) -> list[float]:  # type: ignore[override]
        self.use_beta1 = False
        return super().get_lr()


class LambdaCapsAtOne(LambdaLR):
    """Clips lr_lambda(t) to at most 1 ("a schedule never exceeds the base lr"): right for
    every decaying lambda, wrong for a warm-up above the base (torch takes any factor):
    crossval.schedule, only where the space draws lambda_warmup_to_4x."""

    def get_lr(self) -> list[float]:  # type: ignore[override]
        pairs = zip(self.lr_lambdas, self.base_lrs, strict=True)
        return [base * min(1.0, fn(self.last_epoch)) for fn, base in pairs]


class SequentialNeedsAMilestone(SequentialLR):
    """Reads the first milestone on every step (a two-phase "past the warm-up?" port):
    torch takes one child and no milestones, where this raises IndexError at the first
    step: crossval.schedule, only where the drawn composites include a lone child."""

    def step(self) -> None:  # type: ignore[override]
        if self.last_epoch + 1 >= self._milestones[0]:
            pass  # the port's phase switch went here
        super().step()


class ChainedSkipsMultiplicative(ChainedScheduler):
    """Steps only the children with a closed form (_get_closed_form_lr), taking the others
    for non-chainable: MultiplicativeLR never moves: crossval.schedule, only where the drawn
    chains include one (the fixed cases have none)."""

    def step(self) -> None:  # type: ignore[override]
        for child in self._schedulers:
            if hasattr(child, "_get_closed_form_lr"):
                child.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


def _composite(cls: type) -> Any:
    """``factory(optimizer, schedulers, ...)`` building ``cls`` over children given as
    (name, params) pairs, as the composite records draw them."""
    from optcheck.checks.kit.schedules import torch_schedule_factory

    def kids(optimizer: Any, schedulers: Any) -> list[Any]:
        return [torch_schedule_factory(n)(optimizer, **dict(p)) for n, p in schedulers]

    if cls is ChainedScheduler or issubclass(cls, ChainedScheduler):

        def chained(optimizer: Any, schedulers: Any) -> Any:
            return cls(kids(optimizer, schedulers), optimizer=optimizer)

        return chained

    def sequential(optimizer: Any, schedulers: Any, milestones: Any, last_epoch: int = -1) -> Any:
        return cls(optimizer, kids(optimizer, schedulers), list(milestones), last_epoch)

    return sequential


sequential_needs_a_milestone = _composite(SequentialNeedsAMilestone)
chained_skips_multiplicative = _composite(ChainedSkipsMultiplicative)


# --- warmup + cosine composites ---------------------------------------------------------------


def _warmup_cosine(
    optimizer: Any,
    start_factor: float,
    warmup_steps: int,
    T_max: int,
    eta_min: float,
    ramp: int,
    switch: int,
) -> SequentialLR:
    warm = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=ramp)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=T_max, eta_min=eta_min)
    return SequentialLR(optimizer, [warm, cos], milestones=[switch])


def warmup_cosine_late_switch(
    optimizer: Any,
    start_factor: float = 0.1,
    warmup_steps: int = 100,
    T_max: int = 900,
    eta_min: float = 0.0,
) -> SequentialLR:
    """Milestone one step after the warmup ends (the cosine starts late):
    sequential_continuity."""
    return _warmup_cosine(
        optimizer, start_factor, warmup_steps, T_max, eta_min, warmup_steps, warmup_steps + 1
    )


def warmup_cosine_short_ramp(
    optimizer: Any,
    start_factor: float = 0.1,
    warmup_steps: int = 100,
    T_max: int = 900,
    eta_min: float = 0.0,
) -> SequentialLR:
    """The ramp ends a step before the milestone (total_iters = warmup - 1):
    sequential_continuity."""
    return _warmup_cosine(
        optimizer,
        start_factor,
        warmup_steps,
        T_max,
        eta_min,
        max(warmup_steps - 1, 0),
        warmup_steps,
    )


# --- SWA -------------------------------------------------------------------------------------


class _SWA(_ClosedForm):
    """SWALR's constructor; lr_t = swa + (base - swa)(1 - alpha) with alpha from ``fraction``."""

    def __init__(
        self,
        optimizer: Any,
        swa_lr: float,
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ):
        self.swa_lr, self.anneal_epochs, self.strategy = swa_lr, anneal_epochs, anneal_strategy
        super().__init__(optimizer, last_epoch)

    def fraction(self, t: int) -> float:
        return min(1.0, t / max(1, self.anneal_epochs))

    def lr_at(self, t: int, base: float) -> float:
        x = self.fraction(t)
        alpha = x if self.strategy == "linear" else (1 - math.cos(math.pi * x)) / 2
        return self.swa_lr * alpha + base * (1 - alpha)


class SWALRLateArrival(_SWA):
    """Anneals over anneal_epochs + 1 epochs, reaching swa_lr one step late: swa_anneal."""

    def fraction(self, t: int) -> float:
        return min(1.0, t / (self.anneal_epochs + 1))


class SWALRFromZero(_SWA):
    """Anneals up from 0 instead of from the optimizer's lr (alpha * swa_lr): bounded."""

    def lr_at(self, t: int, base: float) -> float:
        return super().lr_at(t, 0.0)


class SWALRLinearAlways(_SWA):
    """Ignores anneal_strategy and anneals linearly: crossval (the halfway point agrees)."""

    def lr_at(self, t: int, base: float) -> float:
        x = self.fraction(t)
        return self.swa_lr * x + base * (1 - x)


# --- metric-driven ---------------------------------------------------------------------------


class PlateauRestoresLr(ReduceLROnPlateau):
    """Puts the lr back to the starting one on an improvement: monotone_floor."""

    def step(self, metrics: Any, epoch: Any = None) -> None:  # type: ignore[override]
        improved = self._is_better(float(metrics), self.best)
        super().step(metrics, epoch)
        if improved:
            for group, lr in zip(self.optimizer.param_groups, self.first_lrs, strict=True):
                group["lr"] = lr

    def __init__(self, optimizer: Any, **kw: Any):
        super().__init__(optimizer, **kw)
        self.first_lrs = [g["lr"] for g in optimizer.param_groups]


class PlateauNoFloor(ReduceLROnPlateau):
    """Multiplies by factor whatever min_lr says: monotone_floor, reduction_size."""

    def _reduce_lr(self, epoch: Any) -> None:
        for group in self.optimizer.param_groups:
            old = float(group["lr"])
            if old - old * self.factor > self.eps:
                group["lr"] = old * self.factor


class PlateauImpatient(ReduceLROnPlateau):
    """Reduces after patience bad epochs, not patience + 1 (>= for >): patience_cooldown."""

    def __init__(self, optimizer: Any, patience: int = 10, **kw: Any):
        super().__init__(optimizer, patience=patience, **kw)
        self.patience = patience - 1


class PlateauNoCooldown(ReduceLROnPlateau):
    """Ignores cooldown: patience_cooldown."""

    def __init__(self, optimizer: Any, cooldown: int = 0, **kw: Any):
        super().__init__(optimizer, cooldown=cooldown, **kw)
        self.cooldown = 0


class PlateauNoEps(ReduceLROnPlateau):
    """Applies reductions of eps or less too: reduction_size."""

    def __init__(self, optimizer: Any, eps: float = 1e-8, **kw: Any):
        super().__init__(optimizer, eps=eps, **kw)
        self.eps = 0.0


class PlateauAbsAsRel(ReduceLROnPlateau):
    """Takes threshold_mode='abs' as 'rel': crossval.plateau."""

    def __init__(self, optimizer: Any, threshold_mode: str = "rel", **kw: Any):
        super().__init__(optimizer, threshold_mode="rel", **kw)


class PlateauForgetsBest(ReduceLROnPlateau):
    """Leaves best and the counters out of its state_dict: resume."""

    def state_dict(self) -> dict[str, Any]:
        skip = ("best", "num_bad_epochs", "cooldown_counter")
        return {k: v for k, v in super().state_dict().items() if k not in skip}


# --- resume -----------------------------------------------------------------------------------


class CosineForgetfulStateDict(_Cosine):
    """Keeps its own position in ``self.t`` but saves only last_epoch: contract.schedule_resume
    (a resumed run starts the cosine over)."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.t = -1
        super().__init__(optimizer, T_max, eta_min, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        self.t += 1
        return [self.lr_at(self.t, float(b)) for b in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch}


class CosineIgnoresLastEpoch(CosineForgetfulStateDict):
    """Saves its position, but its constructor starts at 0 whatever last_epoch says:
    contract.schedule_last_epoch."""

    def state_dict(self) -> dict[str, Any]:
        return LRScheduler.state_dict(self)


# --- interplay: schedulers --------------------------------------------------------------------


class CosineHookedScale(_Cosine):
    """Publishes the right lr in group['lr'] but halves it inside an optimizer step hook (an
    "accumulation fix" done in the wrong place): interplay.schedule_applied_lr."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        optimizer.register_step_pre_hook(self._halve)
        optimizer.register_step_post_hook(self._restore)
        super().__init__(optimizer, T_max, eta_min, last_epoch)

    @staticmethod
    def _halve(opt: Any, *_: Any) -> None:
        for group in opt.param_groups:
            group["lr"] = group["lr"] / 2

    @staticmethod
    def _restore(opt: Any, *_: Any) -> None:
        for group in opt.param_groups:
            group["lr"] = group["lr"] * 2


class CosinePreStep(_Cosine):
    """Written for the pre-1.1 order (scheduler.step() before optimizer.step()): it sets the
    lr of the coming epoch, one ahead under the documented order:
    interplay.schedule_applied_lr (and crossval)."""

    def lr_at(self, t: int, base: float) -> float:
        return super().lr_at(t + 1, base)


# --- interplay: optimizers --------------------------------------------------------------------


class SGDCachedLr(torch.optim.SGD):
    """Reads the constructor's lr (self.defaults) instead of group['lr']: both interplay
    optimizer checks."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.defaults["lr"])
        return None


class SGDFirstStepLr(torch.optim.SGD):
    """Stores group['lr'] in the state at the first step and keeps using it."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state.setdefault("lr", torch.tensor(float(group["lr"])))
                p.add_(p.grad, alpha=-float(state["lr"]))
        return None


class SGDLaggingLr(torch.optim.SGD):
    """Applies the lr of the previous step (updated after the step, as ASGD does with eta)."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                lr = float(state.get("lr", group["lr"]))
                p.add_(p.grad, alpha=-lr)
                state["lr"] = torch.tensor(float(group["lr"]))
        return None


class SGDScaledLr(torch.optim.SGD):
    """Applies 1.001 * group['lr'] (an lr off by 0.1 %): interplay.optimizer_lr_reference
    only; the update still responds to group['lr'] at once."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-1.001 * float(group["lr"]))
        return None
