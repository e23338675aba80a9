"""Adam, AMSGrad and AdamW in float64, with the named variants a target might implement.

Adam (Kingma & Ba 2015, Algorithm 1), in torch's arrangement (torch.optim.Adam docs):
    g <- -g if maximize;  g <- g + λθ                          (L2, coupled decay)
    m_t = β1 m + (1-β1) g;  v_t = β2 v + (1-β2) g²             (Alg. 1 lines 7-8)
    m̂ = m_t / (1-β1^t);   v̂ = v_t / (1-β2^t)                   (§3, bias correction)
    θ <- θ - η m̂ / (√v̂ + ε)                                     (Alg. 1 line 11)
AMSGrad (Reddi, Kale & Kumar 2018, Alg. 2), torch's form: v_max = max(v_max, v_t) over the
raw second moment, then bias-corrected: θ <- θ - η m̂ / (√(v_max/(1-β2^t)) + ε).
AdamW (Loshchilov & Hutter 2019, Alg. 2 line 12), torch's form: θ <- θ(1 - ηλ) before the
Adam step, with no decay term in g.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.space import Choice, Pair
from optcheck.reference.spec import Array, ErrorModel, Hyper, State


def _moments(grad: Array, state: State, hp: Hyper) -> tuple[Array, Array]:
    b1, b2 = hp.get("betas", (0.9, 0.999))
    m = state.get("exp_avg", np.zeros_like(grad))
    v = state.get("exp_avg_sq", np.zeros_like(grad))
    return ema(m, grad, b1), ema(v, grad * grad, b2)


def _signed_grad(grad: Array, hp: Hyper) -> Array:
    return -grad if hp.get("maximize", False) else grad


def _adam(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    decoupled: bool,
    bias_correction: bool = True,
    eps_hat: bool = False,
    amsgrad_over_vhat: bool = False,
    eps_inside_sqrt: bool = False,
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-8)
    wd = hp.get("weight_decay", 0.0)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    g = _signed_grad(grad, hp)
    if wd != 0:
        if decoupled:
            param = param * (1.0 - lr * wd)
        else:
            g = g + wd * param
    m, v = _moments(g, state, hp)
    new_state = {"exp_avg": m, "exp_avg_sq": v}
    bc1 = 1.0 - b1**t if bias_correction else 1.0
    bc2 = 1.0 - b2**t if bias_correction else 1.0
    v_used = v
    if hp.get("amsgrad", False):
        # torch keeps the max of raw v; the variant keeps the max of v̂ = v/bc2.
        prev = state.get("max_exp_avg_sq", np.zeros_like(v))
        v_used = np.maximum(prev, v / bc2 if amsgrad_over_vhat else v)
        new_state["max_exp_avg_sq"] = v_used
        if amsgrad_over_vhat:
            v_used = v_used * bc2
    if eps_hat:
        # Kingma & Ba §2, last paragraph: fold corrections into the step size, ε̂ unscaled.
        step_size = lr * np.sqrt(bc2) / bc1
        return update(param, step_size * m / (np.sqrt(v_used) + eps)), new_state
    if eps_inside_sqrt:
        return update(param, lr * (m / bc1) / np.sqrt(v_used / bc2 + eps)), new_state
    denom = np.sqrt(v_used) / np.sqrt(bc2) + eps
    return update(param, (lr / bc1) * m / denom), new_state


def adam_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.Adam (L2 decay coupled into g; amsgrad over raw v)."""
    return _adam(param, grad, state, hp, t, decoupled=False)


def adamw_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.AdamW (decay θ(1-ηλ) applied before the Adam step)."""
    return _adam(param, grad, state, hp, t, decoupled=True)


def keras_eps_hat_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Keras / TF Adam: step size η√(1-β2^t)/(1-β1^t) and ε̂ added to √v, not to √v̂."""
    return _adam(param, grad, state, hp, t, decoupled=False, eps_hat=True)


def amsgrad_vhat_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """AMSGrad with the max taken over bias-corrected v̂ (Reddi et al.'s Alg. 2 + §3 of Adam)."""
    return _adam(param, grad, state, hp, t, decoupled=False, amsgrad_over_vhat=True)


def no_bias_correction_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Adam without the §3 bias correction (RMSprop with momentum, roughly)."""
    return _adam(param, grad, state, hp, t, decoupled=False, bias_correction=False)


def eps_inside_sqrt_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """ε under the root: η m̂ / √(v̂ + ε)."""
    return _adam(param, grad, state, hp, t, decoupled=False, eps_inside_sqrt=True)


def adamw_coupled_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """An 'AdamW' whose decay goes into g: plain Adam with L2 (the bug AdamW fixed)."""
    return _adam(param, grad, state, hp, t, decoupled=False)


def adamw_decay_without_lr_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """AdamW with θ(1-λ) instead of θ(1-ηλ): decay not scaled by the learning rate."""
    wd = hp.get("weight_decay", 0.0)
    return _adam(param * (1.0 - wd), grad, state, {**hp, "weight_decay": 0.0}, t, decoupled=True)


def adam_constraint(hp: Hyper) -> str | None:
    b1, b2 = hp.get("betas", (0.9, 0.999))
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        return "betas must lie in [0, 1)"
    if hp.get("eps", 1e-8) < 0 or hp.get("lr", 0.0) < 0:
        return "lr and eps must be non-negative"
    return None


def adam_like_constraint(hp: Hyper) -> str | None:
    """Adam's ranges and λ ≥ 0: what third-party Adam-like optimizers accept (pytorch-optimizer's
    AdaBelief and Lamb)."""
    if hp.get("weight_decay", 0.0) < 0:
        return "weight_decay must be non-negative"
    return adam_constraint(hp)


def adam_update_scale(hp: Hyper, exponent: int) -> float:
    """One Adam update is about η whatever the gradients' size (|m̂|/√v̂ ≲ 1)."""
    return float(hp.get("lr", 1e-3))


# float16: 2^-14 ≤ (1-β2)·g² needs 1-β2 not too small, and β1, β2 on a coarse grid keeps the
# bias corrections well inside float16's range.
_FLOAT16_BETAS = Pair(
    "betas",
    Choice("beta1", (0.0, 0.5, 0.9, 0.99), 0.9),
    Choice("beta2", (0.9, 0.99, 0.999), 0.999),
)
# The error models are the steps themselves (see reference.ops).
ADAM_ERROR_MODEL = ErrorModel("Adam", adam_step, adam_update_scale, {"float16": (_FLOAT16_BETAS,)})
ADAMW_ERROR_MODEL = ErrorModel(
    "AdamW", adamw_step, adam_update_scale, {"float16": (_FLOAT16_BETAS,)}
)
