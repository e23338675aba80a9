"""Schedule-Free AdamW and SGD written the way a port is written (the authors' arrangement: y
held in the parameter and moved in place, x never stored), and broken copies.

``ZooAdamWScheduleFree`` and ``ZooSGDScheduleFree`` are *correct*: every check must pass on
them. Like schedulefree's classes they start in eval mode and refuse ``step()`` until
``train()`` is called, the stand-in for the set-up call (issue 11). Each mutant overrides one
method the way the slip is usually written; tests/test_schedulefree_record.py says which
check catches which.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer


class _ScheduleFree(Optimizer):
    adam = True

    def __init__(self, params: Any, **defaults: Any):
        super().__init__(
            params, {**defaults, "k": 0, "train_mode": False, "weight_sum": 0.0, "lr_max": -1.0}
        )

    def _beta(self, group: dict) -> float:
        return group["betas"][0] if self.adam else group["momentum"]

    # --- the switches between the training point y and the evaluation point x -----------------

    def _eval_weight(self, beta: float) -> float:
        return 1 - 1 / beta

    @torch.no_grad()
    def eval(self) -> None:
        for group in self.param_groups:
            if group["train_mode"]:
                w = self._eval_weight(self._beta(group))
                for p in group["params"]:
                    if "z" in self.state[p]:
                        p.lerp_(self.state[p]["z"], w)
                group["train_mode"] = False

    @torch.no_grad()
    def train(self) -> None:
        for group in self.param_groups:
            if not group["train_mode"]:
                for p in group["params"]:
                    if "z" in self.state[p]:
                        p.lerp_(self.state[p]["z"], 1 - self._beta(group))
                group["train_mode"] = True

    # --- the pieces a port gets wrong ----------------------------------------------------------

    def _warmup(self, k: int, warmup: int) -> float:
        return (k + 1) / warmup if k < warmup else 1.0

    def _weight(self, group: dict, k: int, lr: float) -> float:
        group["lr_max"] = max(lr, group["lr_max"])
        return (k + 1) ** group["r"] * group["lr_max"] ** group["weight_lr_power"]

    def _denom(self, v: torch.Tensor, correction: float, eps: float) -> torch.Tensor:
        return v.div(correction).sqrt_().add_(eps)

    def _decay_point(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return y

    def _y_coefficient(self, lr: float, beta: float, c: float) -> float:
        return lr * (beta * (1 - c) - 1)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError("call optimizer.train() before step()")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            k, beta = group["k"], self._beta(group)
            lr = group["lr"] * self._warmup(k, group["warmup_steps"])
            weight = self._weight(group, k, lr)
            group["weight_sum"] += weight
            c = weight / group["weight_sum"] if group["weight_sum"] != 0 else 0.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "z" not in state:
                    state["z"] = p.detach().clone()
                    state["exp_avg_sq"] = torch.zeros_like(p)
                z = state["z"]
                u = -p.grad if group.get("maximize", False) else p.grad.clone()
                if self.adam:
                    b2 = group["betas"][1]
                    v = state["exp_avg_sq"]
                    v.mul_(b2).addcmul_(u, u, value=1 - b2)
                    u = u / self._denom(v, 1 - b2 ** (k + 1), group["eps"])
                if group["weight_decay"] != 0:
                    u = u + group["weight_decay"] * self._decay_point(p, z)
                p.lerp_(z, c)
                p.add_(u, alpha=self._y_coefficient(lr, beta, c))
                z.sub_(u, alpha=lr)
            group["k"] = k + 1
        return loss


class ZooAdamWScheduleFree(_ScheduleFree):
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
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            r=r,
            weight_lr_power=weight_lr_power,
        )


class ZooSGDScheduleFree(_ScheduleFree):
    adam = False

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
            params,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            r=r,
            weight_lr_power=weight_lr_power,
        )


# --- mutants ------------------------------------------------------------------------------------


class WarmupOffByOne(ZooAdamWScheduleFree):
    """sched = k/T_warmup: the first step at lr 0, every warm-up step one behind."""

    def _warmup(self, k: int, warmup: int) -> float:
        return k / warmup if k < warmup else 1.0


class FirstWeightNotOne(ZooAdamWScheduleFree):
    """The weight sum seeded with 1 (a "running mean" started wrong): c_2 < 1, so x_2 ≠ z_2."""

    def _weight(self, group: dict, k: int, lr: float) -> float:
        if k == 0:
            group["weight_sum"] += 1.0
        return super()._weight(group, k, lr)


class NoSecondMomentCorrection(ZooAdamWScheduleFree):
    """v used without 1/(1−β2^t)."""

    def _denom(self, v: torch.Tensor, correction: float, eps: float) -> torch.Tensor:
        return v.sqrt().add_(eps)


class LrBiasCorrection(ZooAdamWScheduleFree):
    """Alg. 1 as printed (schedulefree's AdamWScheduleFreePaper): γ_t·√(1−β2^t), ε outside
    √v, the weights from that γ_t: the ``lr-bias-correction`` variant."""

    def _warmup(self, k: int, warmup: int) -> float:
        b2 = self.param_groups[0]["betas"][1]
        return super()._warmup(k, warmup) * (1 - b2 ** (k + 1)) ** 0.5

    def _denom(self, v: torch.Tensor, correction: float, eps: float) -> torch.Tensor:
        return v.sqrt().add_(eps)


class DecayAtZ(ZooAdamWScheduleFree):
    """λ·z instead of λ·y: the ``decay-at-z`` variant."""

    def _decay_point(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return z


class UniformAverage(ZooAdamWScheduleFree):
    """c_{t+1} = 1/t whatever r, weight_lr_power and warm-up (the weights ignored)."""

    def _weight(self, group: dict, k: int, lr: float) -> float:
        return 1.0


class MomentumOnY(ZooAdamWScheduleFree):
    """y moved by −γu only, as plain SGD would (the β(1−c) term dropped): x no longer the
    average of z."""

    def _y_coefficient(self, lr: float, beta: float, c: float) -> float:
        return -lr


class EvalWithTrainWeight(ZooAdamWScheduleFree):
    """eval() interpolates with train()'s weight 1−β instead of 1−1/β."""

    def _eval_weight(self, beta: float) -> float:
        return 1 - beta


class EvalNoOp(ZooAdamWScheduleFree):
    """eval() flips the mode but leaves the parameter at y."""

    def _eval_weight(self, beta: float) -> float:
        return 0.0


class SGDWarmupOffByOne(ZooSGDScheduleFree):
    def _warmup(self, k: int, warmup: int) -> float:
        return k / warmup if k < warmup else 1.0


class SGDDecayAtZ(ZooSGDScheduleFree):
    def _decay_point(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return z


class SGDEvalWithTrainWeight(ZooSGDScheduleFree):
    def _eval_weight(self, beta: float) -> float:
        return 1 - beta
