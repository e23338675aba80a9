"""Adan in float64 (Xie, Zhou, Li, Lin & Yan 2022, "Adan: Adaptive Nesterov Momentum Algorithm
for Faster Optimizing Deep Models", arXiv:2208.06677, Algorithm 1), as its authors' code
(sail-sg/Adan) runs it, with the variants real packages implement.

Algorithm 1 writes each average as (1-β)x + βy; the code's betas are the complements, β_code =
1 - β_paper (defaults 0.98, 0.92, 0.99 for the paper's 0.02, 0.08, 0.01). In the code's terms,
with d_t = g_t - g_{t-1} and g_0 = g_1 (the first difference is 0):
    m_t = β1 m_{t-1} + (1-β1) g_t
    v_t = β2 v_{t-1} + (1-β2) d_t
    n_t = β3 n_{t-1} + (1-β3) (g_t + β2 d_t)²
    η_t = η / (√(n_t / (1-β3^t)) + ε)
    θ_t = [θ_{t-1} - η_t (m_t / (1-β1^t) + β2 v_t / (1-β2^t))] / (1 + ηλ)   (proximal decay)
The moments start at 0 and are bias-corrected, as the authors' code does; Algorithm 1 as printed
starts them at m_0 = g_0, n_0 = g_0² and corrects nothing: the "paper-init" variant. The
"no-prox" variant decays θ(1-ηλ) before the step instead (the code's no_prox=True;
pytorch-optimizer's weight_decouple=True). g is -g with maximize.

The step is applied as two updates, the m part then the v part (the authors' and
pytorch-optimizer's two addcdiv_), so the model charges both roundings.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Xie et al. 2022, Adan: Adaptive Nesterov Momentum Algorithm, Alg. 1 "
    "(the authors' code: bias correction, first difference 0)"
)
STATE_KEYS = ("exp_avg", "exp_avg_sq", "exp_avg_diff", "previous_grad")
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths
DEFAULT_BETAS = (0.98, 0.92, 0.99)

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.98, special=(0.98,)),
        Real("beta2", 0.0, 0.999, 0.92, special=(0.92, 0.0)),
        Real("beta3", 0.0, 0.9999, 0.99, special=(0.99,)),
    ),
    Real("eps", 1e-10, 1e-2, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _adan(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    prox: bool = True,
    paper_init: bool = False,
) -> tuple[Array, dict]:
    lr, wd, eps = hp["lr"], hp.get("weight_decay", 0.0), hp.get("eps", 1e-8)
    b1, b2, b3 = hp.get("betas", DEFAULT_BETAS)
    g = -grad if hp.get("maximize", False) else grad
    d = g - state.get("previous_grad", g)
    nesterov = g + b2 * d
    start = (g, g * g) if paper_init else (np.zeros_like(param), np.zeros_like(param))
    m = ema(state.get("exp_avg", start[0]), g, b1)
    v = ema(state.get("exp_avg_diff", np.zeros_like(param)), d, b2)
    n = ema(state.get("exp_avg_sq", start[1]), nesterov * nesterov, b3)
    c1, c2, c3 = (1.0, 1.0, 1.0) if paper_init else (1 - b1**t, 1 - b2**t, 1 - b3**t)
    denom = np.sqrt(n) / np.sqrt(c3) + eps
    if wd != 0 and not prox:
        param = param * (1.0 - lr * wd)
    param = update(update(param, lr / c1 * (m / denom)), lr * b2 / c2 * (v / denom))
    if wd != 0 and prox:
        param = param / (1.0 + lr * wd)
    return param, {"exp_avg": m, "exp_avg_sq": n, "exp_avg_diff": v, "previous_grad": g}


def adan_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Adan, Algorithm 1 with the authors' bias correction and proximal decay."""
    return _adan(param, grad, state, hp, t)


def no_prox_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Decay θ(1-ηλ) before the step instead of the proximal 1/(1+ηλ) after it."""
    return _adan(param, grad, state, hp, t, prox=False)


def paper_init_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Algorithm 1 as printed: m and n started at the first g and g², no bias correction."""
    return _adan(param, grad, state, hp, t, paper_init=True)


VARIANTS = (
    Variant(
        "no-prox",
        no_prox_step,
        "decoupled decay θ(1-ηλ) before the step instead of the proximal 1/(1+ηλ) after",
        "the authors' Adan(no_prox=True); pytorch-optimizer Adan(weight_decouple=True)",
    ),
    Variant(
        "paper-init",
        paper_init_step,
        "moments started at the first gradient (m_0 = g, n_0 = g²), no bias correction",
        "Xie et al. 2022, Alg. 1 as printed",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """The ranges every real Adan accepts (lr ≥ 0, betas in [0, 1), ε ≥ 0, λ ≥ 0): the
    authors' code (sail-sg/Adan adan.py) raises only below 0, and at lr = 0 the proximal
    step θ/(1 + ηλ) is the identity."""
    if not all(0.0 <= b < 1.0 for b in hp.get("betas", DEFAULT_BETAS)):
        return "betas must lie in [0, 1)"
    if not hp.get("lr", 1e-3) >= 0:
        return "lr must be non-negative"
    if hp.get("eps", 1e-8) < 0 or hp.get("weight_decay", 0.0) < 0:
        return "eps and weight_decay must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """param, three moments and the previous gradient read + write (10), grad read (1)."""
    return 11 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """|m̂ + β2 v̂| / (√n̂ + ε) is of order 1 whatever the gradients' size, so about η."""
    return float(hp.get("lr", 1e-3))


ADAN_ERROR_MODEL = ErrorModel("Adan", adan_step, update_scale)
