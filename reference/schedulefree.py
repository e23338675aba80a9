"""Schedule-Free AdamW and SGD in float64 (Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky
2024, "The Road Less Scheduled", arXiv:2405.15682, Alg. 1), as the authors' package
(schedulefree 1.4.1, AdamWScheduleFree / SGDScheduleFree) runs it, with the variants real
packages implement.

Three sequences: z (the base SGD/Adam iterate), x (its weighted average, the *evaluation*
point) and y (the interpolation where gradients are taken, the *training* point):
    y_t     = (1-β) z_t + β x_t                      (Alg. 1; β is SGD's momentum, Adam's β1)
    z_{t+1} = z_t - γ_t (g_t/(√v̂_t + ε) + λ y_t)     (SGD: g_t instead of the Adam ratio)
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
with z_1 = x_1 = y_1 = θ_0, v_t = β2 v_{t-1} + (1-β2) g_t², v̂_t = v_t/(1-β2^t), warm-up
γ_t = γ·min(1, t/T_warmup) and the weighting c_{t+1} = w_t/Σ_{i≤t} w_i with
w_t = t^r·(max_{i≤t} γ_i)^p (the code's r and weight_lr_power p; Alg. 1 prints p = 2, r = 0
and γ_t² itself, the same while γ_t does not fall). Weight decay is evaluated at y and enters
z only, as Alg. 1 writes it. Because c_2 = 1, x_2 = z_2 = y_2: the first step is a plain
SGD/Adam(β1 = 0) step whatever β.

The torch parameter holds y after ``train()`` and x after ``eval()``; the code never stores
x but moves y in place: y ← lerp(y, z, c), y ← y + γ(β(1-c) - 1)·u, z ← z - γ·u with
u = g/(√v̂ + ε) + λy. The reference does the same (the error model is that arithmetic) and
keeps x in its state (``x``), the point ``eval()`` must produce.

Variants: "lr-bias-correction" is Alg. 1 as printed and the package's AdamWScheduleFreePaper:
γ_t = γ·min(1, t/T_warmup)·√(1-β2^t) and ε outside √v (the
weights then follow that γ_t); "decay-at-z": λ·z instead of λ·y (AdamWScheduleFreeReference's
decay_at_z=True); "sqrt-floor": √(v̂ + 1e-15) + ε (pytorch-optimizer 4.1.0's
ScheduleFreeAdamW, its apply_ams_bound). g is -g with maximize (pytorch-optimizer's keyword).

The Closure forms (AdamWScheduleFreeClosure, SGDScheduleFreeClosure, RAdamScheduleFreeClosure)
have no train()/eval(): the parameter holds x between steps, and step(closure) moves it to
y = lerp(x, z, 1-β), evaluates the closure there, moves back x = lerp(y, z, 1-1/β) and takes
x ← lerp(x, z, c) after z's step. Their steps here take and return x (``*_closure_step``),
in that arithmetic; the gradient is still the one taken at y (open loop: the sequence given).

Schedule-Free RAdam (schedulefree's RAdamScheduleFree; pytorch-optimizer's ScheduleFreeRAdam)
is Alg. 1 with RAdam's rectification (Liu et al. 2020, Alg. 2) in place of the warm-up:
γ_t = γ·r_t while ρ_t > 4 (Alg. 2 line 8; ρ_t, r_t its lines 7 and 10), with u the Adam ratio
g/(√v̂_t + ε); while ρ_t ≤ 4 the step is SGD's (u = g, Alg. 2 line 12) at γ_t = γ, or, with
``silent_sgd_phase`` (the default), at γ_t = 0: nothing moves but v. The weights follow γ_t,
so a silent phase has weight 0 and the first rectified step has c = 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.radam import rho
from optcheck.reference.space import Flag, Int, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE_ADAMW = (
    "Defazio et al. 2024, The Road Less Scheduled, Alg. 1 (Schedule-Free AdamW), as the "
    "authors' schedulefree.AdamWScheduleFree runs it"
)
SOURCE_RADAM = (
    "Defazio et al. 2024, The Road Less Scheduled, Alg. 1, with RAdam's rectification in place "
    "of warm-up (Liu et al. 2020, Alg. 2 lines 7-12), as the authors' "
    "schedulefree.RAdamScheduleFree runs it"
)
CLOSURE_FORM = (
    "; the Closure form: no train()/eval(), θ holds x between steps, step(closure) evaluates "
    "the closure at y = (1-β)z + βx"
)
SOURCE_SGD = (
    "Defazio et al. 2024, The Road Less Scheduled, Alg. 1 with SGD's step (Schedule-Free SGD), "
    "as the authors' schedulefree.SGDScheduleFree runs it"
)
STATE_KEYS_ADAMW = ("z", "exp_avg_sq")
STATE_KEYS_SGD = ("z",)
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths
SETUP = ("train",)  # the parameters hold y only after optimizer.train()

_SCHEDULE = (
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Int("warmup_steps", 0, 6, 0),
    Real("r", 0.0, 2.0, 0.0, special=(0.0,)),
    Real("weight_lr_power", 0.0, 3.0, 2.0, special=(2.0, 0.0)),
    Flag("maximize"),  # pytorch-optimizer's keyword; schedulefree has none
)
SPACE_ADAMW = (
    Real("lr", 1e-6, 1.0, 0.0025, log=True),
    Pair(
        "betas",
        Real("beta1", 0.05, 0.99, 0.9, special=(0.9,)),
        Real("beta2", 0.0, 0.9999, 0.999, special=(0.999,)),
    ),
    Real("eps", 1e-10, 1e-2, 1e-8, log=True),
    *_SCHEDULE,
)
SPACE_RADAM = (
    Real("lr", 1e-6, 1.0, 0.0025, log=True),
    Pair(
        "betas",
        Real("beta1", 0.05, 0.99, 0.9, special=(0.9,)),
        # β2 ≤ 0.6 never rectifies (ρ_∞ ≤ 4): drawn too, RAdam is then SGD throughout
        Real("beta2", 0.0, 0.9999, 0.999, special=(0.999, 0.8)),
    ),
    Real("eps", 1e-10, 1e-2, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Real("r", 0.0, 2.0, 0.0, special=(0.0,)),
    Real("weight_lr_power", 0.0, 3.0, 2.0, special=(2.0, 0.0)),
    Flag("silent_sgd_phase", True),
    Flag("maximize"),  # pytorch-optimizer's keyword; schedulefree has none
)
SPACE_SGD = (
    Real("lr", 1e-6, 1.0, 1.0, log=True),
    # Both packages reject momentum 0 (eval() divides by it).
    Real("momentum", 0.05, 0.99, 0.9, special=(0.9,)),
    *_SCHEDULE,
)


def beta_of(hp: Hyper) -> float:
    """The interpolation β: Adam's β1, SGD's momentum."""
    return hp["betas"][0] if "betas" in hp else hp.get("momentum", 0.9)


def warmup_lr(hp: Hyper, t: int) -> float:
    """γ_t = γ·min(1, t/T_warmup), the warmed-up lr of step t (t from 1)."""
    warmup = hp.get("warmup_steps", 0)
    return hp["lr"] * (t / warmup) if t < warmup else hp["lr"]


def _schedule_free(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    adam: bool,
    lr_bias_correction: bool = False,
    decay_at_z: bool = False,
    sqrt_floor: float = 0.0,
    rectified: bool = False,
    holds_x: bool = False,
    unit_sgd_lr: bool = False,
) -> tuple[Array, dict]:
    beta, wd = beta_of(hp), hp.get("weight_decay", 0.0)
    z = state.get("z", param)
    # the Closure forms: θ holds x and step() moves it to y = lerp(x, z, 1-β) first
    y = ema(param, z, beta) if holds_x else param
    lr = warmup_lr(hp, t)
    g = -grad if hp.get("maximize", False) else grad
    u = g
    new: dict = {}
    rect = radam_rectifier(hp, t) if rectified else None
    if rectified:
        b2 = hp["betas"][1]
        new["exp_avg_sq"] = ema(state.get("exp_avg_sq", np.zeros_like(param)), g * g, b2)
        if rect is None:  # RAdam's SGD phase (Alg. 2 line 12), silent: γ_t = 0
            if hp.get("silent_sgd_phase", True):
                lr = 0.0 * lr
            elif unit_sgd_lr and lr > 0:  # lr/lr: 1, the package's float(not silent)
                lr = lr / lr
        else:
            lr = lr * rect
            u = g / (np.sqrt(new["exp_avg_sq"] / (1 - b2**t)) + hp.get("eps", 1e-8))
    elif adam:
        b2, eps = hp["betas"][1], hp.get("eps", 1e-8)
        v = ema(state.get("exp_avg_sq", np.zeros_like(param)), g * g, b2)
        correction = 1 - b2**t
        if lr_bias_correction:
            lr = lr * np.sqrt(correction)
            u = g / (np.sqrt(v) + eps)
        else:
            u = g / (np.sqrt(v / correction + sqrt_floor) + eps)
        new["exp_avg_sq"] = v
    lr_max = state.get("lr_max", -1.0)
    lr_max = lr if lr > lr_max else lr_max
    weight = t ** hp.get("r", 0.0) * lr_max ** hp.get("weight_lr_power", 2.0)
    weight_sum = state.get("weight_sum", 0.0) + weight
    c = weight / weight_sum if weight_sum != 0 else 0.0 * weight
    if wd != 0:
        u = u + wd * (z if decay_at_z else y)
    if holds_x:  # back to x = lerp(y, z, 1-1/β), z's step, x ← lerp(x, z, c), as the code does
        z = z - lr * u
        x = ema(ema(y, state.get("z", param), 1 / beta), z, 1 - c)
        return x, {**new, "z": z, "x": x, "lr_max": lr_max, "weight_sum": weight_sum}
    y = update(ema(y, z, 1 - c), lr * (1 - beta * (1 - c)) * u)
    z = z - lr * u
    x = ema(state.get("x", param), z, 1 - c)
    return y, {**new, "z": z, "x": x, "lr_max": lr_max, "weight_sum": weight_sum}


def radam_rectifier(hp: Hyper, t: int) -> Any:
    """r_t = √((ρ_t-4)(ρ_t-2)ρ_∞ / ((ρ_∞-4)(ρ_∞-2)ρ_t)) while ρ_t > 4 (Liu et al. 2020, Alg. 2
    lines 8-10, the paper's threshold, which schedulefree keeps); None in the SGD phase."""
    rho_inf, rho_t = rho(hp["betas"][1], t)
    if not rho_t > 4.0:
        return None
    return np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def first_rectified_step(beta2: float) -> int | None:
    """The first t with ρ_t > 4 (5 for β2 ≥ 0.8); None when β2 ≤ 0.6 never rectifies
    (ρ_∞ ≤ 4), or not within 10,000 steps."""
    if 2 / (1 - beta2) - 1 <= 4:
        return None
    return next((t for t in range(1, 10_001) if rho(beta2, t)[1] > 4.0), None)


def adamw_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Schedule-Free AdamW (Alg. 1) as AdamWScheduleFree runs it: v̂ bias-corrected inside √."""
    return _schedule_free(param, grad, state, hp, t, adam=True)


def adamw_lr_bias_correction_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Alg. 1 as printed: γ_t carries √(1-β2^t), ε outside √v; the weights follow γ_t."""
    return _schedule_free(param, grad, state, hp, t, adam=True, lr_bias_correction=True)


def adamw_decay_at_z_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Weight decay λ·z instead of λ·y."""
    return _schedule_free(param, grad, state, hp, t, adam=True, decay_at_z=True)


def adamw_sqrt_floor_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """A fixed 1e-15 under the square root as well as ε outside: √(v̂ + 1e-15) + ε."""
    return _schedule_free(param, grad, state, hp, t, adam=True, sqrt_floor=SQRT_FLOOR)


def sgd_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Schedule-Free SGD (Alg. 1 with u = g + λy) as SGDScheduleFree runs it."""
    return _schedule_free(param, grad, state, hp, t, adam=False)


def adamw_closure_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """AdamWScheduleFreeClosure: θ holds x; the gradient is the one taken at y."""
    return _schedule_free(param, grad, state, hp, t, adam=True, holds_x=True)


def sgd_closure_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """SGDScheduleFreeClosure: θ holds x; the gradient is the one taken at y."""
    return _schedule_free(param, grad, state, hp, t, adam=False, holds_x=True)


def radam_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Schedule-Free RAdam as RAdamScheduleFree runs it: θ holds y (after train())."""
    return _schedule_free(param, grad, state, hp, t, adam=True, rectified=True)


def radam_closure_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """RAdamScheduleFreeClosure: θ holds x."""
    return _schedule_free(param, grad, state, hp, t, adam=True, rectified=True, holds_x=True)


def radam_unit_sgd_lr_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """The unsilenced SGD phase at lr 1 whatever γ (pytorch-optimizer's ScheduleFreeRAdam)."""
    return _schedule_free(param, grad, state, hp, t, adam=True, rectified=True, unit_sgd_lr=True)


VARIANTS_RADAM = (
    Variant(
        "unit-sgd-lr",
        radam_unit_sgd_lr_step,
        "with silent_sgd_phase=False the SGD phase (ρ_t ≤ 4) steps at lr 1.0 whatever γ "
        "(γ_t = float(not silent_sgd_phase)), and the weights follow that lr",
        "pytorch-optimizer 4.1.0 ScheduleFreeRAdam.step",
    ),
)


# pytorch-optimizer's apply_ams_bound adds exp_avg_sq_eps = 1e-15 to v̂ before the root.
SQRT_FLOOR = 1e-15
VARIANTS_ADAMW = (
    Variant(
        "lr-bias-correction",
        adamw_lr_bias_correction_step,
        "Adam's bias correction in the step size, γ_t = γ·√(1-β2^t), and ε outside √v "
        "(the averaging weights follow that γ_t)",
        "Defazio et al. 2024, Alg. 1 as printed; schedulefree AdamWScheduleFreePaper",
    ),
    Variant(
        "decay-at-z",
        adamw_decay_at_z_step,
        "weight decay evaluated at z (λ·z) instead of at the gradient point y (λ·y)",
        "schedulefree AdamWScheduleFreeReference(decay_at_z=True)",
    ),
    Variant(
        "sqrt-floor",
        adamw_sqrt_floor_step,
        "a fixed 1e-15 added to v̂ under the square root, √(v̂ + 1e-15) + ε: gradients below "
        "about 3e-8 take shorter steps than Alg. 1's",
        "pytorch-optimizer 4.1.0 ScheduleFreeAdamW (BaseOptimizer.apply_ams_bound)",
    ),
)
VARIANTS_SGD = ()  # neither package's SGD has another form (SGDScheduleFreeReference: none)


def constraint(hp: Hyper) -> str | None:
    """What the packages accept: lr ≥ 0, β2 in [0, 1), β in (0, 1) (eval() divides by it),
    ε, λ, r, p ≥ 0, warm-up steps ≥ 0."""
    betas = hp.get("betas", (0.9, 0.999))
    if not (0.0 < beta_of(hp) < 1.0 and 0.0 <= betas[1] < 1.0):
        return "betas[0] (momentum) must lie in (0, 1) and betas[1] in [0, 1)"
    if not hp.get("lr", 1.0) >= 0:  # lr = 0 is accepted: every weight 0, c = 0, nothing moves
        return "lr must be non-negative"
    others = ("eps", "weight_decay", "r", "weight_lr_power", "warmup_steps")
    if any(hp.get(k, 0.0) < 0 for k in others):
        return f"{', '.join(others)} must be non-negative"
    return None


def bytes_per_element_adamw(hp: Hyper, itemsize: int) -> int:
    """y, z and v read + write (6), grad read (1)."""
    return 7 * itemsize


def bytes_per_element_sgd(hp: Hyper, itemsize: int) -> int:
    """y and z read + write (4), grad read (1)."""
    return 5 * itemsize


def update_scale_adamw(hp: Hyper, exponent: int) -> float:
    """|g|/(√v̂ + ε) is of order 1 whatever the gradients' size, so about γ."""
    return float(hp.get("lr", 0.0025))


def update_scale_sgd(hp: Hyper, exponent: int) -> float:
    return float(hp.get("lr", 1.0)) * 10.0**exponent


ADAMW_ERROR_MODEL = ErrorModel("AdamWScheduleFree", adamw_step, update_scale_adamw)
SGD_ERROR_MODEL = ErrorModel("SGDScheduleFree", sgd_step, update_scale_sgd)
ADAMW_CLOSURE_ERROR_MODEL = ErrorModel(
    "AdamWScheduleFreeClosure", adamw_closure_step, update_scale_adamw
)
SGD_CLOSURE_ERROR_MODEL = ErrorModel("SGDScheduleFreeClosure", sgd_closure_step, update_scale_sgd)


def update_scale_radam(hp: Hyper, exponent: int) -> float:
    """The SGD phase (unsilenced) steps by γ·|g|, the rectified one by about γ."""
    return float(hp.get("lr", 0.0025)) * max(1.0, 10.0**exponent)


RADAM_ERROR_MODEL = ErrorModel("RAdamScheduleFree", radam_step, update_scale_radam)
RADAM_CLOSURE_ERROR_MODEL = ErrorModel(
    "RAdamScheduleFreeClosure", radam_closure_step, update_scale_radam
)
