"""signSGD / Signum written the way a port is written, and broken copies.

``ZooSignum`` is *correct* (Bernstein et al. 2018, Alg. 3, Alg. 1 at momentum 0; decoupled
decay before the update): every check must pass on it, and on ``ZooSignumTorchBuffer``, whose
buffer is torch.optim.SGD's (m = βm + g, a multiple of the EMA: the same signs). Each mutant
overrides one method the way the slip is usually written; tests/test_signsgd_record.py says
which check catches which.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer

from . import decay_slips as slips


class ZooSignum(Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        if not lr >= 0 or weight_decay < 0 or not 0 <= momentum < 1:
            raise ValueError("invalid hyper-parameter")
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, maximize=maximize)
        )

    def _decay(self, p: torch.Tensor, g: torch.Tensor, lr: float, wd: float) -> torch.Tensor:
        p.mul_(1 - lr * wd)
        return g

    def _beta(self, group: dict) -> float:
        return group["momentum"]

    def _direction(self, state: dict, g: torch.Tensor, beta: float) -> torch.Tensor:
        if beta == 0:
            return g.sign()
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(g)
        return state["momentum_buffer"].lerp_(g, 1 - beta).sign()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                if group["weight_decay"]:
                    g = self._decay(p, g, group["lr"], group["weight_decay"])
                p.add_(self._direction(self.state[p], g, self._beta(group)), alpha=-group["lr"])
        return loss


class ZooSignumTorchBuffer(ZooSignum):
    """torch.optim.SGD's buffer (m_1 = g, m = βm + g): (1−β)⁻¹ times the EMA, the same signs."""

    def _direction(self, state, g, beta):
        if beta == 0:
            return g.sign()
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g.clone()
        else:
            state["momentum_buffer"].mul_(beta).add_(g)
        return state["momentum_buffer"].sign()


class SignumNoSign(ZooSignum):
    """The momentum itself as the update (momentum SGD with an EMA buffer)."""

    def _direction(self, state, g, beta):
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(g)
        return state["momentum_buffer"].lerp_(g, 1 - beta).clone()


class SignumDefaultBetaAtZero(ZooSignum):
    """``group["momentum"] or 0.9``: a falsy 0 turns Signum on instead of signSGD."""

    def _beta(self, group):
        return group["momentum"] or 0.9


class SignumMaximizeIgnored(slips.MaximizeIgnored, ZooSignum):
    """Accepts maximize and ignores it."""


class SignumCoupledDecay(slips.CoupledDecay, ZooSignum):
    """Weight decay added to the gradient (L2) instead of θ(1−ηλ)."""


class SignumDecayWithoutLr(slips.DecayWithoutLr, ZooSignum):
    """θ(1−λ): the decay not scaled by the learning rate."""


class SignumMomentumIgnored(ZooSignum):
    """signSGD whatever the momentum: the buffer never enters the step."""

    def _beta(self, group):
        return 0.0
