"""Adafactor in float64: torch.optim.Adafactor (torch 2.13) and Shazeer & Stern's own form.

torch's algorithm (torch.optim.Adafactor docs and torch/optim/_adafactor.py), per tensor:
    G <- -G if maximize
    1-β̂_t = t^τ  (τ = beta2_decay; β̂_1 = 0)                   (S&S 2018 §7)
    ρ_t = min(γ, 1/√t)                                           (S&S §8 with 10⁻² -> γ = lr)
    α_t = max(ε2, RMS(θ_{t-1})) ρ_t                              (S&S Alg. 4)
    θ <- θ (1 - γλ)                                              (decoupled decay, lr-scaled)
    dim ≥ 2 (factored over the last two dims, batched over the leading ones):
        R_t = lerp(R_{t-1}, mean_j G²_ij, 1-β̂_t)   shape (..., n, 1)  state 'row_var'
        C_t = lerp(C_{t-1}, mean_i G²_ij, 1-β̂_t)   shape (..., 1, m)  state 'col_var'
        V̂_t = R_t C_t / max(mean_i R_t, ε1)                     (S&S Alg. 4, means
                                                                  instead of sums)
    dim < 2 (scalars and vectors): V̂_t = lerp(V̂_{t-1}, G², 1-β̂_t)   state 'variance'
    U = G · rsqrt(max(V̂_t, ε1²))                                 (= G / max(√V̂, ε1))
    Û = U / max(1, RMS(U)/d)                                     (S&S §6 update clipping)
    θ <- θ - α_t Û
ε1 = None means torch.finfo(param.dtype).eps: 2⁻⁵² ≈ 2.22e-16 for float64 (1.19e-7 float32,
7.81e-3 bfloat16, 9.77e-4 float16). torch resolves it once per step call from the first
tensor it visits (forloop) or the first (device, dtype) group (foreach) and reuses it for
the rest: a float64 tensor stepped after a float32 one gets ε1 = 1.19e-7.
lerp is torch's: start + w (end - start) for |w| < 0.5, else end - (end - start)(1 - w).

The paper (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
Cost", Alg. 4 factored / Alg. 5 unfactored, §6 clipping, §8 relative step) instead adds ε1 =
1e-30 to G² before the row/column means, has no ε1 clamp afterwards and uses ρ_t =
min(10⁻², 1/√t) whatever the lr; its decay is not specified. transformers.Adafactor (the
form the variants follow) adds the options scale_parameter (α uses RMS(θ) or not),
relative_step (ρ_t or a fixed lr), warmup_init (ρ_t = min(10⁻⁶ t, 1/√t)), clip_threshold
(= d), and decays by θ(1 - λα_t).
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, machine_eps, update
from optcheck.reference.space import Choice, Flag, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Shazeer & Stern 2018, Alg. 4-5, §6 (clipping), §7 (β̂2 = 1 - t^τ), §8 (relative step); "
    "torch.optim.Adafactor docs and torch/optim/_adafactor.py (torch 2.13)"
)
STATE_KEYS = ("step", "row_var", "col_var", "variance")
# torch 2.13 on CPU: foreach=False/None -> _single_tensor_adafactor, foreach=True ->
# _multi_tensor_adafactor; the constructor has no `fused` keyword.
IMPLEMENTATIONS = ("forloop", "foreach")
SPACE = (
    Real("lr", 1e-6, 1.0, 1e-2, log=True, special=(1e-2,)),
    Real("beta2_decay", -1.0, 0.0, -0.8, special=(-0.8,)),
    Choice("eps", ((None, 1e-3), (1e-30, 1e-3), (1e-8, 1e-3), (None, 0.0)), (None, 1e-3)),
    Real("d", 1.0, 10.0, 1.0, special=(1.0,)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def resolve_eps1(eps1: float | None, dtype=np.float64) -> float:
    """torch's ε1: None means finfo(dtype).eps (2.22e-16 for float64)."""
    return float(np.finfo(dtype).eps) if eps1 is None else float(eps1)


def _rms(x: Array) -> Array:
    """torch's RMS, ‖x‖/√numel, in the error model's vocabulary (a 0-d array). A zero-size x
    has RMS 0 here (torch raises ZeroDivisionError: a torch finding, checks.findings)."""
    return np.sqrt(np.sum(x * x)) / max(x.size, 1) ** 0.5


def factored_second_moment(row_var: Array, col_var: Array, eps1: float) -> Array:
    """torch's V̂ = R C / max(mean_i R, ε1) from the stored factors (n, 1) and (1, m).

    Without the clamp this is outer(row, col) / mean(row): Shazeer & Stern's Alg. 4 V̂_t
    with means in place of sums (the n·m factors cancel).
    """
    denom = np.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
    return (row_var @ col_var) / denom


