"""Schedule-Free's other forms written the way a port is written, and broken copies: the
Closure forms (θ holds x; step(closure) evaluates the closure at y) and Schedule-Free RAdam
(Alg. 1 with RAdam's rectification, Liu et al. 2020 Alg. 2, in place of warm-up).

The ``Zoo*`` classes are *correct*: every check must pass on them. Unlike schedulefree's
classes they leave a parameter whose gradient is None where it was, with no state, and step a
complex parameter as its real view (tests/test_schedulefree_more.py reproduces both findings
by hand). Each mutant overrides one
method the way the slip is usually written.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim import Optimizer


class _Form(Optimizer):
    adam = True
    rectified = False
    holds_x = False

    def __init__(self, params: Any, **defaults: Any):
        super().__init__(
            params, {**defaults, "k": 0, "train_mode": False, "weight_sum": 0.0, "lr_max": -1.0}
        )

    def _beta(self, group: dict) -> float:
        return group["betas"][0] if self.adam else group["momentum"]

    # --- train()/eval() for the forms that hold y --------------------------------------------

    @torch.no_grad()
    def _switch(self, to_train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] != to_train:
                beta = self._beta(group)
                w = 1 - beta if to_train else 1 - 1 / beta
                for p in group["params"]:
                    if "z" in self.state[p]:
                        p.lerp_(self.state[p]["z"], w)
                group["train_mode"] = to_train

    # --- the pieces a port gets wrong ---------------------------------------------------------

    def _extrapolation(self, beta: float) -> float:
        """Weight of z in y = lerp(x, z, ·)."""
        return 1 - beta

    def _rho_threshold(self) -> float:
        return 4.0

    def _rectifier(self, rho_t: float, rho_inf: float) -> float:
        return math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )

    def _silent(self, group: dict) -> bool:
        return group["silent_sgd_phase"]

    def _weight_lr(self, lr: float, base: float) -> float:
        """The γ_t the averaging weights follow."""
        return lr

    def _lr(self, group: dict, k: int) -> tuple[float, bool]:
        """(γ_t, whether u is the Adam ratio)."""
        if not self.rectified:
            warmup = group["warmup_steps"]
            return group["lr"] * ((k + 1) / warmup if k < warmup else 1.0), self.adam
        b2, t = group["betas"][1], k + 1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > self._rho_threshold():
            return group["lr"] * self._rectifier(rho_t, rho_inf), True
        return group["lr"] * float(not self._silent(group)), False

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        saved: dict[int, torch.Tensor] = {}
        if self.holds_x:
            for group in self.param_groups:
                w = self._extrapolation(self._beta(group))
                for p in group["params"]:
                    saved[id(p)] = p.detach().clone()
                    if "z" in self.state[p]:
                        p.lerp_(self.state[p]["z"], w)
        elif not self.param_groups[0]["train_mode"]:
            raise RuntimeError("call optimizer.train() before step()")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            k, beta = group["k"], self._beta(group)
            lr, adam_phase = self._lr(group, k)
            group["lr_max"] = max(self._weight_lr(lr, group["lr"]), group["lr_max"])
            weight = (k + 1) ** group["r"] * group["lr_max"] ** group["weight_lr_power"]
            group["weight_sum"] += weight
            c = weight / group["weight_sum"] if group["weight_sum"] != 0 else 0.0
            for p in group["params"]:
                if p.grad is None:
                    if id(p) in saved:
                        p.copy_(saved[id(p)])  # back to x, bit for bit
                    continue
                state = self.state[p]
                if "z" not in state:
                    state["z"] = p.detach().clone()
                    if self.adam:
                        state["exp_avg_sq"] = torch.zeros_like(p)
                # a complex parameter steps as its real view, as torch's optimizers do
                real = torch.view_as_real if p.is_complex() else (lambda t: t)
                y, z = real(p), real(state["z"])
                u = -real(p.grad) if group.get("maximize", False) else real(p.grad).clone()
                if self.adam:
                    b2 = group["betas"][1]
                    v = real(state["exp_avg_sq"])
                    v.mul_(b2).addcmul_(u, u, value=1 - b2)
                    if adam_phase:
                        u = u / v.div(1 - b2 ** (k + 1)).sqrt_().add_(group["eps"])
                if group["weight_decay"] != 0:
                    u = u + group["weight_decay"] * y
                if self.holds_x:
                    y.lerp_(z, 1 - 1 / beta)
                    z.sub_(u, alpha=lr)
                    y.lerp_(z, c)
                else:
                    y.lerp_(z, c)
                    y.add_(u, alpha=lr * (beta * (1 - c) - 1))
                    z.sub_(u, alpha=lr)
            group["k"] = k + 1
        return loss


class _HoldsY(_Form):
    def eval(self) -> None:
        self._switch(False)

    def train(self) -> None:
        self._switch(True)


class ZooSGDScheduleFreeClosure(_Form):
    adam = False
    holds_x = True

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
    ):
        if not 0 < momentum < 1 or not lr > 0:
            raise ValueError("invalid hyper-parameter")
        super().__init__(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay,
            warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
        )  # fmt: skip

    def step(self, closure: Any) -> Any:  # a closure is required, as schedulefree's
        return super().step(closure)


class ZooAdamWScheduleFreeClosure(_Form):
    holds_x = True

    def __init__(
        self,
        params: Any,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
    ):
        if not 0 < betas[0] < 1 or not 0 <= betas[1] < 1 or not lr > 0:
            raise ValueError("invalid hyper-parameter")
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
        )  # fmt: skip

    def step(self, closure: Any) -> Any:
        return super().step(closure)


class _RAdam:
    rectified = True

    def __init__(
        self,
        params: Any,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        silent_sgd_phase: bool = True,
    ):
        if not 0 < betas[0] < 1 or not 0 <= betas[1] < 1 or not lr > 0:
            raise ValueError("invalid hyper-parameter")
        super().__init__(  # type: ignore[call-arg]
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, r=r,
            weight_lr_power=weight_lr_power, silent_sgd_phase=silent_sgd_phase,
        )  # fmt: skip


class ZooRAdamScheduleFree(_RAdam, _HoldsY):
    pass


class ZooRAdamScheduleFreeClosure(_RAdam, _Form):
    holds_x = True

    def step(self, closure: Any) -> Any:
        return super().step(closure)


# --- mutants ------------------------------------------------------------------------------------


class ClosureAtX(ZooSGDScheduleFreeClosure):
    """The closure called at x: no extrapolation to y (and none to undo: the update then
    starts from lerp(x, z, 1−1/β))."""

    def _extrapolation(self, beta: float) -> float:
        return 0.0


class AdamWClosureWeightBeta(ZooAdamWScheduleFreeClosure):
    """y = lerp(x, z, β): the interpolation weights swapped."""

    def _extrapolation(self, beta: float) -> float:
        return beta


class SilentPhaseSteps(ZooRAdamScheduleFree):
    """silent_sgd_phase ignored: SGD steps at γ while ρ_t ≤ 4."""

    def _silent(self, group: dict) -> bool:
        return False


class ThresholdFive(ZooRAdamScheduleFree):
    """torch's RAdam threshold ρ_t > 5 instead of Alg. 2's ρ_t > 4."""

    def _rho_threshold(self) -> float:
        return 5.0


class NoRectifier(ZooRAdamScheduleFree):
    """r_t left out: γ_t = γ from the first Adam step."""

    def _rectifier(self, rho_t: float, rho_inf: float) -> float:
        return 1.0


class UnrectifiedWeights(ZooRAdamScheduleFree):
    """The averaging weights from γ instead of γ_t = γ·r_t."""

    def _weight_lr(self, lr: float, base: float) -> float:
        return base if lr > 0 else lr


class ClosureRAdamNoRectifier(ZooRAdamScheduleFreeClosure):
    def _rectifier(self, rho_t: float, rho_inf: float) -> float:
        return 1.0
