"""Adahessian written from Yao et al. 2021, Alg. 1 (curvature |Hz| from a Hutchinson
Hessian-vector product of p.grad, averaged over a 4-D weight's spatial dimensions), and ports
broken one way each, for tests/test_adahessian_record.py. Gradients must carry a graph
(``loss.backward(create_graph=True)``; the record's create_graph)."""

from __future__ import annotations

from typing import Any

import torch


class ZooAdahessian(torch.optim.Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 0.15,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-4,
        weight_decay: float = 0.0,
        hessian_power: float = 0.5,
    ):
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, hessian_power=hessian_power
        )
        super().__init__(params, defaults)

    def curvature(self, p: torch.Tensor, hz: torch.Tensor) -> torch.Tensor:
        d = hz.abs()
        return d.mean(dim=(2, 3), keepdim=True).expand_as(d) if d.dim() == 4 else d

    def debias_v(self, beta2: float, step: int) -> float:
        return 1.0 - beta2**step

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        live = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not live:
            return loss
        zs = [torch.randint_like(p, 2) * 2 - 1 for p in live]
        with torch.enable_grad():
            hzs = torch.autograd.grad([p.grad for p in live], live, grad_outputs=zs)
        hz_of = dict(zip(map(id, live), hzs, strict=True))
        for group in self.param_groups:
            b1, b2 = group["betas"]
            k, lr = group["hessian_power"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_hessian_diag_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                d = self.curvature(p, hz_of[id(p)])
                m, v = state["exp_avg"], state["exp_hessian_diag_sq"]
                m.mul_(b1).add_(p.grad.detach(), alpha=1 - b1)
                v.mul_(b2).addcmul_(d, d, value=1 - b2)
                denom = v.sqrt().pow(k) / self.debias_v(b2, t) ** (k / 2) + group["eps"]
                p.mul_(1 - lr * group["weight_decay"])
                p.addcdiv_(m, denom, value=-lr / (1 - b1**t))
        return loss


class AdahessianGradientSquared(ZooAdahessian):
    """Adam's g² in place of the Hessian diagonal: the curvature never enters."""

    def curvature(self, p: torch.Tensor, hz: torch.Tensor) -> torch.Tensor:
        return p.grad.detach().abs()


class AdahessianNoSecondCorrection(ZooAdahessian):
    """v not divided by 1 − β2^t."""

    def debias_v(self, beta2: float, step: int) -> float:
        return 1.0
