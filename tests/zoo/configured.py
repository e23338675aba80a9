"""Correct optimizers whose configuration the validator must get right (suites/prepare.py).

Each stands in for a real third-party class (named in its docstring) without depending on it:
what matters is the shape of the constructor — a keyword the reference does not know,
``**kwargs``, a keyword kept on the optimizer rather than per param group.
"""

from __future__ import annotations

from typing import Any

import torch

# Every keyword a ``kwargs_adam`` factory was handed, in any check (a test reads it).
HANDED: set[str] = set()


class SGDWeightDecouple(torch.optim.SGD):
    """pytorch_optimizer's SGDW (4.1.0): ``weight_decouple=True`` by default (decay
    θ ← θ(1 − ηλ) outside the gradient), ``maximize`` kept on the optimizer, not in the param
    groups, and ``**kwargs``. With ``weight_decouple=False`` it is torch's SGD exactly, so
    ``--like SGD --hp weight_decouple=False`` must conform."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        weight_decouple: bool = True,
        dampening: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
        **kwargs: Any,
    ):
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            foreach=False,
        )
        self.maximize = maximize  # not per group: param_groups[0] has no 'maximize'
        self.defaults.pop("maximize", None)
        for group in self.param_groups:
            group.pop("maximize", None)
            group["weight_decouple"] = weight_decouple
        self.defaults["weight_decouple"] = weight_decouple

    def __getstate__(self) -> dict[str, Any]:  # deepcopy and pickling keep it
        return {**super().__getstate__(), "maximize": self.maximize}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.pop("maximize", None)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        decoupled = []
        for group in self.param_groups:
            group["maximize"] = self.maximize
            if group["weight_decouple"] and group["weight_decay"] != 0:
                for p in group["params"]:
                    if p.grad is not None:
                        p.mul_(1.0 - group["lr"] * group["weight_decay"])
                decoupled.append((group, group["weight_decay"]))
                group["weight_decay"] = 0.0
        try:
            super().step()
        finally:
            for group, weight_decay in decoupled:
                group["weight_decay"] = weight_decay
            for group in self.param_groups:
                group.pop("maximize", None)
        return loss


class AdamCaution(torch.optim.Adam):
    """timm's AdamWLegacy (1.0.31) ``caution`` option ('Cautious Optimizers', 2024): with
    ``caution=True`` update components whose sign disagrees with the gradient's are dropped and
    the rest rescaled. A keyword the Adam reference does not know: ``--hp caution=True`` must
    reach the target in cross-validation (and fail it), not be dropped there."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        caution: bool = False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=False,
        )
        self.defaults["caution"] = caution
        for group in self.param_groups:
            group.setdefault("caution", caution)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        before = {
            p: p.detach().clone()
            for group in self.param_groups
            if group["caution"]
            for p in group["params"]
            if p.grad is not None
        }
        super().step()
        for group in self.param_groups:
            if not group["caution"]:
                continue
            for p in group["params"]:
                if p not in before:
                    continue
                update = p - before[p]
                descent = -p.grad if not group["maximize"] else p.grad
                mask = (update * descent > 0).to(p.dtype)
                scale = mask.numel() / max(float(mask.sum()), 1.0)
                p.copy_(before[p] + update * mask * scale)
        return loss


def kwargs_adam(params: Any, **hp: Any) -> torch.optim.Optimizer:
    """A factory taking **kwargs and handing them on to torch's Adam: it asked for nothing, so
    it must be handed only lr, the user's keywords and, in a check, that check's needs."""
    HANDED.update(hp)
    return torch.optim.Adam(params, **hp)


def kwargs_adamw(params: Any, **hp: Any) -> torch.optim.Optimizer:
    """As ``kwargs_adam`` for AdamW, whose default weight_decay (1e-2) is not 0: a keyword it is
    not handed must stay at the spec's default in the reference too."""
    return torch.optim.AdamW(params, **hp)


def sgd_weight_decouple(params: Any, **hp: Any) -> torch.optim.Optimizer:
    """A user's factory around ``SGDWeightDecouple``: which keywords are per group is read off
    the optimizer the factory builds."""
    return SGDWeightDecouple(params, **hp)
