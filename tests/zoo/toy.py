"""A torch implementation of the toy algorithm of tests/test_toy_algorithm.py ("ToyRMS":
RMS-normalized steps without momentum or bias correction), and a copy with ε under the root.

Not part of optcheck: it stands for a third party's optimizer that a new record describes.
"""

from __future__ import annotations

import torch


class ToyRMS(torch.optim.Optimizer):
    """v ← βv + (1-β)g²;  θ ← θ - η·g/(√v + ε)."""

    def __init__(self, params, lr=1e-2, beta=0.9, eps=1e-8, maximize=False):
        super().__init__(params, dict(lr=lr, beta=beta, eps=eps, maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
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
                    state["avg"] = torch.zeros_like(p)
                avg = state["avg"]
                avg.mul_(group["beta"]).addcmul_(g, g, value=1 - group["beta"])
                p.addcdiv_(g, self._denominator(avg, group["eps"]), value=-group["lr"])
        return loss

    def _denominator(self, avg, eps):
        return avg.sqrt().add_(eps)


class ToyRMSEpsInsideSqrt(ToyRMS):
    """The same with √(v + ε): the record's named variant."""

    def _denominator(self, avg, eps):
        return avg.add(eps).sqrt_()
