"""RMSprop in float64, torch's arrangement, with the TF/Keras forms and Hinton's lecture form.

RMSprop (Tieleman & Hinton 2012, COURSERA Neural Networks lecture 6.5, "rmsprop: divide the
gradient by a running average of its recent magnitude": MeanSquare_t = 0.9 MeanSquare_{t-1}
+ 0.1 g², step ∝ g/√MeanSquare_t) and its centred form (Graves 2013, arXiv:1308.0850,
eqs. 38-41: divide by √(n - ḡ² + ε)), in torch's arrangement (torch.optim.RMSprop docs):
    g <- -g if maximize;  g <- g + λθ                          (L2, coupled decay)
    v_t = α v + (1-α) g²                                      (square_avg, v_0 = 0)
    ṽ = v_t;  if centered: ḡ_t = α ḡ + (1-α) g  (grad_avg, ḡ_0 = 0);  ṽ = v_t - ḡ_t²
    d = √ṽ + ε                                                (ε outside the root)
    μ > 0: b_t = μ b + g/d (momentum_buffer, b_0 = 0);  θ <- θ - η b_t   (lr outside b)
    μ = 0: θ <- θ - η g/d
torch arrangement (2.13): ``square_avg.mul_(α).addcmul_(g, g, value=1-α)``; grad_avg by
``lerp_(g, 1-α)`` (so ḡ + (1-α)(g - ḡ), not αḡ + (1-α)g); ṽ by ``addcmul(ḡ, ḡ, value=-1)``
then ``sqrt_``; ``buf.mul_(μ).addcdiv_(g, d)``; ``param.add_(buf, alpha=-η)`` or
``param.addcdiv_(g, d, value=-η)``. 1-α is a Python double. No fused implementation.

Centred caveat: ṽ = v - ḡ² is a difference of nearly equal numbers when the gradient is
nearly constant (v ≈ ḡ²); there its relative rounding error grows like v/ṽ, and a rounded
ṽ < 0 gives NaN in torch and here alike.

torch accepts α > 1 and μ ≥ 1 (it checks only α ≥ 0, μ ≥ 0): v can then go negative (NaN)
or b grow without bound; ``constraint`` mirrors torch and accepts them, ``SPACE`` never
draws them.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Tieleman & Hinton 2012, Coursera NN lecture 6.5 (rmsprop); Graves 2013, arXiv:1308.0850 "
    "eqs. 38-41 (centred); torch.optim.RMSprop docs (ε outside √, lr outside the buffer)"
)
# momentum_buffer exists only when momentum > 0, grad_avg only when centered.
STATE_KEYS = ("step", "square_avg", "momentum_buffer", "grad_avg")
IMPLEMENTATIONS = ("forloop", "foreach")  # RMSprop has no fused= keyword in torch 2.13

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-2, log=True),
    # α ≥ 0.5: below it the centred ṽ = α(1-α)g²-like variance estimate is too noisy to be safe.
    Real("alpha", 0.5, 0.9999, 0.99, special=(0.99,)),
    Real("eps", 1e-12, 1e-3, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    # 0: no buffer (θ -= η g/d); > 0: heavy ball on g/d.
    Real("momentum", 0.0, 0.99, 0.0, special=(0.0, 0.9)),
    Flag("centered"),
    Flag("maximize"),
)


def _direction(param: Array, grad: Array, hp: Hyper) -> Array:
    g = -grad if hp.get("maximize", False) else grad
    wd = hp.get("weight_decay", 0.0)
    return g + wd * param if wd != 0 else g


def _rmsprop(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    *,
    eps_inside_sqrt: bool = False,
    lr_in_buffer: bool = False,
    square_avg_start: float = 0.0,
) -> tuple[Array, dict]:
    lr, alpha, eps = hp["lr"], hp.get("alpha", 0.99), hp.get("eps", 1e-8)
    mu = hp.get("momentum", 0.0)
    g = _direction(param, grad, hp)
    v_prev = state.get("square_avg")
    if v_prev is None:
        v_prev = np.zeros_like(param)
        if square_avg_start != 0:
            v_prev = v_prev + square_avg_start
    v = ema(v_prev, g * g, alpha)
    new_state: dict = {"square_avg": v}
    var = v
    if hp.get("centered", False):
        ga = ema(state.get("grad_avg", np.zeros_like(param)), g, alpha)
        new_state["grad_avg"] = ga
        var = v - ga * ga
    d = np.sqrt(var + eps) if eps_inside_sqrt else np.sqrt(var) + eps
    if mu > 0:
        buf_prev = state.get("momentum_buffer", np.zeros_like(param))
        if lr_in_buffer:
            buf = mu * buf_prev + lr * g / d
            new_state["momentum_buffer"] = buf
            return update(param, buf), new_state
        buf = mu * buf_prev + g / d
        new_state["momentum_buffer"] = buf
        return update(param, lr * buf), new_state
    return update(param, lr * g / d), new_state


def rmsprop_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.RMSprop: d = √ṽ + ε; b = μb + g/d, θ -= ηb (or θ -= η g/d at μ = 0)."""
    return _rmsprop(param, grad, state, hp)