def adafactor_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch.optim.Adafactor: one step of one tensor (factored when grad.ndim >= 2).

    Written in the error model's vocabulary (reference.ops): torch's lerp is ``ema`` with
    β = 1 - t^τ, ε1 = None is ``machine_eps(param)`` (the target's own finfo eps, which the
    engine carries as an uncertainty of the float64 one), the clamps are ``np.maximum``."""
    lr = hp.get("lr", 1e-2)
    eps1_hp, eps2 = hp.get("eps", (None, 1e-3))
    eps1 = machine_eps(param) if eps1_hp is None else eps1_hp
    d, wd = hp.get("d", 1.0), hp.get("weight_decay", 0.0)
    g = -grad if hp.get("maximize", False) else grad
    one_minus_beta2 = t ** hp.get("beta2_decay", -0.8)
    beta2 = 1.0 - one_minus_beta2
    rho = min(lr, 1.0 / t**0.5)
    alpha = np.maximum(eps2, _rms(param)) * rho  # RMS of θ before the decay
    if wd != 0:
        param = param * (1.0 - lr * wd)
    new_state: dict = {"step": t * 1.0}
    if g.ndim > 1:
        row_mean = np.sqrt(np.sum(g * g, axis=-1, keepdims=True)) ** 2 / g.shape[-1]
        col_mean = np.sqrt(np.sum(g * g, axis=-2, keepdims=True)) ** 2 / g.shape[-2]
        row = ema(state.get("row_var", np.zeros_like(row_mean)), row_mean, beta2)
        col = ema(state.get("col_var", np.zeros_like(col_mean)), col_mean, beta2)
        new_state.update(row_var=row, col_var=col)
        v_hat = factored_second_moment(row, col, eps1)
    else:
        v_hat = ema(state.get("variance", np.zeros_like(g)), g * g, beta2)
        new_state["variance"] = v_hat
    u = (1.0 / np.sqrt(np.maximum(v_hat, eps1 * eps1))) * g
    denom = np.maximum(1.0, _rms(u) / d)
    return update(param, (alpha / denom) * u), new_state


# --- Shazeer & Stern's form, as transformers.Adafactor implements it -------------------------


def _shazeer_stern(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    relative_step: bool,
    scale_parameter: bool,
    warmup_init: bool,
) -> tuple[Array, dict]:
    eps1, eps2 = hp.get("eps", (None, 1e-3))
    eps1 = 1e-30 if eps1 is None else eps1  # the paper's ε1
    clip = hp.get("clip_threshold", hp.get("d", 1.0))
    decay_rate = hp.get("decay_rate", hp.get("beta2_decay", -0.8))
    beta1 = hp.get("beta1")
    g = -grad if hp.get("maximize", False) else grad
    if hp.get("relative_step", relative_step):
        start = 1e-6 * t if hp.get("warmup_init", warmup_init) else 1e-2
        step_size = min(start, 1.0 / t**0.5)
    else:
        step_size = hp["lr"]
    if hp.get("scale_parameter", scale_parameter):
        step_size = step_size * np.maximum(eps2, _rms(param))
    beta2t = 1.0 - t**decay_rate
    sq = g * g + eps1
    new_state: dict = {"step": t * 1.0}
    if g.ndim >= 2:
        row = beta2t * state.get("exp_avg_sq_row", 0.0) + (1 - beta2t) * sq.mean(axis=-1)
        col = beta2t * state.get("exp_avg_sq_col", 0.0) + (1 - beta2t) * sq.mean(axis=-2)
        new_state.update(exp_avg_sq_row=row, exp_avg_sq_col=col)
        r_factor = 1.0 / np.sqrt(row / row.mean(axis=-1, keepdims=True))
        c_factor = 1.0 / np.sqrt(col)
        upd = r_factor[..., :, None] * c_factor[..., None, :] * g
    else:
        v = beta2t * state.get("exp_avg_sq", 0.0) + (1 - beta2t) * sq
        new_state["exp_avg_sq"] = v
        upd = g / np.sqrt(v)
    upd = upd / np.maximum(1.0, _rms(upd) / clip) * step_size
    if beta1 is not None:
        upd = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * upd
        new_state["exp_avg"] = upd
    wd = hp.get("weight_decay", 0.0)
    if wd != 0:
        param = param - wd * step_size * param
    return param - upd, new_state


def shazeer_stern_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Paper defaults: ρ_t = min(10⁻², 1/√t) (lr ignored), α = max(ε2, RMS θ) ρ_t, ε1 = 1e-30
    added to G² before factoring, clip at d, decay θ(1 - λα). transformers' hp keys
    relative_step, scale_parameter, warmup_init, clip_threshold, beta1 override."""
    return _shazeer_stern(
        param, grad, state, hp, t, relative_step=True, scale_parameter=True, warmup_init=False
    )


