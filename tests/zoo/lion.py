"""Lion written the way a port is written, and broken copies.

``ZooLion`` is *correct* (Chen et al. 2023, Alg. 2, its own code: interpolation as a sum,
decay before the update): every check must pass on it. Each mutant overrides one method the
way the slip is usually written; tests/test_lion_record.py says which check catches which.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer

from . import decay_slips as slips


class ZooLion(Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        if not lr >= 0 or weight_decay < 0 or not all(0 <= b <= 1 for b in betas):
            raise ValueError("invalid hyper-parameter")
        super().__init__(
            params, dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize)
        )

    def _decay(self, p: torch.Tensor, g: torch.Tensor, lr: float, wd: float) -> torch.Tensor:
        p.mul_(1 - lr * wd)
        return g

    def _direction(self, m: torch.Tensor, g: torch.Tensor, b1: float, b2: float) -> torch.Tensor:
        update = (m * b1 + g * (1 - b1)).sign_()
        m.mul_(b2).add_(g, alpha=1 - b2)
        return update

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
                    state["exp_avg"] = torch.zeros_like(p)
                if group["weight_decay"]:
                    g = self._decay(p, g, group["lr"], group["weight_decay"])
                p.add_(self._direction(state["exp_avg"], g, b1, b2), alpha=-group["lr"])
        return loss


class LionNewMomentum(ZooLion):
    """Updates exp_avg first, then interpolates with the new one."""

    def _direction(self, m, g, b1, b2):
        m.mul_(b2).add_(g, alpha=1 - b2)
        return (m * b1 + g * (1 - b1)).sign_()


class LionBetasSwapped(ZooLion):
    """β2 interpolates the update and β1 the momentum."""

    def _direction(self, m, g, b1, b2):
        return super()._direction(m, g, b2, b1)


class LionNoSign(ZooLion):
    """The interpolation itself as the update (momentum SGD with Lion's two betas)."""

    def _direction(self, m, g, b1, b2):
        update = m * b1 + g * (1 - b1)
        m.mul_(b2).add_(g, alpha=1 - b2)
        return update


class LionCoupledDecay(slips.CoupledDecay, ZooLion):
    """Weight decay added to the gradient (L2) instead of θ(1−ηλ)."""


class LionDecayWithoutLr(slips.DecayWithoutLr, ZooLion):
    """θ(1−λ): the decay not scaled by the learning rate."""


class LionMaximizeIgnored(slips.MaximizeIgnored, ZooLion):
    """Accepts maximize and ignores it."""
