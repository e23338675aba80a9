"""Adahessian in float64 (Yao et al. 2021, "ADAHESSIAN: An Adaptive Second Order Optimizer for
Machine Learning", AAAI, arXiv:2006.00719, Algorithm 1), in the arrangement of torch-optimizer's
Adahessian (which follows the authors' code):

    D_t = |H_t z|, z Rademacher; for a 4-D (conv) weight averaged over its two spatial
          dimensions (the paper's block averaging, block = one kernel)
    m_t = β1 m_{t-1} + (1-β1) g_t                       (exp_avg)
    v_t = β2 v_{t-1} + (1-β2) D_t²                      (exp_hessian_diag_sq)
    θ_t = θ_{t-1}(1 - ηλ) - η (m_t/(1-β1^t)) / ((√v_t)^k / (√(1-β2^t))^k + ε)

k is the Hessian power. Hutchinson's z is random; the checks' gradients carry a diagonal
Hessian diag(h) (reference.hessian), where |Hz| = |h| for every z: the estimate is exact and the
step deterministic. The paper averages the signed estimate z ⊙ Hz; the code averages its
magnitude: the two differ only for a 4-D weight whose kernel mixes signs of curvature, and
this reference follows the code. The error model covers k = 1 (√v̂, the paper's default) and
k = 1/2 (torch-optimizer's): other powers are outside checks.errorprop's vocabulary.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.adam import adam_like_constraint
from optcheck.reference.decay import before_step
from optcheck.reference.hessian import hessian_diagonal
from optcheck.reference.ops import ema, update
from optcheck.reference.space import Choice, Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State

SOURCE = (
    "Yao et al. 2021, ADAHESSIAN, Alg. 1 (AAAI; arXiv:2006.00719), in the arrangement of "
    "torch-optimizer's Adahessian"
)
STATE_KEYS = ("exp_avg", "exp_hessian_diag_sq")
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths
POWERS = (0.5, 1.0)

SPACE = (
    Real("lr", 1e-6, 1.0, 0.15, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("beta2", 0.0, 0.9999, 0.999, special=(0.999,)),
    ),
    Real("eps", 1e-8, 1e-2, 1e-4, log=True, special=(1e-4,)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Choice("hessian_power", POWERS, 0.5),
    Flag("maximize"),  # torch's meaning (−g); torch-optimizer's class has no such keyword
)


def hessian_estimate(shape: tuple[int, ...]) -> np.ndarray:
    """D = |Hz| = |h| for the checks' diagonal Hessian, averaged over a 4-D weight's spatial
    dimensions (2 and 3) as the code does."""
    d = np.abs(hessian_diagonal(shape))
    if len(shape) == 4 and d.size:
        d = np.broadcast_to(d.mean(axis=(2, 3), keepdims=True), shape).copy()
    return d


def _power(x: Array, k: float) -> Array:
    """x^k for the powers the error model covers, written as roots."""
    return np.sqrt(x) if k == 1.0 else np.sqrt(np.sqrt(x))


def adahessian_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Adahessian, Algorithm 1, with the code's decoupled decay θ(1-ηλ); g is −g with maximize."""
    lr, eps, k = hp["lr"], hp.get("eps", 1e-4), hp.get("hessian_power", 0.5)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    d = hessian_estimate(tuple(param.shape))
    param, g = before_step(param, grad, hp)
    zeros = np.zeros_like(param)  # D² enters as the parameter's kind of array (exactly)
    m = ema(state.get("exp_avg", zeros), g, b1)
    v = ema(state.get("exp_hessian_diag_sq", zeros), zeros + d * d, b2)
    denom = _power(v, k) / _power(1.0 - b2**t, k) + eps
    return update(param, lr * (m / (1.0 - b1**t)) / denom), {
        "exp_avg": m,
        "exp_hessian_diag_sq": v,
    }


def constraint(hp: Hyper) -> str | None:
    if hp.get("hessian_power", 0.5) not in POWERS:
        return f"hessian_power must be one of {POWERS} (the powers the error model covers)"
    return adam_like_constraint(hp)  # lr = 0 is Alg. 1's no-op (torch-optimizer refuses it)


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """read p, g, Hz, m, v; write m, v, p: 8 elements (the Hessian-vector product not counted)."""
    return 8 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """About η·|g|/(|h|^k + ε) per step, |h| between 0.5 and 2."""
    return float(hp.get("lr", 0.15)) * 10.0**exponent * 2.0


ADAHESSIAN_ERROR_MODEL = ErrorModel("Adahessian", adahessian_step, update_scale)
