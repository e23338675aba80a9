"""LAMB written the way a port is written, and broken copies.

``ZooLamb`` is *correct* (You et al. 2020, Alg. 2, φ(z) = min(z, 10), ratio 1 where a norm is
0): every check must pass on it. Each mutant overrides one method the way the slip is usually
written; tests/test_lamb_record.py says which check catches which.
"""

from __future__ import annotations

import torch

from zoo.decay_slips import MaximizeIgnored
from zoo.port import Port


class ZooLamb(Port):
    EPS = 1e-6
    STATE = ("exp_avg", "exp_avg_sq")
    clamp: float | None = 10.0

    def _ratio(self, m, v, b1, b2, t, eps):
        """Adam's ratio r_t from the moments."""
        return (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)

    def _with_decay(self, p, r, lr, wd):
        return r + wd * p

    def _trust(self, p, r, g):
        w, n = torch.linalg.vector_norm(p), torch.linalg.vector_norm(r)
        phi = w if self.clamp is None else w.clamp(max=self.clamp)
        return torch.where((w > 0) & (n > 0), phi / n, torch.ones_like(w))

    def _step_size(self, lr, b1, t):
        return lr

    def _update(self, p, g, state, group, t):
        b1, b2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        r = self._ratio(m, v, b1, b2, t, group["eps"])
        if group["weight_decay"]:
            r = self._with_decay(p, r, group["lr"], group["weight_decay"])
        trust = self._trust(p, r, g) if self._adapts(group) else 1.0
        p.sub_(self._step_size(group["lr"], b1, t) * trust * r)

    def _adapts(self, group) -> bool:
        return True


class LambNoTrustRatio(ZooLamb):
    """Adam with LAMB's decay: the ratio left out."""

    def _trust(self, p, r, g):
        return 1.0


class LambGradientNormRatio(ZooLamb):
    """The ratio over the gradient's norm instead of the update's (LARS's denominator)."""

    def _trust(self, p, r, g):
        return super()._trust(p, g, g) * torch.linalg.vector_norm(g) / torch.linalg.vector_norm(r)


class LambZeroNormFrozen(ZooLamb):
    """No exception for ‖θ‖ = 0: the ratio 0/‖r‖ = 0 freezes a zero tensor (a zero-initialised
    bias never trains)."""

    def _trust(self, p, r, g):
        w, n = torch.linalg.vector_norm(p), torch.linalg.vector_norm(r)
        return torch.where(n > 0, w.clamp(max=self.clamp) / n, torch.ones_like(w))


class LambNoBiasCorrection(ZooLamb):
    """r = m/(√v + ε) from the raw moments."""

    def _ratio(self, m, v, b1, b2, t, eps):
        return m / (v.sqrt() + eps)


class LambDecoupledDecay(ZooLamb):
    """θ(1−ηλ) before the step; the ratio over r alone."""

    def _with_decay(self, p, r, lr, wd):
        p.mul_(1 - lr * wd)
        return r


class LambUnclamped(ZooLamb):
    """φ(z) = z."""

    clamp = None


class LambDebiasedStep(LambNoBiasCorrection, LambDecoupledDecay):
    """pytorch-optimizer 4.1's defaults: raw moments, decoupled decay, ratio φ/(‖r‖ + ε),
    step η/(1−β1^t) after the ratio."""

    def _trust(self, p, r, g):
        w, n = torch.linalg.vector_norm(p), torch.linalg.vector_norm(r)
        eps = self.param_groups[0]["eps"]
        return torch.where((w > 0) & (n > 0), w.clamp(max=self.clamp) / (n + eps), 1.0)

    def _step_size(self, lr, b1, t):
        return lr / (1 - b1**t)


class LambMaximizeIgnored(MaximizeIgnored, ZooLamb):
    pass


class LambNvlamb(ZooLamb):
    """Correct for ``LAMB:nvlamb`` (timm's Lamb with max_grad_norm=None): φ(z) = z, and the
    ratio only where λ ≠ 0."""

    clamp = None

    def _adapts(self, group) -> bool:
        return group["weight_decay"] != 0


class NvlambAdaptsWithoutDecay(LambNvlamb):
    """The always_adapt gate lost: the ratio applied where λ = 0 too (a plain Adam step is
    NVLAMB's there)."""

    def _adapts(self, group) -> bool:
        return True