def warmup_init_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """transformers' warmup_init=True: ρ_t = min(10⁻⁶ t, 1/√t), otherwise the paper's form."""
    return _shazeer_stern(
        param, grad, state, hp, t, relative_step=True, scale_parameter=True, warmup_init=True
    )


def fixed_lr_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """transformers with relative_step=False, scale_parameter=False: α_t = lr, an absolute
    step (the setting recommended there for T5 fine-tuning)."""
    return _shazeer_stern(
        param, grad, state, hp, t, relative_step=False, scale_parameter=False, warmup_init=False
    )


def constraint(hp: Hyper) -> str | None:
    """torch.optim.Adafactor's ValueErrors."""
    eps1, eps2 = hp.get("eps", (None, 1e-3))
    if not hp.get("lr", 1e-2) >= 0:
        return "lr must be >= 0"
    if not hp.get("beta2_decay", -0.8) <= 0:
        return "beta2_decay must be <= 0"
    if eps1 is not None and not eps1 >= 0:
        return "eps1 must be >= 0"
    if not eps2 >= 0:
        return "eps2 must be >= 0"
    if not hp.get("d", 1.0) >= 1:
        return "clipping threshold d must be >= 1"
    if not hp.get("weight_decay", 0.0) >= 0:
        return "weight_decay must be >= 0"
    return None


VARIANTS = (
    Variant(
        "shazeer-stern",
        shazeer_stern_step,
        "the paper's relative step min(1e-2, 1/√t) whatever lr, ε1 = 1e-30 added to G² before "
        "the row/col means (no clamp after), decay θ(1 - λα_t) (transformers' defaults)",
        "Shazeer & Stern 2018, Alg. 4-5, §8; transformers.Adafactor",
    ),
    Variant(
        "warmup-init",
        warmup_init_step,
        "transformers' warmup_init: relative step min(1e-6·t, 1/√t)",
        "transformers.Adafactor (warmup_init=True)",
    ),
    Variant(
        "fixed-lr",
        fixed_lr_step,
        "transformers' relative_step=False, scale_parameter=False: α_t = lr (absolute step)",
        "transformers.Adafactor (relative_step=False, scale_parameter=False)",
    ),
)


def bytes_per_element(hp: Hyper, itemsize: int, *, factored: bool = True) -> int:
    """Bytes one torch step must move per parameter element (an ideal fused kernel).

    Adafactor needs whole-tensor reductions before it can write: RMS(θ) and the row/col
    means of G² before V̂, then RMS(U) before θ. So at least three passes:
      factored:   1) read θ, G (RMS θ, row/col sums)  2) read G (RMS U from G and the
                  factors)  3) read θ, G, write θ  -> 6 arrays; the (n + m) factors are O(1/n)
      unfactored: 1) read θ, G, V, write V  2) read G, V (RMS U)  3) read θ, G, V, write θ
                  -> 10 arrays
    torch's forloop/foreach make several more passes (norms, lerps, clamp, rsqrt, mul).
    """
    return (6 if factored else 10) * itemsize


def adafactor_update_scale(hp: Hyper, exponent: int) -> float:
    """One Adafactor update is α·Û with |Û| ≲ d·1 (update clipping) and α = max(ε2, RMS θ)·ρ_t,
    ρ_t ≤ lr: a relative step. Params drawn near max(ε2, 10⁻³)·min(lr, 1) keep α near its ε2
    floor, so an update is about that size whatever the gradients'."""
    eps2 = hp.get("eps", (None, 1e-3))[1]
    return float(max(float(eps2), 1e-3) * min(float(hp.get("lr", 1e-2)), 1.0))


# The error model is the step itself (reference.ops).
ADAFACTOR_ERROR_MODEL = ErrorModel(
    "Adafactor",
    adafactor_step,
    adafactor_update_scale,
    no_empty_tensors="torch.optim.Adafactor raises ZeroDivisionError on a zero-size parameter "
    "(RMS(θ) as Python floats): a torch finding the contract checks report "
    "(checks.findings.TORCH_FINDINGS); the numeric comparison needs a step to compare",
)
