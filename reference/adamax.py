"""Adamax in float64, torch's arrangement (ε inside the max), with ε outside it.

Adamax (Kingma & Ba 2015, §7.1, Algorithm 2; no ε in the paper):
    m_t = β1 m + (1-β1) g;   u_t = max(β2 u, |g|);   θ <- θ - (η/(1-β1^t)) m_t/u_t
torch's arrangement (torch.optim.Adamax docs) puts ε inside the max, so ε enters the state:
    g <- -g if maximize;  g <- g + λθ                          (L2, coupled decay)
    m_t = β1 m + (1-β1) g                                     (exp_avg, m_0 = 0)
    u_t = max(β2 u, |g| + ε)                                  (exp_inf, u_0 = 0)
    θ <- θ - (η/(1-β1^t)) m_t/u_t
torch arrangement (2.13): ``exp_avg.lerp_(g, 1-β1)`` (m + (1-β1)(g - m), not a sum of
products); ``torch.maximum(exp_inf.mul_(β2), g.abs().add_(eps))``; ``clr = η/(1-β1**t)``
as a Python double (the step count read from a float tensor), then
``param.addcdiv_(exp_avg, exp_inf, value=-clr)``; foreach the same with a per-tensor list of
-clr. The max is exact, so u carries no rounding beyond the β2 product and |g| + ε.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = "Kingma & Ba 2015, §7.1 Algorithm 2 (AdaMax); torch.optim.Adamax docs (ε inside the max)"
STATE_KEYS = ("step", "exp_avg", "exp_inf")
IMPLEMENTATIONS = ("forloop", "foreach")  # Adamax has no fused= keyword in torch 2.13

SPACE = (
    Real("lr", 1e-6, 1.0, 2e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        # 0: u = |g| + ε, no memory of the largest gradient.
        Real("beta2", 0.0, 0.99999, 0.999, special=(0.999, 0.0)),
    ),
    Real("eps", 1e-12, 1e-3, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _direction(param: Array, grad: Array, hp: Hyper) -> Array:
    g = -grad if hp.get("maximize", False) else grad
    wd = hp.get("weight_decay", 0.0)
    return g + wd * param if wd != 0 else g


def _adamax(
    param: Array, grad: Array, state: State, hp: Hyper, t: int, *, eps_outside: bool = False
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-8)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    g = _direction(param, grad, hp)
    m = ema(state.get("exp_avg", np.zeros_like(param)), g, b1)
    u_prev = state.get("exp_inf", np.zeros_like(param))
    if eps_outside:
        u = np.maximum(b2 * u_prev, np.abs(g))
        denom = u + eps
    else:
        u = np.maximum(b2 * u_prev, np.abs(g) + eps)
        denom = u
    clr = lr / (1.0 - b1**t)
    return update(param, clr * m / denom), {"exp_avg": m, "exp_inf": u}


def adamax_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.Adamax: u = max(β2 u, |g| + ε); θ -= η/(1-β1^t) · m/u."""
    return _adamax(param, grad, state, hp, t)


def eps_outside_max_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """ε added after the max: u = max(β2 u, |g|), θ -= η/(1-β1^t) · m/(u + ε).

    Keras 3 (keras.optimizers.Adamax.update_step) and TF's ApplyAdaMax kernel. The state
    holds no ε. Where the current |g| wins the max both divide by |g| + ε, exactly alike;
    where a maximum set k steps back wins, torch divides by β2^k(|g_k| + ε) and this one by
    β2^k|g_k| + ε: a gap of (1 - β2^k)ε. So the two part slowly at β2 near 1 (≈ k(1-β2)ε,
    3e-8 of the displacement over 20 steps at β2 = 0.999, ε = 1e-4) and quickly at small β2
    or when gradients fall towards ε.
    """
    return _adamax(param, grad, state, hp, t, eps_outside=True)


VARIANTS = (
    Variant(
        "eps-outside-max",
        eps_outside_max_step,
        "ε added after the max, u = max(β2u, |g|), divide by u + ε (torch: max(β2u, |g|+ε));"
        " differs only once an old maximum wins, by (1-β2^k)ε",
        "Keras 3 keras.optimizers.Adamax.update_step; TF ApplyAdaMax",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.Adamax's constructor would raise ValueError, or None."""
    b1, b2 = hp.get("betas", (0.9, 0.999))
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        return "betas must lie in [0, 1)"
    for key in ("lr", "eps", "weight_decay"):
        if hp.get(key, 0.0) < 0:
            return f"{key} must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Memory traffic of one step per parameter element, one pass over every tensor.

    param read + write (2), grad read (1), exp_avg read + write (2), exp_inf read + write
    (2): 7 elements whatever the flags. torch has no fused kernel: forloop/foreach run
    5-7 elementwise kernels with a temporary (|g| + ε), about twice this.
    """
    return 7 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """How big one Adamax update is: η/(1-β1^t)·|m|/u with |m| ≤ (1-β1^t)·max|g| and
    u ≥ max|g| (the running max decays by β2 only), so at most about η whatever the
    gradients' size."""
    return float(hp.get("lr", 2e-3))


# float16: no override. u ≥ |g| + ε is a normal number for |g| ≥ 0.1; a zero gradient at the
# start leaves ε alone in u (rounded to 0 at ε < 2^-24: 0/0 in torch), which the engine
# classifies outside (an uncertain divisor). β1 enters only through the bias correction
# 1-β1^t, computed in float32 (torch: Python doubles), well inside range.
ADAMAX_ERROR_MODEL = ErrorModel("Adamax", adamax_step, update_scale)
