"""Adagrad in float64, torch's arrangement, with the ε placements other libraries use.

Adagrad (Duchi, Hazan & Singer 2011, JMLR 12, Figure 1, "Adagrad with diagonal matrices":
x_{t+1} = x_t - η (δI + diag(s_t))^-1 g_t with s_{t,i} = ‖g_{1:t,i}‖₂, i.e. δ outside the
root), in torch's arrangement (torch.optim.Adagrad docs, the algorithm box):
    g <- -g if maximize;  g <- g + λθ                          (L2, coupled decay)
    η̃_t = η / (1 + (t-1)·lr_decay)                             (Lua torch's decay, not in the paper)
    s_0 = τ (initial_accumulator_value);  s_t = s_{t-1} + g²
    θ <- θ - η̃_t g / (√s_t + ε)                                 (ε is the paper's δ)
t is the tensor's own step count (torch's state['step'], per parameter), so lr_decay of a
tensor that skipped steps follows its own count, not the optimizer's.

torch arrangement (2.13): forloop is ``sum.addcmul_(g, g); std = sum.sqrt().add_(eps);
param.addcdiv_(g, std, value=-clr)``; foreach multiplies g by -clr first and then
``addcdiv``s by std; the fused CPU kernel computes ``param - clr * g / std`` in one pass.
clr is a Python double (the step count read back from a float32 tensor, exact below 2^24).

torch quirk (2.13): the accumulator's start value is always the constructor's
``initial_accumulator_value`` (state is created in __init__ from the argument, and lazily in
_init_group from ``self.defaults``); a per-group ``initial_accumulator_value`` is stored in
param_groups but never used. The reference takes τ from hp, i.e. the constructor's value.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import update
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Duchi, Hazan & Singer 2011, JMLR 12, Fig. 1 (diagonal Adagrad, δ outside the root); "
    "torch.optim.Adagrad docs (lr_decay, initial_accumulator_value)"
)
STATE_KEYS = ("step", "sum")
# torch 2.13 on CPU: Adagrad(fused=True) exists (one-pass kernel), besides foreach/forloop.
IMPLEMENTATIONS = ("forloop", "foreach", "fused")

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-2, log=True),
    # 0: constant lr; > 0: η/(1 + (t-1)d), a hyperbolic decay by the tensor's step count.
    Real("lr_decay", 0.0, 1.0, 0.0, special=(0.0,)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    # 0: the first step is -η g/(|g|+ε) (a sign step); > 0 damps the first steps.
    Real("initial_accumulator_value", 0.0, 1.0, 0.0, special=(0.0, 0.1)),
    Real("eps", 1e-12, 1e-3, 1e-10, log=True),
    Flag("maximize"),
)


def _direction(param: Array, grad: Array, hp: Hyper) -> Array:
    g = -grad if hp.get("maximize", False) else grad
    wd = hp.get("weight_decay", 0.0)
    return g + wd * param if wd != 0 else g


def _adagrad(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    t: int,
    *,
    eps_inside_sqrt: bool = False,
    eps_seed: bool = False,
) -> tuple[Array, dict]:
    lr, eps = hp["lr"], hp.get("eps", 1e-10)
    g = _direction(param, grad, hp)
    start = eps if eps_seed else hp.get("initial_accumulator_value", 0.0)
    prev = state.get("sum")
    if prev is None:
        # torch: full_like(param, τ), τ cast to the dtype (the cast is all the sum's rounding).
        prev = np.zeros_like(param) + start if start != 0 else np.zeros_like(param)
    s = prev + g * g
    clr = lr / (1.0 + (t - 1) * hp.get("lr_decay", 0.0))
    if eps_seed:
        denom = np.sqrt(s)
    elif eps_inside_sqrt:
        denom = np.sqrt(s + eps)
    else:
        denom = np.sqrt(s) + eps
    return update(param, clr * g / denom), {"sum": s}


def adagrad_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.Adagrad: θ -= η/(1+(t-1)d) · g/(√s + ε), s_0 = initial_accumulator_value."""
    return _adagrad(param, grad, state, hp, t)


def eps_inside_sqrt_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """ε under the root, g/√(s + ε), s_0 = initial_accumulator_value.

    Keras 3 (keras.optimizers.Adagrad.update_step: lr·g / sqrt(accumulator + ε)) puts ε there.
    Differs from torch by ≈ ε/(2s) relative per step at s ≫ ε, most where s is small
    (|g| ≈ √ε), so a run with small gradients tells them apart.
    """
    return _adagrad(param, grad, state, hp, t, eps_inside_sqrt=True)


def eps_seeded_accumulator_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Accumulator started at ε (initial_accumulator_value ignored), no ε in the denominator.

    TF1's ApplyAdagrad arrangement (var -= lr·g/√accum: the accumulator's start value is the
    only stabiliser) with the stabiliser taken from ε. In exact arithmetic it equals
    ``eps_inside_sqrt_step`` when initial_accumulator_value = 0 (both g/√(ε + Σg²)); the two
    part only at initial_accumulator_value > 0, where this one ignores it.
    """
    return _adagrad(param, grad, state, hp, t, eps_seed=True)


VARIANTS = (
    Variant(
        "eps-inside-sqrt",
        eps_inside_sqrt_step,
        "ε under the square root: g/√(s+ε) instead of g/(√s+ε)",
        "Keras 3 keras.optimizers.Adagrad (update_step)",
    ),
    Variant(
        "eps-seeded-accumulator",
        eps_seeded_accumulator_step,
        "accumulator started at ε instead of initial_accumulator_value, no ε added: g/√(ε+Σg²)"
        " (equals eps-inside-sqrt when initial_accumulator_value = 0)",
        "TF1 tf.train.AdagradOptimizer (ApplyAdagrad: seeded accumulator, no ε) with ε as seed",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.Adagrad's constructor would raise ValueError, or None."""
    for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
        if hp.get(key, 0.0) < 0:
            return f"{key} must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Memory traffic of one step per parameter element, one pass (the fused kernel's).

    param read + write (2), grad read (1), sum read + write (2): 5 elements. Flags change
    nothing: weight decay reads the param already read, maximize is a sign. The forloop and
    foreach paths run 4-6 elementwise kernels with temporaries (std, the scaled numerator),
    so they move roughly twice this; this is the floor a roofline should use.
    """
    return 5 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """How big one Adagrad update is: η̃·|g|/(√s + ε) with s ≥ g², so at most η (the first
    step at τ = 0 is η·sign(g)); later steps are ≈ η/√t for steady gradients, i.e. within
    a factor √12 of η over a drawn run. Independent of the gradients' size (s scales as g²)."""
    return float(hp.get("lr", 1e-2))


# float16: no override. The sum s = τ + Σg² can pass 65504 (|g| ≤ 100 is drawn, g² alone
# reaches 1e4) and a zero gradient at τ = 0 leaves ε alone in the denominator (ε rounds to 0):
# the engine classifies both (overflow, an uncertain divisor) as outside the domain.
ADAGRAD_ERROR_MODEL = ErrorModel("Adagrad", adagrad_step, update_scale)
