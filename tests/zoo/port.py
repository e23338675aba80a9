"""The step() skeleton the zoo's ports of Adam-like algorithms share (their slips as mixins:
tests/zoo/decay_slips.py)."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer


class Port(Optimizer):
    """Constructor (lr, betas, eps, weight_decay, maximize; ε's default ``EPS``) and step():
    closure, groups, parameters with a gradient, maximize, zero state tensors ``STATE`` and a
    step counter; ``_update(p, g, state, group, t)`` is the algorithm."""

    EPS = 1e-8
    STATE: tuple[str, ...] = ()

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float | None = None,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        eps = self.EPS if eps is None else eps
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("invalid hyper-parameter")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict, t: int) -> None:
        raise NotImplementedError

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
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0, dtype=torch.float64)
                    state.update({key: torch.zeros_like(p) for key in self.STATE})
                state["step"] += 1
                self._update(p, g, state, group, int(state["step"]))
        return loss
