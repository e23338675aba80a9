"""NAdam (Adam with Nesterov momentum) in float64, with the variants a target might implement.

Dozat 2016, "Incorporating Nesterov Momentum into Adam" (ICLR workshop), Algorithm 2 with
the momentum schedule of §3, in torch's arrangement (torch.optim.NAdam docs; the code of
torch/optim/nadam.py, torch 2.13, is the spec for the order of operations):
    g <- -g if maximize
    if λ ≠ 0:  θ <- θ(1 - ηλ)  if decoupled_weight_decay (NAdamW)   else  g <- g + λθ
    μ_t = β1 (1 - ½·0.96^(tψ)),  μ_{t+1} = β1 (1 - ½·0.96^((t+1)ψ))      (ψ = momentum_decay;
                                                                          Dozat §3: ψ = 1/250)
    Π_t = Π_{t-1}·μ_t  (Π_0 = 1; torch's state 'mu_product')
    m_t = β1 m + (1-β1) g;   v_t = β2 v + (1-β2) g²                      (Alg. 2 lines 5, 7)
    d = √(v_t / (1-β2^t)) + ε
    θ <- θ - η(1-μ_t)/(1-Π_t) · g/d - η μ_{t+1}/(1-Π_t μ_{t+1}) · m_t/d   (Alg. 2 lines 4, 6, 9)
The EMA of m uses β1, not μ_t: μ_t enters only the bias corrections and the Nesterov mix.
Dozat's ν̂ = ν·n_t/(1-ν^t) (Alg. 2 line 8) carries an extra factor β2 that torch, Keras and
optax all drop; ``paper_nu_hat_step`` keeps it.

torch's arithmetic, for a tolerance model: the two step-size scalars are Python doubles;
'mu_product' is a 0-dim tensor of torch's *scalar dtype*, float32 unless
torch.get_default_dtype() is float64, and ``mu_product *= mu`` is done in that dtype. With
float64 params and the default float32 default dtype, Π_t is therefore rounded to float32
every step (relative step error ~1e-8; ``float32_mu_product_step`` reproduces it), and a run
resumed through state_dict is not bit-identical to an uninterrupted one, because
load_state_dict casts mu_product to the param's dtype (float64) and the rounding stops.
m uses lerp (m + (1-β1)(g-m)), the reference the product form: equal up to rounding.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, scalar_state, update
from optcheck.reference.space import Choice, Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant


def _mu(b1: float, psi: float, t: int) -> float:
    return b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))


def _nadam(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    schedule: str = "torch",
    nu_times_beta2: bool = False,
    float32_mu_product: bool = False,
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-8)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    wd = hp.get("weight_decay", 0.0)
    psi = {"torch": hp.get("momentum_decay", 4e-3), "keras3": 1.0, "constant": None}[schedule]
    g = -grad if hp.get("maximize", False) else grad
    if wd != 0:
        if hp.get("decoupled_weight_decay", False):
            param = param * (1.0 - lr * wd)
        else:
            g = g + wd * param
    if psi is None:  # constant μ_t = β1
        mu, mu_next = b1, b1
    else:
        mu, mu_next = _mu(b1, psi, t), _mu(b1, psi, t + 1)
    prod_prev = state.get("mu_product", 1.0)
    if float32_mu_product:
        # torch: a float32 0-dim tensor times a Python double, computed in float32.
        mu_product = float(np.float32(prod_prev) * np.float32(mu))
    else:
        # torch: ``mu_product *= mu`` on a 0-dim tensor of its scalar dtype (float32 by default).
        mu_product = scalar_state(prod_prev * scalar_state(mu))
    mu_product_next = mu_product * mu_next
    m = ema(state.get("exp_avg", np.zeros_like(g)), g, b1)
    v = ema(state.get("exp_avg_sq", np.zeros_like(g)), g * g, b2)
    bc2 = 1.0 - b2**t
    v_hat = b2 * v / bc2 if nu_times_beta2 else v / bc2
    denom = np.sqrt(v_hat) + eps
    # torch updates θ twice (two addcdiv_), each rounded: the gradient part, then the momentum.
    new_param = update(param, (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom))
    new_param = update(new_param, ((lr * mu_next) / (1.0 - mu_product_next)) * (m / denom))
    return new_param, {"exp_avg": m, "exp_avg_sq": v, "mu_product": mu_product}


def nadam_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.NAdam: Dozat's μ_t schedule with ψ = momentum_decay; NAdamW when
    decoupled_weight_decay. 'mu_product' is a float64 Python float here."""
    return _nadam(param, grad, state, hp, t)


