"""RAdam (rectified Adam) in float64, with the variants a target might implement.

Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond" (ICLR), Alg. 2,
in torch's arrangement (torch.optim.RAdam docs; torch/optim/radam.py, torch 2.13):
    g <- -g if maximize
    if λ ≠ 0:  θ <- θ(1 - ηλ)  if decoupled_weight_decay (RAdamW)   else  g <- g + λθ
    m_t = β1 m + (1-β1) g;   v_t = β2 v + (1-β2) g²;   m̂ = m_t / (1-β1^t)
    ρ_∞ = 2/(1-β2) - 1;   ρ_t = ρ_∞ - 2t β2^t / (1-β2^t)                  (Alg. 2 lines 1, 7)
    if ρ_t > 5:   l_t = √(1-β2^t) / (√v_t + ε)                              (Alg. 2 line 9)
                  r_t = √((ρ_t-4)(ρ_t-2)ρ_∞ / ((ρ_∞-4)(ρ_∞-2)ρ_t))           (Alg. 2 line 10)
                  θ <- θ - η m̂ r_t l_t
    else:         θ <- θ - η m̂          (un-adapted, bias-corrected momentum SGD; line 12)
The paper tests ρ_t > 4 (Alg. 2 line 8); torch (like the authors' code, `N_sma >= 5`) uses 5.
ε is added to √v_t, not to √v̂_t (as in torch's docs and code; the paper has no ε).
ρ_t < ρ_∞ for every t, so β2 ≤ 2/3 (ρ_∞ ≤ 5) never rectifies: RAdam is then momentum SGD.

torch's arithmetic: ρ_t, r_t, β^t and the bias corrections are Python doubles (the step count
is a float32 tensor, exact for t < 2^24); m uses lerp, v mul+addcmul. The foreach path folds
everything into one per-element multiplier, 1/((√v+ε)/(√(1-β2^t)·η·r_t/(1-β1^t)·-1)) plus
-η/(1-β1^t)·[ρ_t ≤ 5], then θ += m·multiplier; in the un-rectified steps the first term is
1/((√v+ε)/-0.0) = -0, which is NaN where √v+ε = 0 (ε = 0 and a zero gradient history):
the forloop path has no such NaN.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant


def rho(beta2: float, t: int) -> tuple[float, float]:
    """(ρ_∞, ρ_t) as torch computes them (Python doubles)."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf, rho_inf - 2 * t * (beta2**t) / (1 - beta2**t)


def _radam(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    threshold: float = 5.0,
    sgd_fallback: bool = True,
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-8)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    wd = hp.get("weight_decay", 0.0)
    g = -grad if hp.get("maximize", False) else grad
    if wd != 0:
        if hp.get("decoupled_weight_decay", False):
            param = param * (1.0 - lr * wd)
        else:
            g = g + wd * param
    m = ema(state.get("exp_avg", np.zeros_like(g)), g, b1)
    v = ema(state.get("exp_avg_sq", np.zeros_like(g)), g * g, b2)
    new_state = {"exp_avg": m, "exp_avg_sq": v}
    bc1 = 1 - b1**t
    bc2 = 1 - b2**t
    m_hat = m / bc1
    rho_inf, rho_t = rho(b2, t)
    # ρ_t depends on β2 and t only (Python doubles in torch): a branch on hyper-parameters.
    if rho_t > threshold:
        rect = np.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        # torch: ``bc2**0.5 / tensor`` is tensor.reciprocal() times the scalar (two roundings).
        adaptive = np.sqrt(bc2) * (1.0 / (np.sqrt(v) + eps))
        return update(param, m_hat * lr * adaptive * rect), new_state
    if not sgd_fallback:
        return param, new_state
    return update(param, m_hat * lr), new_state


