"""AdaBelief in float64 (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the
Belief in Observed Gradients", NeurIPS, arXiv:2010.07468, Algorithm 2), with the variants real
packages implement.

Algorithm 2, in the arrangement of the authors' code (adabelief-pytorch), which
pytorch-optimizer's AdaBelief follows:
    g <- -g if maximize;  θ <- θ(1 - ηλ)                     (decoupled decay: the authors'
                                                              weight_decouple=True default)
    m_t = β1 m_{t-1} + (1-β1) g                              (Alg. 2 line 6)
    s_t = β2 s_{t-1} + (1-β2)(g - m_t)² + ε                  (line 7: the *new* m_t, and ε
                                                              kept in the stored s_t)
    θ <- θ - η/(1-β1^t) · m_t / (√(s_t/(1-β2^t)) + ε)         (bias correction, line 10)
Adam's v_t (EMA of g²) is replaced by s_t, the EMA of the squared prediction error g - m_t:
under a constant gradient s_t -> ε/(1-β2) and the step grows ("large step when the
observation is close to the prediction"), where Adam's stays η.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.adam import adam_like_constraint
from optcheck.reference.decay import before_step
from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Zhuang et al. 2020, AdaBelief Optimizer, Alg. 2 (NeurIPS; arXiv:2010.07468), "
    "in the arrangement of the authors' adabelief-pytorch"
)
STATE_KEYS = ("exp_avg", "exp_avg_var")
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("beta2", 0.0, 0.99999, 0.999, special=(0.999,)),
    ),
    Real("eps", 1e-16, 1e-3, 1e-16, log=True, special=(1e-16,)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _adabelief(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    coupled: bool = False,
    decay_scale: float | None = None,
    eps_in_s: bool = True,
    debias_m: bool = True,
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-16)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    param, g = before_step(param, grad, hp, coupled=coupled, decay_scale=decay_scale)
    m = ema(state.get("exp_avg", np.zeros_like(param)), g, b1)
    r = g - m
    s = ema(state.get("exp_avg_var", np.zeros_like(param)), r * r, b2)
    if eps_in_s:
        s = s + eps
    bc1 = 1.0 - b1**t if debias_m else 1.0
    bc2 = 1.0 - b2**t
    denom = np.sqrt(s) / np.sqrt(bc2) + eps
    return update(param, (lr / bc1) * m / denom), {"exp_avg": m, "exp_avg_var": s}


def adabelief_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """AdaBelief, Algorithm 2 with the authors' decoupled decay θ(1-ηλ)."""
    return _adabelief(param, grad, state, hp, t)


def coupled_decay_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Decay as L2 inside the gradient: g + λθ enters both moments."""
    return _adabelief(param, grad, state, hp, t, coupled=True)


def decay_without_lr_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Decoupled decay θ(1-λ), not scaled by the learning rate."""
    return _adabelief(param, grad, state, hp, t, decay_scale=1.0)


def eps_outside_s_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """s_t without line 7's +ε (the EMA of (g-m)² alone), ε only added to the root."""
    return _adabelief(param, grad, state, hp, t, eps_in_s=False)


def no_first_moment_correction_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """m_t not divided by 1-β1^t (AdamD's correction of the denominator only)."""
    return _adabelief(param, grad, state, hp, t, debias_m=False)


VARIANTS = (
    Variant(
        "coupled-decay",
        coupled_decay_step,
        "weight decay added to the gradient (L2) instead of θ(1-ηλ)",
        "pytorch-optimizer AdaBelief(weight_decouple=False); adabelief-pytorch likewise",
    ),
    Variant(
        "decay-without-lr",
        decay_without_lr_step,
        "decoupled decay θ(1-λ), not scaled by η",
        "pytorch-optimizer AdaBelief(fixed_decay=True); adabelief-pytorch likewise",
    ),
    Variant(
        "eps-outside-s",
        eps_outside_s_step,
        "s_t = EMA of (g-m)² without Alg. 2's +ε; ε only outside the root",
        "the formula as commonly summarised (Alg. 2 without its line-7 ε)",
    ),
    Variant(
        "no-first-moment-correction",
        no_first_moment_correction_step,
        "no 1/(1-β1^t) on m (only the denominator corrected)",
        "pytorch-optimizer AdaBelief(adam_debias=True) (AdamD, St John 2021)",
    ),
)


constraint = adam_like_constraint


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """read p, g, m, s; write m, s, p: 7 elements, as Adam."""
    return 7 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """About η per step early on (|m̂|/√ŝ ≈ 1/β1 at the first step); it grows under a steady
    gradient, but the low-precision cases are short."""
    return float(hp.get("lr", 1e-3))


ADABELIEF_ERROR_MODEL = ErrorModel("AdaBelief", adabelief_step, update_scale)