def constant_mu_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """NAdam without the momentum schedule: μ_t = β1 for every t, so Π_t = β1^t and
    m̄ = β1 m_t/(1-β1^(t+1)) + (1-β1) g/(1-β1^t). momentum_decay is ignored.

    Source: Dozat 2016 Alg. 2 with a constant μ (the schedule of §3 left out); this is
    optax.nadam (optax.scale_by_adam(nesterov=True)).
    """
    return _nadam(param, grad, state, hp, t, schedule="constant")


def keras3_schedule_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Keras 3's Nadam: μ_t = β1(1 - ½·0.96^t), i.e. ψ = 1 whatever momentum_decay says
    (Keras 2 / tf.keras used 0.96^(0.004 t), as torch does). Equals torch at momentum_decay=1.

    Source: keras/src/optimizers/nadam.py (Keras 3), ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``.
    """
    return _nadam(param, grad, state, hp, t, schedule="keras3")


def paper_nu_hat_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """A literal transcription of Dozat 2016 Alg. 2 line 8: n̂ = β2·n_t/(1-β2^t), so the
    denominator is √β2 smaller than torch's (and Keras', optax's), steps √(1/β2) larger.

    Source: Dozat 2016, Algorithm 2 (optax's scale_by_adam comments on dropping the factor).
    """
    return _nadam(param, grad, state, hp, t, nu_times_beta2=True)


def float32_mu_product_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch's actual arithmetic when torch.get_default_dtype() is float32 (the default):
    Π_t = fl32(fl32(Π_{t-1})·fl32(μ_t)), everything else float64. Not a variant (it moves the
    trajectory by ~1e-8 of the displacement, below any variant's 1e-6): it documents why
    torch float64 NAdam differs from ``nadam_step`` beyond round-off unless the default dtype
    is float64."""
    return _nadam(param, grad, state, hp, t, float32_mu_product=True)


def nesterov_adamw_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """AdamW whose step takes the Nesterov mix m̄ = β1 m_t + (1-β1) g, both terms corrected
    by the one 1/(1-β1^t) (μ_t = β1 constant, as ``constant-mu``, which corrects the two
    terms by 1/(1-β1^(t+1)) and 1/(1-β1^t)), with decoupled decay θ(1-ηλ) whatever
    decoupled_weight_decay says; momentum_decay is ignored.

    Source: Choi et al. 2019, "On Empirical Comparisons of Optimizers for Deep Learning"
    (arXiv:1910.05446), Table 1's NAdam (Dozat 2016's Nesterov mix, Adam's corrections) with
    Loshchilov & Hutter 2019's decoupled decay; timm 1.0.31's NAdamW documents this
    arrangement (the MLCommons AlgoPerf NAdamW baseline).
    """
    lr, eps = hp["lr"], hp.get("eps", 1e-8)
    b1, b2 = hp.get("betas", (0.9, 0.999))
    wd = hp.get("weight_decay", 0.0)
    g = -grad if hp.get("maximize", False) else grad
    if wd != 0:
        param = param * (1.0 - lr * wd)
    m = ema(state.get("exp_avg", np.zeros_like(g)), g, b1)
    v = ema(state.get("exp_avg_sq", np.zeros_like(g)), g * g, b2)
    mixed = ema(m, g, b1)
    denom = np.sqrt(v / (1.0 - b2**t)) + eps
    return update(param, (lr / (1.0 - b1**t)) * (mixed / denom)), {"exp_avg": m, "exp_avg_sq": v}


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.NAdam's constructor would raise ValueError, or None."""
    b1, b2 = hp.get("betas", (0.9, 0.999))
    if not hp.get("lr", 2e-3) >= 0:
        return "Invalid learning rate: lr must be >= 0"
    if not hp.get("eps", 1e-8) >= 0:
        return "Invalid epsilon value: eps must be >= 0"
    if not 0.0 <= b1 < 1.0:
        return "Invalid beta parameter at index 0: betas[0] must lie in [0, 1)"
    if not 0.0 <= b2 < 1.0:
        return "Invalid beta parameter at index 1: betas[1] must lie in [0, 1)"
    if not hp.get("weight_decay", 0.0) >= 0:
        return "Invalid weight_decay value: weight_decay must be >= 0"
    if not hp.get("momentum_decay", 4e-3) >= 0:
        return "Invalid momentum_decay value: momentum_decay must be >= 0"
    return None


SPACE = (
    Real("lr", 1e-6, 1.0, 2e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("beta2", 0.0, 0.99999, 0.999, special=(0.999,)),
    ),
    Real("eps", 1e-12, 1e-3, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    # ψ = 0: μ_t = β1/2 for all t; ψ = 1: Keras 3's schedule; large ψ: μ_t -> β1 fast.
    Real("momentum_decay", 0.0, 1.0, 4e-3, special=(0.0, 4e-3, 1.0)),
    Flag("decoupled_weight_decay"),
    Flag("maximize"),
)
# torch's state keys; 'step' is the reference's t, not part of its state dict.
STATE_KEYS = ("step", "mu_product", "exp_avg", "exp_avg_sq")
# torch 2.13 on CPU: NAdam has a foreach path, no fused kernel (no `fused` keyword).
IMPLEMENTATIONS = ("forloop", "foreach")
SOURCE = (
    "Dozat 2016, Incorporating Nesterov Momentum into Adam (ICLR workshop), Alg. 2 and §3; "
    "torch.optim.NAdam docs"
)
VARIANTS = (
    Variant(
        "constant-mu",
        constant_mu_step,
        "no momentum schedule: μ_t = β1 (bias corrections 1-β1^t, 1-β1^(t+1))",
        "Dozat 2016 Alg. 2 with constant μ; optax.nadam",
    ),
    Variant(
        "keras3-schedule",
        keras3_schedule_step,
        "μ_t = β1(1 - ½·0.96^t): momentum_decay fixed at 1",
        "Keras 3 keras/src/optimizers/nadam.py",
    ),
    Variant(
        "paper-nu-hat",
        paper_nu_hat_step,
        "n̂ = β2·n_t/(1-β2^t) as printed in Alg. 2 (the extra β2 others drop)",
        "Dozat 2016, Algorithm 2 line 8",
    ),
    Variant(
        "nesterov-adamw",
        nesterov_adamw_step,
        "AdamW stepping along β1 m_t + (1-β1) g over 1-β1^t (μ_t = β1), decay θ(1-ηλ) always",
        "Choi et al. 2019 Table 1 NAdam + Loshchilov & Hutter 2019 decay; timm 1.0.31 NAdamW",
    ),
)
# Memory traffic of one torch step per parameter element (minimal, as a fused kernel would
# move it): read θ, g, m, v; write m, v, θ -> 7 arrays of the param's itemsize. Coupled
# decay and maximize add no array (θ and g are read anyway); mu_product is one scalar per
# tensor. torch's forloop/foreach paths move more (temporaries for g+λθ, √v̂, the two
# addcdiv passes).
_ARRAYS_PER_ELEMENT = 7


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Bytes one ideal single-pass step moves per parameter element."""
    return _ARRAYS_PER_ELEMENT * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """How big one NAdam update is: η[(1-μ_t)/(1-Π_t)·|g| + μ_{t+1}/(1-Π_{t+1})·|m|]/(√v̂ + ε)
    with |g|, |m| ≲ √v̂ ·(1/√(1-β2)) at worst and ≈ √v̂ for steady gradients: about η (the two
    weights sum to ≈ 1), whatever the gradients' size, as Adam's."""
    return float(hp.get("lr", 2e-3))


# float16: as Adam (reference.adam): (1-β2)·g² ≥ 2^-14 needs 1-β2 not too small, and β1, β2 on a
# coarse grid keep the bias corrections and the μ schedule's weights well inside range.
_FLOAT16_BETAS = Pair(
    "betas",
    Choice("beta1", (0.0, 0.5, 0.9, 0.99), 0.9),
    Choice("beta2", (0.9, 0.99, 0.999), 0.999),
)
NADAM_ERROR_MODEL = ErrorModel("NAdam", nadam_step, update_scale, {"float16": (_FLOAT16_BETAS,)})