def radam_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.RAdam: rectify while ρ_t > 5, bias-corrected momentum SGD before."""
    return _radam(param, grad, state, hp, t)


def threshold4_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """The paper's test ρ_t > 4 instead of torch's ρ_t > 5: the adaptive, rectified step
    starts one step earlier (with β2 = 0.999, ρ_5 ≈ 4.99 rectifies here, not in torch).

    Source: Liu et al. 2020, Algorithm 2 line 8 ("if the variance is tractable, i.e. ρ_t > 4").
    """
    return _radam(param, grad, state, hp, t, threshold=4.0)


def no_sgd_fallback_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """No update at all while ρ_t ≤ 5 (moments and decoupled decay still applied): the
    authors' code with ``degenerated_to_sgd=False`` (step_size = -1, update skipped).

    Source: github.com/LiyuanLucasLiu/RAdam, radam.py (RAdam, degenerated_to_sgd=False).
    """
    return _radam(param, grad, state, hp, t, sgd_fallback=False)


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.RAdam's constructor would raise ValueError, or None."""
    b1, b2 = hp.get("betas", (0.9, 0.999))
    if not hp.get("lr", 1e-3) >= 0:
        return "Invalid learning rate: lr must be >= 0"
    if not hp.get("eps", 1e-8) >= 0:
        return "Invalid epsilon value: eps must be >= 0"
    if not 0.0 <= b1 < 1.0:
        return "Invalid beta parameter at index 0: betas[0] must lie in [0, 1)"
    if not 0.0 <= b2 < 1.0:
        return "Invalid beta parameter at index 1: betas[1] must lie in [0, 1)"
    if not hp.get("weight_decay", 0.0) >= 0:
        return "Invalid weight_decay value: weight_decay must be >= 0"
    return None


SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        # β2 ≤ 2/3: ρ_∞ ≤ 5, never rectified; 0.999: rectified from t = 6.
        Real("beta2", 0.0, 0.99999, 0.999, special=(0.5, 0.999)),
    ),
    Real("eps", 1e-12, 1e-3, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("decoupled_weight_decay"),
    Flag("maximize"),
)
STATE_KEYS = ("step", "exp_avg", "exp_avg_sq")  # 'step' is the reference's t
# torch 2.13 on CPU: forloop and foreach, no fused kernel (no `fused` keyword).
IMPLEMENTATIONS = ("forloop", "foreach")
SOURCE = (
    "Liu et al. 2020, On the Variance of the Adaptive Learning Rate and Beyond (ICLR), Alg. 2; "
    "torch.optim.RAdam docs"
)
VARIANTS = (
    Variant(
        "threshold-4",
        threshold4_step,
        "rectified step once ρ_t > 4 (the paper's test) instead of ρ_t > 5",
        "Liu et al. 2020, Algorithm 2 line 8",
    ),
    Variant(
        "no-sgd-fallback",
        no_sgd_fallback_step,
        "parameters left unchanged while ρ_t ≤ 5 instead of a momentum-SGD step",
        "LiyuanLucasLiu/RAdam radam.py, degenerated_to_sgd=False",
    ),
)
# Memory traffic of one torch step per parameter element (minimal, fused-kernel count):
# read θ, g, m, v; write m, v, θ -> 7 arrays. Un-rectified steps need not read v for the
# update, but v is updated anyway, so the count is the same every step.
_ARRAYS_PER_ELEMENT = 7


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Bytes one ideal single-pass step moves per parameter element."""
    return _ARRAYS_PER_ELEMENT * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """How big one RAdam update is. Rectified steps: η·r_t·|m̂|·√(1-β2^t)/(√v + ε) ≲ η
    (r_t ≤ 1, |m̂| ≲ √v̂), whatever the gradients' size; un-rectified steps (ρ_t ≤ 5, always
    when β2 ≤ 2/3, else the first ~5): η|m̂| ≈ η|g| ~ η·10^exponent. The larger of the two, so
    params drawn at 10^[0,2] of it stay above the updates' size in either regime."""
    lr = float(hp.get("lr", 1e-3))
    b2 = float(hp.get("betas", (0.9, 0.999))[1])
    g = 10.0**exponent
    return lr * g if 2.0 / (1.0 - b2) - 1.0 <= 5.0 else lr * max(1.0, g)


# float16: ε ≥ 1e-4 (a float16 normal; default 1e-8 rounds to 0). torch's foreach path forms
# 1/((√v + ε)/c) also in un-rectified steps, with c = -0.0: where ε rounds to 0 and v = 0 (a zero
# gradient history) that is 0/0 = NaN while the forloop path and the reference are finite (the
# finding of tests/test_reference_adaptive.py at ε = 0). The reference does not divide by
# √v + ε in those steps, so the engine cannot see that divisor: the domain keeps ε normal instead.
_FLOAT16 = (Real("eps", 1e-4, 1e-3, 1e-4, log=True),)
RADAM_ERROR_MODEL = ErrorModel("RAdam", radam_step, update_scale, {"float16": _FLOAT16})
