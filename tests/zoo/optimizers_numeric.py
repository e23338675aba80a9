"""Numerically broken optimizers, written the way a third party writes a torch optimizer.

``ZooAdam`` / ``ZooAdamW`` / ``ZooSGD`` are *correct* implementations in that style (own state
keys, torch-style constructors): every check must pass on them. Each mutant below overrides
one method the way the bug is usually written; its docstring names the slip. The numeric
checks must catch every mutant (tests/test_adam_checks.py, test_sgd_checks.py,
test_crossval.py say which check catches which).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim import Optimizer

# --- Adam / AdamW ----------------------------------------------------------------------------


class ZooAdam(Optimizer):
    """Adam with L2 decay in the gradient (Kingma & Ba 2015, Alg. 1 + torch's options)."""

    decoupled = False

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError("invalid hyper-parameter")
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
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
                if p.grad is not None:
                    self._update(p, p.grad, self.state[p], group)
        return loss

    # the pieces mutants override -------------------------------------------------------------

    def _lr(self, group: dict) -> float:
        return group["lr"]

    def _betas(self, group: dict) -> tuple[float, float]:
        beta1, beta2 = group["betas"]
        return beta1, beta2

    def _grad(self, grad: torch.Tensor, group: dict) -> torch.Tensor:
        return -grad if group["maximize"] else grad

    def _bias_corrections(self, beta1: float, beta2: float, t: int) -> tuple[float, float]:
        return 1 - beta1**t, 1 - beta2**t

    def _second_moment(self, state: dict, v: torch.Tensor, bc2: float, group: dict):
        if not group["amsgrad"]:
            return v
        torch.maximum(state["v_max"], v, out=state["v_max"])
        return state["v_max"]

    def _denominator(self, v: torch.Tensor, bc2: float, eps: float) -> torch.Tensor:
        return (v.sqrt() / math.sqrt(bc2)).add_(eps)

    def _decay_before(self, p: torch.Tensor, g: torch.Tensor, lr: float, wd: float):
        if wd == 0:
            return g
        if self.decoupled:
            p.mul_(1 - lr * wd)
            return g
        return g.add(p, alpha=wd)

    def _decay_after(self, p: torch.Tensor, lr: float, wd: float) -> None:
        pass

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        lr, eps, wd = self._lr(group), group["eps"], group["weight_decay"]
        beta1, beta2 = self._betas(group)
        if not state:
            state["t"] = 0
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
            if group["amsgrad"]:
                state["v_max"] = torch.zeros_like(p)
        state["t"] += 1
        g = self._decay_before(p, self._grad(grad, group), lr, wd)
        m = state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
        v = state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bc1, bc2 = self._bias_corrections(beta1, beta2, state["t"])
        denom = self._denominator(self._second_moment(state, v, bc2, group), bc2, eps)
        p.addcdiv_(m, denom, value=-lr / bc1)
        self._decay_after(p, lr, wd)


class ZooAdamW(ZooAdam):
    """AdamW: θ ← θ(1-ηλ) before the Adam step (Loshchilov & Hutter 2019, Alg. 2)."""

    decoupled = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class AdamNoBiasCorrection(ZooAdam):
    """Forgets the §3 bias correction."""

    def _bias_corrections(self, beta1, beta2, t):
        return 1.0, 1.0


class AdamBiasCorrectionOffByOne(ZooAdam):
    """Counts the step once too often in the bias correction (1 - β^(t+1))."""

    def _bias_corrections(self, beta1, beta2, t):
        return 1 - beta1 ** (t + 1), 1 - beta2 ** (t + 1)


class AdamBiasCorrectionStepMinusOne(ZooAdam):
    """Uses the step count before incrementing it (1 - β^(t-1)): divides by zero at t = 1."""

    def _bias_corrections(self, beta1, beta2, t):
        return 1 - beta1 ** (t - 1), 1 - beta2 ** (t - 1)


class AdamEpsInsideSqrt(ZooAdam):
    """ε under the root: √(v̂ + ε)."""

    def _denominator(self, v, bc2, eps):
        return (v / bc2 + eps).sqrt()


class AdamKerasEpsHat(ZooAdam):
    """ε added before bias-correcting v: (√v + ε)/√(1-β2^t) — Keras/TF's ε-hat."""

    def _denominator(self, v, bc2, eps):
        return (v.sqrt() + eps) / math.sqrt(bc2)


class AdamEpsAsFloor(ZooAdam):
    """ε as a floor on the denominator, max(√v̂, ε), instead of added to it."""

    def _denominator(self, v, bc2, eps):
        return (v.sqrt() / math.sqrt(bc2)).clamp_(min=eps)


class AdamSqrtOfBiasCorrectionMissing(ZooAdam):
    """Divides √v by (1-β2^t) instead of √(1-β2^t)."""

    def _denominator(self, v, bc2, eps):
        return (v.sqrt() / bc2).add_(eps)


class AdamAmsgradIgnored(ZooAdam):
    """Accepts amsgrad=True and ignores it."""

    def _second_moment(self, state, v, bc2, group):
        return v


class AdamAmsgradVhat(ZooAdam):
    """AMSGrad's max over the bias-corrected v̂ instead of raw v (a named variant)."""

    def _second_moment(self, state, v, bc2, group):
        if not group["amsgrad"]:
            return v
        torch.maximum(state["v_max"], v / bc2, out=state["v_max"])
        return state["v_max"] * bc2


class AdamMaximizeIgnored(ZooAdam):
    """Accepts maximize=True and descends anyway."""

    def _grad(self, grad, group):
        return grad


class AdamBetasSwapped(ZooAdam):
    """Unpacks betas the wrong way round."""

    def _betas(self, group):
        beta2, beta1 = group["betas"]
        return beta1, beta2


class AdamWeightDecayIgnored(ZooAdam):
    """Accepts weight_decay and never applies it."""

    def _decay_before(self, p, g, lr, wd):
        return g


class AdamLrCached(ZooAdam):
    """Reads the lr once at construction: a scheduler's changes to group['lr'] are ignored."""

    def __init__(self, params: Any, **kw: Any):
        super().__init__(params, **kw)
        self._initial_lrs = [g["lr"] for g in self.param_groups]

    def _lr(self, group):
        return self._initial_lrs[next(i for i, g in enumerate(self.param_groups) if g is group)]


class AdamFloat32Internal(ZooAdam):
    """Computes in float32 whatever the params' dtype, then writes back: float64 params
    silently get float32 precision."""

    def _update(self, p, grad, state, group):
        work = p.detach().float()
        super()._update(work, grad.float(), state, group)
        p.copy_(work)


class AdamWCoupledDecay(ZooAdamW):
    """'AdamW' whose decay goes into the gradient: Adam with L2 (what AdamW fixes)."""

    decoupled = False


class AdamWDecayWithoutLr(ZooAdamW):
    """Decoupled decay θ(1-λ), not scaled by the lr."""

    def _decay_before(self, p, g, lr, wd):
        p.mul_(1 - wd)
        return g


class AdamWDecayAfterStep(ZooAdamW):
    """Applies θ(1-ηλ) after the Adam step instead of before it."""

    def _decay_before(self, p, g, lr, wd):
        return g

    def _decay_after(self, p, lr, wd):
        p.mul_(1 - lr * wd)


class AdamWLrCached(AdamLrCached, ZooAdamW):
    """AdamW that ignores a scheduler (lr read once at construction)."""


# --- SGD -------------------------------------------------------------------------------------


class ZooSGD(Optimizer):
    """SGD with momentum, dampening, Nesterov and L2 decay in torch's convention."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
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
                if p.grad is not None:
                    self._update(p, p.grad, self.state[p], group)
        return loss

    def _lr(self, group: dict) -> float:
        return group["lr"]

    def _grad(self, p: torch.Tensor, grad: torch.Tensor, group: dict) -> torch.Tensor:
        g = -grad if group["maximize"] else grad
        wd = group["weight_decay"]
        return g.add(p, alpha=wd) if wd != 0 else g

    def _buffer(self, state: dict, g: torch.Tensor, group: dict) -> torch.Tensor:
        mu, tau = group["momentum"], group["dampening"]
        if "buf" not in state:
            state["buf"] = g.clone()
        else:
            state["buf"].mul_(mu).add_(g, alpha=1 - tau)
        return state["buf"]

    def _direction(self, g: torch.Tensor, buf: torch.Tensor, group: dict) -> torch.Tensor:
        return g.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        g = self._grad(p, grad, group)
        if group["momentum"] != 0:
            g = self._direction(g, self._buffer(state, g, group), group)
        p.add_(g, alpha=-self._lr(group))


class SGDDampenedStart(ZooSGD):
    """Starts the buffer from zero, so b_1 = (1-τ)·g (an EMA), not g (a named variant)."""

    def _buffer(self, state, g, group):
        mu, tau = group["momentum"], group["dampening"]
        buf = state.setdefault("buf", torch.zeros_like(g))
        return buf.mul_(mu).add_(g, alpha=1 - tau)


class SGDLrInsideBuffer(ZooSGD):
    """Classic heavy ball, v = μv + ηg; θ -= v (Nesterov: θ -= μv + ηg): equals torch's form
    only while the lr is constant (a named variant)."""

    def _update(self, p, grad, state, group):
        g = self._grad(p, grad, group)
        lr, mu = self._lr(group), group["momentum"]
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(mu).add_(g, alpha=lr)
        p.sub_(v * mu + g * lr if group["nesterov"] else v)


class SGDNesterovIgnored(ZooSGD):
    """Accepts nesterov=True and does plain momentum."""

    def _direction(self, g, buf, group):
        return buf


class SGDNesterovOldBuffer(ZooSGD):
    """Nesterov's look-ahead with the buffer from before this step: g + μ·b_{t-1}."""

    def _update(self, p, grad, state, group):
        if not group["nesterov"]:
            return super()._update(p, grad, state, group)
        g = self._grad(p, grad, group)
        mu = group["momentum"]
        old = state["buf"].clone() if "buf" in state else g.clone()
        self._buffer(state, g, group)
        p.add_(g.add(old, alpha=mu), alpha=-self._lr(group))


class SGDWeightDecayIgnored(ZooSGD):
    """Accepts weight_decay and never applies it."""

    def _grad(self, p, grad, group):
        return -grad if group["maximize"] else grad


class SGDDampeningIgnored(ZooSGD):
    """Accepts dampening and never applies it."""

    def _buffer(self, state, g, group):
        return super()._buffer(state, g, {**group, "dampening": 0.0})


class SGDMaximizeIgnored(ZooSGD):
    """Accepts maximize=True and descends anyway."""

    def _grad(self, p, grad, group):
        return super()._grad(p, grad, {**group, "maximize": False})


class SGDDecayAfterMomentum(ZooSGD):
    """Adds the L2 term to the step direction instead of the gradient that feeds the buffer."""

    def _update(self, p, grad, state, group):
        wd = group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if group["momentum"] != 0:
            g = self._direction(g, self._buffer(state, g, group), group)
        p.add_(g.add(p, alpha=wd), alpha=-self._lr(group))


class SGDGradClipped(ZooSGD):
    """Clips each gradient to norm 1 inside step() ("for stability")."""

    def _grad(self, p, grad, group):
        norm = float(grad.norm())
        clipped = grad * (1.0 / norm) if norm > 1.0 else grad
        return super()._grad(p, clipped, group)


class SGDLrCached(ZooSGD):
    """Reads the lr once at construction: a scheduler's changes to group['lr'] are ignored."""

    def __init__(self, params: Any, **kw: Any):
        super().__init__(params, **kw)
        self._initial_lrs = [g["lr"] for g in self.param_groups]

    def _lr(self, group):
        return self._initial_lrs[next(i for i, g in enumerate(self.param_groups) if g is group)]


class SGDFloat32Internal(ZooSGD):
    """Computes in float32 whatever the params' dtype, then writes back."""

    def _update(self, p, grad, state, group):
        work = p.detach().float()
        super()._update(work, grad.float(), state, group)
        p.copy_(work)


ADAM_MUTANTS = {
    "Adam": [
        AdamNoBiasCorrection,
        AdamBiasCorrectionOffByOne,
        AdamBiasCorrectionStepMinusOne,
        AdamEpsInsideSqrt,
        AdamKerasEpsHat,
        AdamEpsAsFloor,
        AdamSqrtOfBiasCorrectionMissing,
        AdamAmsgradIgnored,
        AdamAmsgradVhat,
        AdamMaximizeIgnored,
        AdamBetasSwapped,
        AdamWeightDecayIgnored,
        AdamLrCached,
        AdamFloat32Internal,
    ],
    "AdamW": [AdamWCoupledDecay, AdamWDecayWithoutLr, AdamWDecayAfterStep, AdamWLrCached],
}
SGD_MUTANTS = [
    SGDDampenedStart,
    SGDLrInsideBuffer,
    SGDNesterovIgnored,
    SGDNesterovOldBuffer,
    SGDWeightDecayIgnored,
    SGDDampeningIgnored,
    SGDMaximizeIgnored,
    SGDDecayAfterMomentum,
    SGDGradClipped,
    SGDLrCached,
    SGDFloat32Internal,
]
CORRECT = {"Adam": ZooAdam, "AdamW": ZooAdamW, "SGD": ZooSGD}
# The spec's named variant each mutant implements (what "behaves like" should say).
VARIANT_OF = {
    AdamNoBiasCorrection: "no-bias-correction",
    AdamEpsInsideSqrt: "eps-inside-sqrt",
    AdamKerasEpsHat: "keras-eps-hat",
    AdamAmsgradVhat: "amsgrad-vhat",
    AdamWCoupledDecay: "coupled-decay",
    AdamWDecayWithoutLr: "decay-without-lr",
    SGDDampenedStart: "dampened-start",
    SGDLrInsideBuffer: "classic-momentum",
}


# --- Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam: broken copies of torch's classes -------
#
# Each subclasses the torch class (its constructor, defaults and param groups) and replaces
# ``step`` with a transcription of torch's forloop arithmetic carrying one slip (own state keys).


class _TorchCopy:
    """step(): ``self._update(p, g, state, group, t)`` per param with a gradient, t its count."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:  # type: ignore[attr-defined]
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]  # type: ignore[attr-defined]
                    state["t"] = state.get("t", 0) + 1
                    self._update(p, p.grad, state, group, state["t"])
        return loss

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict, t: int):
        raise NotImplementedError


def _coupled(p: torch.Tensor, grad: torch.Tensor, group: dict) -> torch.Tensor:
    g = -grad if group["maximize"] else grad
    wd = group["weight_decay"]
    if wd != 0 and group.get("decoupled_weight_decay", False):
        p.mul_(1 - group["lr"] * wd)
        return g
    return g.add(p, alpha=wd) if wd != 0 else g


class AdagradLrDecayOffByOne(_TorchCopy, torch.optim.Adagrad):
    """lr decay η/(1 + t·d) with the step count t, not t-1: the first step is already decayed."""

    eps_inside = False

    def _lr(self, group: dict, t: int) -> float:
        return group["lr"] / (1 + t * group["lr_decay"])

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        s.addcmul_(g, g, value=1)
        std = s.add(group["eps"]).sqrt() if self.eps_inside else s.sqrt().add_(group["eps"])
        p.addcdiv_(g, std, value=-self._lr(group, t))


class AdagradEpsInsideSqrt(AdagradLrDecayOffByOne):
    """ε under the root, g/√(s + ε) (Keras 3's Adagrad; a named variant)."""

    eps_inside = True

    def _lr(self, group, t):
        return group["lr"] / (1 + (t - 1) * group["lr_decay"])


class RMSpropKeras(_TorchCopy, torch.optim.RMSprop):
    """Keras' RMSprop: ε under the root and η inside the momentum buffer (a named variant)."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        alpha, lr, mu = group["alpha"], group["lr"], group["momentum"]
        v = state.setdefault("ms", torch.zeros_like(p))
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        var = v
        if group["centered"]:
            ga = state.setdefault("mg", torch.zeros_like(p))
            ga.lerp_(g, 1 - alpha)
            var = v.addcmul(ga, ga, value=-1)
        d = var.add(group["eps"]).sqrt()
        if mu > 0:
            b = state.setdefault("mom", torch.zeros_like(p))
            b.mul_(mu).addcdiv_(g, d, value=lr)
            p.sub_(b)
        else:
            p.addcdiv_(g, d, value=-lr)


class RMSpropMomentumBeforeScaling(_TorchCopy, torch.optim.RMSprop):
    """Momentum on the raw gradient, then divided: b = μb + g; θ -= η b/d (not b = μb + g/d)."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        alpha, lr, mu = group["alpha"], group["lr"], group["momentum"]
        v = state.setdefault("ms", torch.zeros_like(p))
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        var = v
        if group["centered"]:
            ga = state.setdefault("mg", torch.zeros_like(p))
            ga.lerp_(g, 1 - alpha)
            var = v.addcmul(ga, ga, value=-1)
        d = var.sqrt().add_(group["eps"])
        if mu > 0:
            b = state.setdefault("mom", torch.zeros_like(p))
            b.mul_(mu).add_(g)
            p.addcdiv_(b, d, value=-lr)
        else:
            p.addcdiv_(g, d, value=-lr)


class AdadeltaZeiler(_TorchCopy, torch.optim.Adadelta):
    """Zeiler's Algorithm 1 as printed: x += Δx, the lr ignored (a named variant)."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        rho, eps = group["rho"], group["eps"]
        v = state.setdefault("eg2", torch.zeros_like(p))
        u = state.setdefault("edx2", torch.zeros_like(p))
        v.mul_(rho).addcmul_(g, g, value=1 - rho)
        std = v.add(eps).sqrt_()
        delta = u.add(eps).sqrt_().div_(std).mul_(g)
        u.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.sub_(delta)


class AdadeltaDeltaAccumulatedFirst(_TorchCopy, torch.optim.Adadelta):
    """E[Δx²] updated before Δx is computed from it (uses the current δ² of the last step's
    g): δ = √(u_t + ε)/√(v + ε)·g with u_t = ρu + (1-ρ)(g·√(u+ε)/√(v+ε))², an ordering slip."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        rho, eps = group["rho"], group["eps"]
        v = state.setdefault("eg2", torch.zeros_like(p))
        u = state.setdefault("edx2", torch.zeros_like(p))
        v.mul_(rho).addcmul_(g, g, value=1 - rho)
        std = v.add(eps).sqrt_()
        first = u.add(eps).sqrt_().div_(std).mul_(g)
        u.mul_(rho).addcmul_(first, first, value=1 - rho)
        delta = u.add(eps).sqrt_().div_(std).mul_(g)
        p.add_(delta, alpha=-group["lr"])


class AdamaxNoBiasCorrection(_TorchCopy, torch.optim.Adamax):
    """θ -= η m/u without the 1/(1-β1^t) correction."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        b1, b2 = group["betas"]
        m = state.setdefault("m", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        m.lerp_(g, 1 - b1)
        torch.maximum(u.mul_(b2), g.abs().add_(group["eps"]), out=u)
        p.addcdiv_(m, u, value=-group["lr"])


class AdamaxEpsOutsideMax(_TorchCopy, torch.optim.Adamax):
    """ε after the max: u = max(β2u, |g|), θ -= η/(1-β1^t)·m/(u + ε) (a named variant)."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        b1, b2 = group["betas"]
        m = state.setdefault("m", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        m.lerp_(g, 1 - b1)
        torch.maximum(u.mul_(b2), g.abs(), out=u)
        p.addcdiv_(m, u.add(group["eps"]), value=-group["lr"] / (1 - b1**t))


class NAdamConstantMu(_TorchCopy, torch.optim.NAdam):
    """No momentum schedule: μ_t = β1 (optax.nadam; a named variant)."""

    def _mu(self, group: dict, t: int) -> float:
        return group["betas"][0]

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        b1, b2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        mu, mu_next = self._mu(group, t), self._mu(group, t + 1)
        prod = state["prod"] = state.get("prod", 1.0) * mu
        prod_next = prod * mu_next
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = v.div(1 - b2**t).sqrt().add_(eps)
        p.addcdiv_(g, denom, value=-lr * (1 - mu) / (1 - prod))
        p.addcdiv_(m, denom, value=-lr * mu_next / (1 - prod_next))


class NAdamScheduleOffByOne(NAdamConstantMu):
    """Dozat's schedule one step late: μ_t = β1(1 - ½·0.96^((t-1)ψ)) (and μ_{t+1} from t)."""

    def _mu(self, group, t):
        return group["betas"][0] * (1 - 0.5 * 0.96 ** ((t - 1) * group["momentum_decay"]))


class RAdamNoSgdFallback(_TorchCopy, torch.optim.RAdam):
    """No update while ρ_t ≤ 5 (the authors' degenerated_to_sgd=False; a named variant)."""

    fallback = False

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        b1, b2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / bc2
        if rho_t > 5:
            rect = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            adaptive = bc2**0.5 / v.sqrt().add_(eps)
            p.add_(m / bc1 * lr * adaptive * self._rect(rect), alpha=-1.0)
        elif self.fallback:
            p.add_(m / bc1 * lr, alpha=-1.0)

    def _rect(self, rect: float) -> float:
        return rect**0.5


class RAdamRectificationNotRooted(RAdamNoSgdFallback):
    """r_t without its square root: the variance ratio, not its root (Alg. 2 line 10 slip)."""

    fallback = True

    def _rect(self, rect):
        return rect


RECORD_MUTANTS = {
    "Adagrad": [AdagradLrDecayOffByOne, AdagradEpsInsideSqrt],
    "RMSprop": [RMSpropKeras, RMSpropMomentumBeforeScaling],
    "Adadelta": [AdadeltaZeiler, AdadeltaDeltaAccumulatedFirst],
    "Adamax": [AdamaxNoBiasCorrection, AdamaxEpsOutsideMax],
    "NAdam": [NAdamConstantMu, NAdamScheduleOffByOne],
    "RAdam": [RAdamNoSgdFallback, RAdamRectificationNotRooted],
}
VARIANT_OF.update(
    {
        AdagradEpsInsideSqrt: "eps-inside-sqrt",
        RMSpropKeras: "keras",
        AdadeltaZeiler: "zeiler-original",
        AdamaxEpsOutsideMax: "eps-outside-max",
        NAdamConstantMu: "constant-mu",
        RAdamNoSgdFallback: "no-sgd-fallback",
    }
)


# --- ASGD / Rprop (records-b) -------------------------------------------------------------------


class _ZooElementwise(Optimizer):
    """Per-tensor step in float64 Python scalars, the shape of a hand-written optimizer."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, self.state[p], group)
        return loss


class ASGDDecayIgnored(_ZooElementwise):
    """ASGD (torch's arrangement) without the decay term θ(1 - λη): plain SGD with the
    decaying η_t = lr/(1 + λ·lr·t)^α (the slip: reading Bottou's λ as only a schedule knob)."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 maximize=False):  # fmt: skip
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        lr, lambd, alpha = group["lr"], group["lambd"], group["alpha"]
        if not state:
            state["t"], state["eta"] = 0, lr
        state["t"] += 1
        g = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])
        p.add_(g, alpha=-state["eta"])
        state["eta"] = lr / (1 + lambd * lr * state["t"]) ** alpha


class RpropNoGradZeroing(_ZooElementwise):
    """iRprop− without zeroing the gradient on a sign flip: it steps on the flip and the next
    step sees the flip again (Rprop− of Igel & Hüsken 2000, the 'rprop-minus' variant)."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0),
                 maximize=False):  # fmt: skip
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize))

    def _update(self, p, grad, state, group):
        (eminus, eplus), (lo, hi) = group["etas"], group["step_sizes"]
        g = -grad if group["maximize"] else grad
        if not state:
            state["prev"] = torch.zeros_like(p)
            state["size"] = torch.full_like(p, group["lr"])
        s = (g * state["prev"]).sign()
        factor = torch.ones_like(p)
        factor[s > 0], factor[s < 0] = eplus, eminus
        state["size"].mul_(factor).clamp_(lo, hi)
        p.addcmul_(g.sign(), state["size"], value=-1)
        state["prev"] = g.clone()


ASGD_MUTANTS = [ASGDDecayIgnored]
RPROP_MUTANTS = [RpropNoGradZeroing]
VARIANT_OF[RpropNoGradZeroing] = "rprop-minus"


class AdafactorDecayAfterStep(torch.optim.Adafactor):
    """torch's Adafactor with the decoupled decay θ(1 - γλ) applied after the update instead of
    before it: (θ - αÛ)(1 - γλ) in place of θ(1 - γλ) - αÛ (the slip of moving the decay to
    the end of step(), as some ports do)."""

    def __init__(self, params, weight_decay=0.0, **kw):
        super().__init__(params, weight_decay=0.0, **kw)
        for group in self.param_groups:
            group["decay_after"] = weight_decay

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(1 - group["lr"] * group["decay_after"])
        return loss


ADAFACTOR_MUTANTS = [AdafactorDecayAfterStep]
