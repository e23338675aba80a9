"""AdaBelief written the way a port is written, and broken copies.

``ZooAdaBelief`` is *correct* (Zhuang et al. 2020, Alg. 2 as the authors' code arranges it:
decoupled decay first, ε kept in s_t): every check must pass on it. Each mutant overrides one
method the way the slip is usually written; tests/test_adabelief_record.py says which check
catches which.
"""

from __future__ import annotations

import math

import torch

from zoo.decay_slips import CoupledDecay, DecayWithoutLr, MaximizeIgnored
from zoo.port import Port


class ZooAdaBelief(Port):
    EPS = 1e-16
    STATE = ("exp_avg", "exp_avg_var")

    def _decay(self, p: torch.Tensor, g: torch.Tensor, lr: float, wd: float) -> torch.Tensor:
        p.mul_(1 - lr * wd)
        return g

    def _belief(self, s, g, m_old, m, b2, eps):
        r = g - m
        s.mul_(b2).addcmul_(r, r, value=1 - b2).add_(eps)

    def _step_size(self, lr: float, b1: float, t: int) -> float:
        return lr / (1 - b1**t)

    def _bc2(self, b2: float, t: int) -> float:
        return math.sqrt(1 - b2**t)

    def _update(self, p, g, state, group, t):
        b1, b2 = group["betas"]
        if group["weight_decay"]:
            g = self._decay(p, g, group["lr"], group["weight_decay"])
        m, s = state["exp_avg"], state["exp_avg_var"]
        m_old = m.clone()
        m.lerp_(g, 1 - b1)
        self._belief(s, g, m_old, m, b2, group["eps"])
        denom = (s.sqrt() / self._bc2(b2, t)).add_(group["eps"])
        p.addcdiv_(m, denom, value=-self._step_size(group["lr"], b1, t))


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
