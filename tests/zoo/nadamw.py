"""NAdam's ``nesterov-adamw`` variant written the way a port is written (timm 1.0.31's
NAdamW as its docstring describes it: Choi et al. 2019 Table 1's NAdam with decoupled decay),
and a broken copy."""

from __future__ import annotations

from zoo.port import Port


class NesterovAdamW(Port):
    """θ(1-ηλ), then AdamW's moments and a step along β1 m_t + (1-β1) g over 1-β1^t."""

    STATE = ("exp_avg", "exp_avg_sq")

    def _direction(self, m, g, b1):
        return m.lerp(g, 1 - b1)

    def _update(self, p, g, state, group, t):
        (b1, b2), lr = group["betas"], group["lr"]
        p.mul_(1 - lr * group["weight_decay"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v / (1 - b2**t)).sqrt() + group["eps"]
        p.addcdiv_(self._direction(m, g, b1), denom, value=-lr / (1 - b1**t))


class NesterovAdamWWithoutMix(NesterovAdamW):
    """Broken: steps along m_t (the Nesterov look-ahead lost): plain AdamW."""

    def _direction(self, m, g, b1):
        return m