def keras_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Keras 3 / TF2 form: ε under the root and η inside the momentum buffer.

    keras.optimizers.RMSprop.update_step: increment = η g/√(v + ε) (centred: √(v - ḡ² + ε));
    μ > 0: b = μb + increment, θ -= b. The ε placement differs from torch at every μ (by
    ≈ ε/(2ṽ) relative where ṽ ≫ ε, most where |g| ≈ √ε); η inside b differs further when
    η changes between steps. weight_decay and maximize act on g as in torch.
    """
    return _rmsprop(param, grad, state, hp, eps_inside_sqrt=True, lr_in_buffer=True)


def tf1_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """TF1 tf.train.RMSPropOptimizer (and ports such as timm's RMSpropTF): Keras's form with
    the mean square started at ONE (its "rms" slot uses ones_initializer), not zero.

    ApplyRMSProp: ms = ρ ms + (1-ρ) g²; mom = μ mom + η g/√(ms + ε); θ -= mom. Starting at
    1 makes the first steps ≈ η g instead of ≈ η g/(√(1-α)|g|): the difference is large
    until α^t has decayed.
    """
    return _rmsprop(
        param, grad, state, hp, eps_inside_sqrt=True, lr_in_buffer=True, square_avg_start=1.0
    )


def hinton_lecture_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """The lecture's rmsprop: θ -= η g/√v, no ε, no momentum, no centring.

    momentum and centered are ignored (the lecture has neither). Against torch with
    momentum = 0 and centered = False the only difference is the missing ε: relative
    ε/√v per step (≈ 1e-4 at |g| ≈ 1e-3 with ε = 1e-8, invisible at |g| ≫ ε); at eps = 0
    the two coincide. An all-zero gradient history gives 0/0 = NaN, as the formula does.
    """
    hp0 = {**hp, "momentum": 0.0, "centered": False, "eps": 0.0}
    return _rmsprop(param, grad, state, hp0)


VARIANTS = (
    Variant(
        "keras",
        keras_step,
        "ε under the root, g/√(v+ε), and η inside the momentum buffer (b = μb + ηg/√(v+ε))",
        "Keras 3 keras.optimizers.RMSprop.update_step; torch.optim.RMSprop docs note that "
        "TensorFlow interchanges √ and +ε",
    ),
    Variant(
        "tf1-ones-init",
        tf1_step,
        "Keras's form with the mean square started at 1 instead of 0",
        "TF1 tf.compat.v1.train.RMSPropOptimizer (_create_slots: ones_initializer; "
        "ApplyRMSProp); timm RMSpropTF",
    ),
    Variant(
        "hinton-lecture",
        hinton_lecture_step,
        "g/√v with no ε, no momentum, no centring (differs from torch at μ = 0 only by ε)",
        "Tieleman & Hinton 2012, Coursera NN lecture 6.5",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.RMSprop's constructor would raise ValueError, or None.

    torch checks lr, eps, momentum, weight_decay and alpha for ≥ 0 only: α > 1 and μ ≥ 1 are
    accepted (and diverge), so they are valid here too.
    """
    for key in ("lr", "eps", "momentum", "weight_decay", "alpha"):
        if hp.get(key, 0.0) < 0:
            return f"{key} must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Memory traffic of one step per parameter element, one pass over every tensor.

    param read + write (2), grad read (1), square_avg read + write (2) = 5 elements, plus 2
    for momentum_buffer when momentum > 0 and 2 for grad_avg when centered (5 to 9). torch
    has no fused kernel: forloop/foreach run 5-9 elementwise kernels with temporaries (d,
    ṽ), so they move about twice this.
    """
    n = 5 + (2 if hp.get("momentum", 0.0) > 0 else 0) + (2 if hp.get("centered", False) else 0)
    return n * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """How big one RMSprop update is: η|g|/(√v + ε) with v ≥ (1-α)g² gives at most
    η/√(1-α) (the first step, v = (1-α)g²), about η for steady gradients; with momentum μ the
    buffer sums up to 1/(1-μ) of them. Independent of the gradients' size. The scale is the
    steady η/(1-μ): params drawn at 10^[0,2] of it keep updates visible."""
    return float(hp.get("lr", 1e-2)) / (1.0 - min(float(hp.get("momentum", 0.0)), 0.99))


# float16: no override. v ≥ (1-α)g² with α ≤ 0.9999 and |g| ≥ 0.1 is ≥ 1e-6, below float16's
# normals for α near 1, where the engine's u·tiny floors bound the subnormal rounding; g² > 65504
# and a lone ε after a zero gradient are classified outside by the engine (overflow, divisor).
RMSPROP_ERROR_MODEL = ErrorModel("RMSprop", rmsprop_step, update_scale)
