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


class CoupledDecayIntoGrad(torch.optim.Optimizer):
    """QHAdam's constructor (torch-optimizer 0.3.0) and its defect: with weight_decay > 0 and
    coupled decay, step() adds λθ to p.grad itself (``d_p.add_(p.data, alpha=weight_decay)``
    on ``d_p = p.grad.data``). The rest is plain SGD."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        nus: tuple[float, float] = (1.0, 1.0),
        weight_decay: float = 0.0,
        decouple_weight_decay: bool = False,
        eps: float = 1e-8,
    ):
        defaults = dict(
            lr=lr, betas=betas, nus=nus, weight_decay=weight_decay,
            decouple_weight_decay=decouple_weight_decay, eps=eps,
        )  # fmt: skip
        super().__init__(params, defaults)

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
                d_p = p.grad
                if group["weight_decay"] != 0:
                    if group["decouple_weight_decay"]:
                        p.mul_(1 - group["lr"] * group["weight_decay"])
                    else:
                        d_p.add_(p, alpha=group["weight_decay"])  # the defect
                p.add_(d_p, alpha=-group["lr"])
        return loss


class NeedsCreateGraph(torch.optim.SGD):
    """Refuses a gradient without an autograd graph, as torch-optimizer's Adahessian does (it
    takes Hessian-vector products of p.grad): usable only after
    ``loss.backward(create_graph=True)``."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.grad_fn is None:
                    raise RuntimeError(
                        "Gradient tensor does not have grad_fn. When calling loss.backward(), "
                        "make sure the option create_graph is set to True."
                    )
        return super().step(closure)


class MomentStartsNonzero(torch.optim.Optimizer):
    """Yogi's start (torch-optimizer 0.3.0): both moments begin at ``initial_accumulator``
    (1e-6), not at zero, so θ = 0 with g = 0 moves; the update itself is Adam's."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        initial_accumulator: float = 1e-6,
    ):
        defaults = dict(lr=lr, betas=betas, eps=eps, initial_accumulator=initial_accumulator)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.full_like(p, group["initial_accumulator"])
                    state["exp_avg_sq"] = torch.full_like(p, group["initial_accumulator"])
                state["step"] += 1
                t = state["step"]
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = state["exp_avg"] / (1 - beta1**t)
                v_hat = state["exp_avg_sq"] / (1 - beta2**t)
                p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
        return None


class FinalLrRelativeToInitial(torch.optim.SGD):
    """AdaBound's bound (torch-optimizer 0.3.0, after Luo et al.'s code): the step is clipped
    to final_lr × lr / base_lr, base_lr the constructor's lr, so a scheduler's decay scales the
    bound too. The run depends on the constructor lr by design; group['lr'] is read at every
    step."""

    def __init__(self, params: Any, lr: float = 1e-2, final_lr: float = 0.1):
        super().__init__(params, lr=lr)
        for group in self.param_groups:
            group["final_lr"] = final_lr
        self.base_lrs = [group["lr"] for group in self.param_groups]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group, base_lr in zip(self.param_groups, self.base_lrs, strict=True):
            bound = group["final_lr"] * group["lr"] / base_lr
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_((group["lr"] * p.grad).clamp(-bound, bound))
        return None


class FlagNeedsPositiveLr(torch.optim.SGD):
    """timm 1.0.31's ``corrected_weight_decay=True`` (Lamb, NAdamW, ...) raises ValueError
    at lr = 0 (its lr**2 / max_lr needs a positive constructor lr); at lr > 0 the flag
    constructs. Without the flag, lr = 0 constructs and moves nothing."""

    def __init__(self, params, lr: float = 1e-3, corrected: bool = False):
        if corrected and lr <= 0:
            raise ValueError("corrected requires a positive lr")
        super().__init__(params, lr=lr)
