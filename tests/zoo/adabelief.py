"""AdaBelief written the way a port is written, and broken copies.

``ZooAdaBelief`` is *correct* (Zhuang et al. 2020, Alg. 2 as the authors' code arranges it:
decoupled decay first, ε kept in s_t): every check must pass on it. Each mutant overrides one
method the way the slip is usually written; tests/test_adabelief_record.py says which check
catches which.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim import Optimizer

from zoo.slips import CoupledDecay, DecayWithoutLr, MaximizeIgnored


class ZooAdaBelief(Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("invalid hyper-parameter")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _decay(self, p: torch.Tensor, g: torch.Tensor, lr: float, wd: float) -> torch.Tensor:
        p.mul_(1 - lr * wd)
        return g

    def _belief(
        self,
        s: torch.Tensor,
        g: torch.Tensor,
        m_old: torch.Tensor,
        m: torch.Tensor,
        b2: float,
        eps: float,
    ) -> None:
        r = g - m
        s.mul_(b2).addcmul_(r, r, value=1 - b2).add_(eps)

    def _step_size(self, lr: float, b1: float, t: int) -> float:
        return lr / (1 - b1**t)

    def _bc2(self, b2: float, t: int) -> float:
        return math.sqrt(1 - b2**t)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0, dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_var"] = torch.zeros_like(p)
                state["step"] += 1
                t = int(state["step"])
                if group["weight_decay"]:
                    g = self._decay(p, g, group["lr"], group["weight_decay"])
                m, s = state["exp_avg"], state["exp_avg_var"]
                m_old = m.clone()
                m.lerp_(g, 1 - b1)
                self._belief(s, g, m_old, m, b2, group["eps"])
                denom = (s.sqrt() / self._bc2(b2, t)).add_(group["eps"])
                p.addcdiv_(m, denom, value=-self._step_size(group["lr"], b1, t))
        return loss


class AdaBeliefAdamSecondMoment(ZooAdaBelief):
    """s_t as Adam's v_t: the EMA of g², not of the prediction error."""

    def _belief(self, s, g, m_old, m, b2, eps):
        s.mul_(b2).addcmul_(g, g, value=1 - b2).add_(eps)


class AdaBeliefOldMomentum(ZooAdaBelief):
    """The prediction error against m_{t−1}, before the momentum update."""

    def _belief(self, s, g, m_old, m, b2, eps):
        super()._belief(s, g, m_old, m_old, b2, eps)


class AdaBeliefNoSecondCorrection(ZooAdaBelief):
    """ŝ_t = s_t: the 1−β2^t correction forgotten."""

    def _bc2(self, b2, t):
        return 1.0


class AdaBeliefEpsOutsideS(ZooAdaBelief):
    """s_t without Alg. 2's +ε (ε only outside the root)."""

    def _belief(self, s, g, m_old, m, b2, eps):
        super()._belief(s, g, m_old, m, b2, 0.0)


class AdaBeliefNoFirstCorrection(ZooAdaBelief):
    """m_t not divided by 1−β1^t."""

    def _step_size(self, lr, b1, t):
        return lr


class AdaBeliefCoupledDecay(CoupledDecay, ZooAdaBelief):
    pass


class AdaBeliefDecayWithoutLr(DecayWithoutLr, ZooAdaBelief):
    pass


class AdaBeliefMaximizeIgnored(MaximizeIgnored, ZooAdaBelief):
    pass
