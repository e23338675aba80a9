"""Broken Adagrad, RMSprop, Adadelta, Adamax and Rprop for the invariants of issue 15 (part a).

Each is a transcription of torch's forloop arithmetic with one slip, on the same scaffolding
as tests/zoo/optimizers_numeric.py (the torch class's constructor and param groups, own state
keys), so that an invariant can be shown to fail on it. The mutants there are reused as well.
"""

from __future__ import annotations

import torch

from zoo.optimizers_numeric import RpropNoGradZeroing, _coupled, _TorchCopy


class AdagradLeakyAccumulator(_TorchCopy, torch.optim.Adagrad):
    """s ← 0.9·s + g² (an RMSprop-style leak): the accumulator forgets, so it can shrink."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        s.mul_(0.9).addcmul_(g, g, value=1)
        lr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-lr)


class AdagradLrDecayIgnored(_TorchCopy, torch.optim.Adagrad):
    """lr_decay accepted and stored, never applied: every step uses the group's lr."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        s.addcmul_(g, g, value=1)
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-group["lr"])


class AdagradAccumulateAfterStep(_TorchCopy, torch.optim.Adagrad):
    """Divides by the previous sum and adds g² afterwards (an ordering slip)."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        lr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-lr)
        s.addcmul_(g, g, value=1)


ADAGRAD = [AdagradLeakyAccumulator, AdagradLrDecayIgnored, AdagradAccumulateAfterStep]


class _RMSpropCopy(_TorchCopy, torch.optim.RMSprop):
    """torch's forloop RMSprop; ``_variance`` is where the centred slips go."""

    def _variance(self, v, ga, g, alpha):
        ga.lerp_(g, 1 - alpha)
        return v.addcmul(ga, ga, value=-1)

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        alpha, lr, mu = group["alpha"], group["lr"], group["momentum"]
        v = state.setdefault("ms", torch.zeros_like(p))
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        var = v
        if group["centered"]:
            var = self._variance(v, state.setdefault("mg", torch.zeros_like(p)), g, alpha)
        d = var.sqrt().add_(group["eps"])
        if mu > 0:
            b = state.setdefault("mom", torch.zeros_like(p))
            b.mul_(mu).addcdiv_(g, d)
            p.add_(b, alpha=-lr)
        else:
            p.addcdiv_(g, d, value=-lr)


class RMSpropCenteredPlusMean(_RMSpropCopy):
    """Centred with the sign slipped: ṽ = v + ḡ² (a variance must subtract the mean²)."""

    def _variance(self, v, ga, g, alpha):
        ga.lerp_(g, 1 - alpha)
        return v.addcmul(ga, ga, value=1)


class RMSpropCenteredStaleMean(_RMSpropCopy):
    """Centred with the mean of the previous step: ṽ = v_t − ḡ_{t−1}², ḡ updated after."""

    def _variance(self, v, ga, g, alpha):
        var = v.addcmul(ga, ga, value=-1)
        ga.lerp_(g, 1 - alpha)
        return var


RMSPROP = [RMSpropCenteredPlusMean, RMSpropCenteredStaleMean]


class AdadeltaLrInAccumulator(_TorchCopy, torch.optim.Adadelta):
    """E[Δx²] accumulates the applied step η·δ instead of δ: the lr leaks into later steps."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        rho, eps, lr = group["rho"], group["eps"], group["lr"]
        v = state.setdefault("eg2", torch.zeros_like(p))
        u = state.setdefault("edx2", torch.zeros_like(p))
        v.mul_(rho).addcmul_(g, g, value=1 - rho)
        delta = u.add(eps).sqrt_().div_(v.add(eps).sqrt_()).mul_(g).mul_(lr)
        u.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.sub_(delta)


ADADELTA = [AdadeltaLrInAccumulator]


class AdamaxMaxWithoutAbs(_TorchCopy, torch.optim.Adamax):
    """u = max(β2u, g + ε): the absolute value forgotten, so a negative g barely counts."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        b1, b2 = group["betas"]
        m = state.setdefault("m", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        m.lerp_(g, 1 - b1)
        torch.maximum(u.mul_(b2), g.add(group["eps"]), out=u)
        p.addcdiv_(m, u, value=-group["lr"] / (1 - b1**t))


ADAMAX = [AdamaxMaxWithoutAbs]


class _RpropCopy(RpropNoGradZeroing):
    """iRprop− as torch has it (gradient zeroed on a flip); ``_apply`` is where slips go."""

    def _update(self, p, grad, state, group):
        (eminus, eplus), (lo, hi) = group["etas"], group["step_sizes"]
        g = (-grad if group["maximize"] else grad).clone()
        if not state:
            state["prev"] = torch.zeros_like(p)
            state["size"] = torch.full_like(p, group["lr"])
        s = (g * state["prev"]).sign()
        factor = torch.ones_like(p)
        factor[s > 0], factor[s < 0] = eplus, eminus
        self._resize(state["size"].mul_(factor), lo, hi)
        g[s < 0] = 0
        self._apply(p, g, state["size"])
        state["prev"] = g

    def _resize(self, size, lo, hi):
        size.clamp_(lo, hi)

    def _apply(self, p, g, size):
        p.addcmul_(g.sign(), size, value=-1)


class RpropNoClamp(_RpropCopy):
    """step_sizes accepted and never applied: Δ grows and shrinks without bounds."""

    def _resize(self, size, lo, hi):
        pass


class RpropGradientTimesStep(_RpropCopy):
    """Steps by Δ·g instead of Δ·sign(g): the magnitude of the gradient leaks in."""

    def _apply(self, p, g, size):
        p.addcmul_(g, size, value=-1)


RPROP = [RpropNoClamp, RpropGradientTimesStep]
