"""Adan written the way a port is written (the authors' code: bias-corrected moments, first
difference 0, proximal decay), and broken copies.

``ZooAdan`` is *correct*: every check must pass on it. Each mutant overrides one method the way
the slip is usually written; tests/test_adan_record.py says which check catches which.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer

from . import decay_slips as slips


class ZooAdan(Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float, float] = (0.98, 0.92, 0.99),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        if not lr >= 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("invalid hyper-parameter")
        super().__init__(
            params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        )

    def _previous(self, g: torch.Tensor) -> torch.Tensor:
        return g.clone()

    def _corrections(self, betas: tuple[float, ...], t: int) -> list[float]:
        return [1 - b**t for b in betas]

    def _nesterov(self, g: torch.Tensor, d: torch.Tensor, b2: float) -> torch.Tensor:
        return g + b2 * d

    def _decayed_grad(self, p: torch.Tensor, g: torch.Tensor, wd: float) -> torch.Tensor:
        return g

    def _apply(self, p: torch.Tensor, step: torch.Tensor, lr: float, wd: float) -> None:
        p.sub_(step).div_(1 + lr * wd)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2, b3 = group["betas"]
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                g = self._decayed_grad(p, g, group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    for key in ("exp_avg", "exp_avg_sq", "exp_avg_diff"):
                        state[key] = torch.zeros_like(p)
                    state["previous_grad"] = self._previous(g)
                state["step"] += 1
                c1, c2, c3 = self._corrections((b1, b2, b3), state["step"])
                d = g - state["previous_grad"]
                state["exp_avg"].lerp_(g, 1 - b1)
                state["exp_avg_diff"].lerp_(d, 1 - b2)
                x = self._nesterov(g, d, b2)
                state["exp_avg_sq"].mul_(b3).addcmul_(x, x, value=1 - b3)
                denom = state["exp_avg_sq"].sqrt() / c3**0.5 + group["eps"]
                step = (lr / c1) * state["exp_avg"] / denom
                step += (lr * b2 / c2) * state["exp_avg_diff"] / denom
                self._apply(p, step, lr, group["weight_decay"])
                state["previous_grad"].copy_(g)
        return loss


class AdanNoProx(ZooAdan):
    """θ(1−ηλ) − step: the authors' no_prox=True form, decay before the step."""

    def _apply(self, p, step, lr, wd):
        p.mul_(1 - lr * wd).sub_(step)


class AdanDiffFromZero(ZooAdan):
    """The previous gradient started at 0: the first difference is g, not 0."""

    def _previous(self, g):
        return torch.zeros_like(g)


class AdanNoBiasCorrection(ZooAdan):
    """Moments from 0 left uncorrected (Alg. 1's formulas without its initialisation)."""

    def _corrections(self, betas, t):
        return [1.0, 1.0, 1.0]


class AdanPaperInit(AdanNoBiasCorrection):
    """Alg. 1 as printed: m and n started at the first g and g², nothing corrected."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and not self.state[p]:
                    g = -p.grad if group["maximize"] else p.grad
                    self.state[p].update(
                        step=0,
                        exp_avg=g.clone(),
                        exp_avg_sq=g * g,
                        exp_avg_diff=torch.zeros_like(p),
                        previous_grad=g.clone(),
                    )
        return super().step(closure)


class AdanPlainSecondMoment(ZooAdan):
    """n averages g² instead of the Nesterov term (g + β2·d)²."""

    def _nesterov(self, g, d, b2):
        return g


class AdanMaximizeIgnored(slips.MaximizeIgnored, ZooAdan):
    """Accepts maximize and ignores it."""


class AdanCoupledDecay(ZooAdan):
    """Weight decay added to the gradient (L2) instead of the proximal 1/(1+ηλ)."""

    def _decayed_grad(self, p, g, wd):
        return g + wd * p

    def _apply(self, p, step, lr, wd):
        p.sub_(step)


class AdanDecayWithoutLr(ZooAdan):
    """θ/(1+λ): the proximal decay not scaled by the learning rate (it moves θ at lr = 0)."""

    def _apply(self, p, step, lr, wd):
        p.sub_(step).div_(1 + wd)
