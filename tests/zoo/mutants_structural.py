"""Muon and SparseAdam written the way a third party writes them, and broken copies.

``ZooMuon`` and ``ZooSparseAdam`` are *correct* (torch's algorithm, their own code; ZooMuon
reuses torch's bf16 Newton-Schulz, as ports of Keller Jordan's code do): every check must
pass on them. Each mutant overrides one method the way the slip is usually written; its
docstring names it. tests/test_structural_records.py says which check catches which.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim._muon import _zeropower_via_newtonschulz

# --- Muon ------------------------------------------------------------------------------------


class ZooMuon(Optimizer):
    """Muon (Keller Jordan 2024) in torch's arrangement: lerp momentum, bf16 NS, decoupled
    decay, adjusted lr."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("invalid hyper-parameter")
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
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
                if p.ndim != 2:
                    raise ValueError("Muon steps matrices only")
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                mu = group["momentum"]
                buf.lerp_(p.grad, 1 - mu)
                update = p.grad.lerp(buf, mu) if group["nesterov"] else buf
                ortho = self._orthogonalize(update, group)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(ortho, alpha=-self._adjusted_lr(group, p.shape))
        return loss

    # the pieces mutants override -------------------------------------------------------------

    def _orthogonalize(self, x: torch.Tensor, group: dict) -> torch.Tensor:
        return _zeropower_via_newtonschulz(
            x, group["ns_coefficients"], group["ns_steps"], group["eps"]
        )

    def _adjusted_lr(self, group: dict, shape: torch.Size) -> float:
        rows, cols = shape
        if group["adjust_lr_fn"] == "match_rms_adamw":
            return group["lr"] * 0.2 * math.sqrt(max(rows, cols))
        return group["lr"] * math.sqrt(max(1, rows / cols))


class MuonNoOrthogonalization(ZooMuon):
    """Steps along the momentum itself: Newton-Schulz left out (SGD with Nesterov momentum)."""

    def _orthogonalize(self, x: torch.Tensor, group: dict) -> torch.Tensor:
        return x.clone()


class MuonWrongCoefficients(ZooMuon):
    """A typo in the quintic's coefficients: b = -4.0 instead of -4.775 (p(1) = 1.48)."""

    def _orthogonalize(self, x: torch.Tensor, group: dict) -> torch.Tensor:
        a, _, c = group["ns_coefficients"]
        return _zeropower_via_newtonschulz(x, (a, -4.0, c), group["ns_steps"], group["eps"])


class MuonUnnormalized(ZooMuon):
    """NS started from B̃ itself, not B̃/‖B̃‖_F: only converges when ‖B̃‖ happens to be ≲ 1."""

    def _orthogonalize(self, x: torch.Tensor, group: dict) -> torch.Tensor:
        a, b, c = group["ns_coefficients"]
        y = x.bfloat16()
        tall = y.shape[0] > y.shape[1]
        y = y.T if tall else y
        for _ in range(group["ns_steps"]):
            gram = y @ y.T
            y = torch.addmm(y, torch.addmm(gram, gram, gram, beta=b, alpha=c), y, beta=a)
        return y.T if tall else y


class MuonAdjustLrIgnored(ZooMuon):
    """adjust_lr_fn ignored: always Keller Jordan's √max(1, A/B), also for
    "match_rms_adamw" (0.2·√max(A, B))."""

    def _adjusted_lr(self, group: dict, shape: torch.Size) -> float:
        rows, cols = shape
        return group["lr"] * math.sqrt(max(1, rows / cols))


# --- SparseAdam -------------------------------------------------------------------------------


class ZooSparseAdam(Optimizer):
    """Lazy Adam on sparse gradients, torch's arrangement: moments and θ change only on the
    entries the gradient holds; ε̂ form (ε added to √v, bias corrections in the step size)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ):
        if not lr > 0 or not eps > 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError("invalid hyper-parameter")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

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
                if not p.grad.is_sparse:
                    raise RuntimeError("sparse gradients only")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                grad = p.grad.coalesce()
                if group["maximize"]:
                    grad = -grad
                self._update(p, grad, state, group)
        return loss

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        idx, vals = grad.indices(), grad.values()
        if vals.numel() == 0:
            return
        b1, b2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]

        def sparse(values: torch.Tensor) -> torch.Tensor:
            return torch.sparse_coo_tensor(idx, values, p.shape)

        m_old = m.sparse_mask(grad).coalesce().values()
        m_upd = vals.sub(m_old).mul_(1 - b1)
        m.add_(sparse(m_upd))
        v_old = v.sparse_mask(grad).coalesce().values()
        v_upd = vals.pow(2).sub_(v_old).mul_(1 - b2)
        v.add_(sparse(v_upd))
        numer = m_upd.add_(m_old)
        denom = self._denominator(v_upd.add_(v_old), state, group)
        step_size = self._step_size(state, group)
        p.add_(sparse(-step_size * numer.div_(denom)))

    def _denominator(self, v: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        return v.sqrt_().add_(group["eps"])

    def _step_size(self, state: dict, group: dict) -> float:
        b1, b2 = group["betas"]
        t = state["step"]
        return group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)


class SparseAdamDenseUpdate(ZooSparseAdam):
    """torch.optim.Adam's loop on grad.to_dense(): untouched rows keep moving by momentum."""

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        g = grad.to_dense()
        b1, b2 = group["betas"]
        state["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
        state["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = state["exp_avg_sq"].sqrt().add_(group["eps"])
        p.addcdiv_(state["exp_avg"], denom, value=-self._step_size(state, group))


class SparseAdamDenseDecay(ZooSparseAdam):
    """θ moves only on the touched entries, but m and v decay everywhere (untouched gradient
    taken as 0): the naive port the docs warn about."""

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        g = grad.to_dense()
        b1, b2 = group["betas"]
        state["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
        state["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
        mask = torch.zeros_like(p, dtype=torch.bool)
        mask[tuple(grad.indices())] = True
        denom = state["exp_avg_sq"].sqrt().add_(group["eps"])
        delta = state["exp_avg"] / denom * -self._step_size(state, group)
        p.add_(torch.where(mask, delta, torch.zeros_like(delta)))


class SparseAdamAdamEpsilon(ZooSparseAdam):
    """torch.optim.Adam's ε placement, m̂/(√v̂ + ε), on the touched entries."""

    def _denominator(self, v: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        b2 = group["betas"][1]
        return v.sqrt_().div_(math.sqrt(1 - b2 ** state["step"])).add_(group["eps"])

    def _step_size(self, state: dict, group: dict) -> float:
        return group["lr"] / (1 - group["betas"][0] ** state["step"])
