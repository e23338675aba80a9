"""LAMB in float64 (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT
in 76 minutes", ICLR, arXiv:1904.00962, Algorithm 2), with the variants real packages implement.

Algorithm 2, per parameter tensor (the paper's layer i), weight decay λ:
    m_t = β1 m + (1-β1) g;   v_t = β2 v + (1-β2) g²
    m̂ = m_t/(1-β1^t);        v̂ = v_t/(1-β2^t)
    r_t = m̂/(√v̂ + ε)
    θ <- θ - η φ(‖θ‖)/‖r_t + λθ‖ · (r_t + λθ)       (the trust ratio φ(‖θ‖)/‖r + λθ‖)
so every step of a tensor has norm η·φ(‖θ‖) whatever the gradients. φ is a scaling function
(§3: φ(z) = min(max(z, γ_l), γ_u)); torch-optimizer and pytorch-optimizer take
φ(z) = min(z, 10), which the reference follows. Where ‖θ‖ = 0 or r + λθ = 0 the ratio is 1,
as in every package (the paper leaves 0/0 open). g is -g with maximize.

NVLAMB (NVIDIA's LAMB, NVIDIA developer blog 2019; timm's Lamb) differs in four ways: it
divides every gradient by max(1, ‖G‖/max_grad_norm), ‖G‖ the norm over all tensors of all
param groups (pre-normalisation); φ(z) = z (no clamp); timm applies the ratio only where
λ ≠ 0 unless always_adapt; trust_clip caps the ratio at 1 (LAMBC). The ``nvlamb`` variants
are the per-tensor step with the gradient as given (max_grad_norm=None): a global norm joins
every tensor, so two param groups are not two optimizers (contract.param_groups says so).
always_adapt=True is no variant of its own: it is Alg. 2 wherever ‖θ‖ ≤ 10.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.adam import adam_like_constraint
from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "You et al. 2020, Large Batch Optimization for Deep Learning, Alg. 2 (LAMB; ICLR, "
    "arXiv:1904.00962), φ(z) = min(z, 10) as torch-optimizer and pytorch-optimizer"
)
STATE_KEYS = ("exp_avg", "exp_avg_sq")
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths
CLAMP = 10.0

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("beta2", 0.0, 0.99999, 0.999, special=(0.999,)),
    ),
    Real("eps", 1e-12, 1e-3, 1e-6, log=True, special=(1e-6,)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _norm(x: Array) -> Array:
    return np.sqrt(np.sum(x * x))


def trust_ratio(param: Array, direction: Array, eps: float, clamp: float | None = CLAMP) -> Array:
    """φ(‖θ‖)/(‖direction‖ + eps), φ(z) = min(z, clamp) (φ(z) = z without a clamp); 1 where
    either norm is 0 (a 0-d array)."""
    w = _norm(param)
    phi = w if clamp is None else np.minimum(w, clamp)
    d = _norm(direction)
    safe = np.where(d > 0, d, 1.0) + eps
    return np.where(w > 0, np.where(d > 0, phi / safe, 1.0), 1.0)


def _lamb(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    bias_correction: bool = True,
    decoupled: bool = False,
    trust_eps: bool = False,
    debiased_step: bool = False,
    nvlamb: bool = False,
    always_adapt: bool = True,
    trust_clip: bool = False,
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-6)
    wd = hp.get("weight_decay", 0.0)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    g = -grad if hp.get("maximize", False) else grad
    m = ema(state.get("exp_avg", np.zeros_like(param)), g, b1)
    v = ema(state.get("exp_avg_sq", np.zeros_like(param)), g * g, b2)
    new_state = {"exp_avg": m, "exp_avg_sq": v}
    if bias_correction:
        r = (m / (1.0 - b1**t)) / (np.sqrt(v / (1.0 - b2**t)) + eps)
    else:
        r = m / (np.sqrt(v) + eps)
    if wd != 0:
        if decoupled:
            param = param * (1.0 - lr * wd)
        else:
            r = r + wd * param
    if nvlamb:
        if wd == 0 and not always_adapt:  # NVLAMB adapts only where decay is on
            return update(param, lr * r), new_state
        ratio = trust_ratio(param, r, 0.0, clamp=None)
        return update(param, (lr * np.minimum(ratio, 1.0 if trust_clip else np.inf)) * r), new_state
    ratio = trust_ratio(param, r, eps if trust_eps else 0.0)
    scale = lr / (1.0 - b1**t) if debiased_step else lr
    return update(param, (scale * ratio) * r), new_state


def lamb_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """LAMB, Algorithm 2 with φ(z) = min(z, 10)."""
    return _lamb(param, grad, state, hp, t)


def no_bias_correction_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """r = m/(√v + ε) from the raw moments ("paper v3 does not use debiasing")."""
    return _lamb(param, grad, state, hp, t, bias_correction=False)


def decoupled_decay_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """θ(1-ηλ) first, then the trust ratio of r alone (AdamW's decay outside the ratio)."""
    return _lamb(param, grad, state, hp, t, decoupled=True)


def _pytorch_optimizer(
    param: Array, grad: Array, state: State, hp: Hyper, t: int, **flags: bool
) -> tuple[Array, dict]:
    """pytorch-optimizer 4.1's Lamb: raw moments in r, ratio φ(‖θ‖)/(‖r‖ + ε); ``flags``
    are its weight_decouple (decoupled) and not adam_debias (debiased_step)."""
    return _lamb(param, grad, state, hp, t, bias_correction=False, trust_eps=True, **flags)


def debiased_step_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """pytorch-optimizer 4.1's Lamb() defaults: raw moments in r, decoupled decay, ratio
    φ(‖θ‖)/(‖r‖ + ε), and the step size η/(1-β1^t) applied after the ratio, so the step's norm
    is η·φ(‖θ‖)/(1-β1^t): 1/(1-β1) times the paper's at t = 1."""
    return _pytorch_optimizer(param, grad, state, hp, t, decoupled=True, debiased_step=True)


def debiased_step_ratio_decay_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """``debiased-step`` with Alg. 2's decay, λθ inside the ratio (weight_decouple=False)."""
    return _pytorch_optimizer(param, grad, state, hp, t, decoupled=False, debiased_step=True)


def eps_in_ratio_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """``debiased-step`` without the 1/(1-β1^t) (adam_debias=True): raw moments, decoupled
    decay, ratio φ(‖θ‖)/(‖r‖ + ε), step η."""
    return _pytorch_optimizer(param, grad, state, hp, t, decoupled=True, debiased_step=False)


def nvlamb_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """NVLAMB as timm's Lamb documents it (its defaults, max_grad_norm=None): Alg. 2's
    bias-corrected r with λθ inside, the ratio ‖θ‖/‖r + λθ‖ unclamped (φ(z) = z), and no
    ratio at all where λ = 0 (always_adapt=False: a plain Adam step η r there)."""
    return _lamb(param, grad, state, hp, t, nvlamb=True, always_adapt=False)


def nvlamb_trust_clip_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """``nvlamb`` with the ratio capped at 1 (LAMBC; timm's trust_clip=True)."""
    return _lamb(param, grad, state, hp, t, nvlamb=True, always_adapt=False, trust_clip=True)


VARIANTS = (
    Variant(
        "no-bias-correction",
        no_bias_correction_step,
        "r = m/(√v+ε) from the raw moments (no 1-β^t corrections)",
        "torch-optimizer Lamb (its comment: paper v3 does not use debiasing)",
    ),
    Variant(
        "decoupled-decay",
        decoupled_decay_step,
        "θ(1-ηλ) before the step, trust ratio over r alone",
        "AdamW-style decay in LAMB ports (pytorch-optimizer weight_decouple=True)",
    ),
    Variant(
        "debiased-step",
        debiased_step_step,
        "raw moments, decoupled decay, ratio φ(‖θ‖)/(‖r‖+ε), step η/(1-β1^t) after the ratio",
        "pytorch-optimizer 4.1 Lamb() defaults",
    ),
    Variant(
        "debiased-step-ratio-decay",
        debiased_step_ratio_decay_step,
        "debiased-step with λθ inside the trust ratio, as Alg. 2",
        "pytorch-optimizer 4.1 Lamb(weight_decouple=False)",
    ),
    Variant(
        "eps-in-ratio",
        eps_in_ratio_step,
        "raw moments, decoupled decay, ratio φ(‖θ‖)/(‖r‖+ε), step η",
        "pytorch-optimizer 4.1 Lamb(adam_debias=True)",
    ),
    Variant(
        "nvlamb",
        nvlamb_step,
        "ratio ‖θ‖/‖r+λθ‖ unclamped, applied only where λ ≠ 0; the gradient as given",
        "NVIDIA's NVLAMB (NVIDIA developer blog, 'Pretraining BERT with Layer-wise Adaptive "
        "Learning Rates', 2019) as timm 1.0.31's Lamb documents it, max_grad_norm=None (its "
        "global-norm pre-normalisation couples every tensor: outside this per-tensor step)",
    ),
    Variant(
        "nvlamb-trust-clip",
        nvlamb_trust_clip_step,
        "nvlamb with the ratio capped at 1 (LAMBC)",
        "timm 1.0.31 Lamb(trust_clip=True, max_grad_norm=None); LAMBC (Fong et al. 2020)",
    ),
)


constraint = adam_like_constraint


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Adam's 7 (read p, g, m, v; write m, v, p) plus the two norm passes over p and r."""
    return 9 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """A step's norm is η·φ(‖θ‖); per coordinate about η·min(|θ|, 10)."""
    return float(hp.get("lr", 1e-3))


LAMB_ERROR_MODEL = ErrorModel("LAMB", lamb_step, update_scale)
