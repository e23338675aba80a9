"""Stand-ins for real optimizers whose legitimate limits optcheck took for defects
(tests/test_realworld_standins.py)."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

FIRST_STEP_SECONDS = 0.6


class CompilesOnFirstStep(torch.optim.SGD):
    """Slow on the first step() of each instance, as a torch.compile warm-up is (heavyball
    compiles its update on the first call): slow once, not hung."""

    def step(self, closure: Any = None) -> Any:
        if not getattr(self, "_warm", False):
            self._warm = True
            time.sleep(FIRST_STEP_SECONDS)
        return super().step(closure)


class RelativeStep(torch.optim.Optimizer):
    """Sets its own step size, min(1e-2, 1/√t), as transformers' Adafactor does by default:
    an lr given with relative_step=True is refused, lr=None is the way to build it."""

    def __init__(self, params: Any, lr: float | None = None, relative_step: bool = True):
        if lr is not None and relative_step:
            raise ValueError("Cannot combine manual `lr` and `relative_step=True` options")
        super().__init__(params, {"lr": lr, "relative_step": relative_step})

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
                state = self.state[p]
                state["step"] = t = state.get("step", 0) + 1
                size = min(1e-2, 1 / math.sqrt(t)) if group["relative_step"] else group["lr"]
                p.add_(p.grad, alpha=-size)
        return loss


class RefusesUnknownKeywords(torch.optim.SGD):
    """Takes **kwargs only to refuse what it does not know, as heavyball's optimizers do."""

    def __init__(self, params: Any, lr: float = 1e-2, **kwargs: Any):
        if kwargs:
            raise TypeError(f"unknown keyword arguments: {sorted(kwargs)}")
        super().__init__(params, lr=lr)


class CoupledOnlyNAdam(torch.optim.NAdam):
    """torch's NAdam without the decoupled_weight_decay keyword: weight decay is always
    coupled (L2 added to the gradient), as in timm's NAdamLegacy."""

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, momentum_decay, foreach=False)
