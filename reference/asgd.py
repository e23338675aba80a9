"""ASGD (averaged SGD) in float64, in torch's arrangement.

Polyak & Juditsky 1992, "Acceleration of Stochastic Approximation by Averaging" (SIAM J.
Control Optim. 30(4)), for the iterate average; the step-size schedule, the λ decay term and
the averaging start t0 follow Bottou 2012, "Stochastic Gradient Descent Tricks" (Neural
Networks: Tricks of the Trade, §5.3, ASGD: η_t = η_0(1+λη_0 t)^(-3/4), μ_t = 1/max(1, t-t0)).
torch.optim.ASGD's docs give no algorithm, so torch/optim/asgd.py (torch 2.13) is the spec:
    state at the first step: η = lr (the lr of that step), μ = 1, ax = 0
    g <- -g if maximize;   g <- g + wθ  (weight_decay w, coupled)
    θ <- θ(1 - λη) - η g                       (uses η, μ from the previous step)
    ax <- ax + μ(θ - ax)  if μ ≠ 1  else  θ     (the running average, never used for θ)
    η <- lr / (1 + λ·lr·t)^α;   μ <- 1 / max(1, t - t0)          (for step t+1)
With torch's step count t from 1, μ used at step t is 1/max(1, t-1-t0): ax_t = θ_t while
t ≤ t0+2, then (integer t0) ax_t is the mean of θ_{t0+2}, …, θ_t: Bottou's ā with his
t counted from 0. ax is state only: the parameters are plain SGD with decaying η.

torch's arithmetic, for a tolerance model: η and μ are 0-dim tensors of torch's scalar dtype,
float32 unless torch.get_default_dtype() is float64. Each step stores fl32 of the Python-
double η and μ (η = lr is stored as fl32(lr) at the first step), and θ, ax are then updated in
float64 with those rounded values: relative error ~6e-8 against this reference, reproduced by
``float32_scalars_step``. The foreach path goes further: it computes η from the float32 step
tensor, i.e. in float32 arithmetic (``float32_scalars_foreach_step``), so forloop and foreach
disagree by float32 ulps of η under the default dtype. load_state_dict casts η and μ to the
param's dtype, so a run resumed from a state_dict continues in float64 and leaves the
uninterrupted trajectory. The forloop path computes θ(1-λη) - ηg, the foreach path
θ - η(g + wθ + λθ): equal up to rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optcheck.reference.ops import update
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State


def _eta_foreach_float32(lr: float, lambd: float, alpha: float, t: int) -> float:
    """torch's foreach η under a float32 default dtype: ``lr / ((1 + lambd*lr*step)**alpha)``
    with ``step`` a float32 tensor, so float32 arithmetic throughout: λ·lr (a double) times
    fl32(t) in float32, 1 + … in float32, pow as fl32 of the double pow, and ``lr / x``
    as torch's __rtruediv__, fl32(1/x)·fl32(lr)."""
    f32 = np.float32
    base = f32(1.0) + f32(lambd * lr) * f32(t)
    power = f32(float(base) ** alpha)
    return float((f32(1.0) / power) * f32(lr))


def _asgd(
    param: Array, grad: Array, state: State, hp: Hyper, t: int, *, float32_scalars: str = ""
) -> tuple[Array, dict]:
    lr = hp["lr"]
    lambd, alpha, t0 = hp.get("lambd", 1e-4), hp.get("alpha", 0.75), hp.get("t0", 1e6)
    wd = hp.get("weight_decay", 0.0)

    def scalar(x: Any) -> Any:
        # float() only for the documented float32 arithmetic; the spec keeps x visible to the
        # error model (reference.ops).
        return float(np.float32(x)) if float32_scalars else x

    eta = state.get("eta", scalar(lr))
    mu = state.get("mu", 1.0)
    ax = state.get("ax", np.zeros_like(param))
    g = -grad if hp.get("maximize", False) else grad
    if wd != 0:
        g = g + wd * param
    # torch's forloop: θ <- θ·(1 - λη), then θ <- θ - η·g (η a scalar operand).
    new_param = update(param * (1.0 - lambd * eta), eta * g)
    # μ is a function of t and t0 only (exact control flow, not a branch on array values).
    ax = ax + (new_param - ax) * mu if mu != 1 else new_param.copy()
    if float32_scalars == "foreach":
        new_eta = _eta_foreach_float32(lr, lambd, alpha, t)
    else:
        new_eta = scalar(lr / ((1 + lambd * lr * t) ** alpha))
    new_state = {"eta": new_eta, "mu": scalar(1 / max(1, t - t0)), "ax": ax}
    return new_param, new_state


def asgd_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.ASGD: SGD with η_t = lr/(1+λ·lr·t)^α, decay θ(1-λη) and the average ax."""
    return _asgd(param, grad, state, hp, t)


def float32_scalars_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch's forloop arithmetic when torch.get_default_dtype() is float32 (the default):
    η and μ computed as Python doubles, stored as float32 between steps; θ and ax updated in
    float64. Not a variant (~6e-8 of the displacement): it documents why float64 ASGD
    differs from ``asgd_step`` beyond round-off unless the default dtype is float64."""
    return _asgd(param, grad, state, hp, t, float32_scalars="forloop")


def float32_scalars_foreach_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """As ``float32_scalars_step`` for torch's foreach path, which computes η_{t+1} from the
    float32 step tensor, i.e. in float32 arithmetic (``_eta_foreach_float32``); μ is still a
    Python double rounded to float32. The two torch paths then differ by float32 ulps of η."""
    return _asgd(param, grad, state, hp, t, float32_scalars="foreach")


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.ASGD's constructor would raise ValueError, or None.

    torch checks lr and weight_decay only. lambd < 0, t0 and alpha are accepted; the
    formulas break (NaN η) once 1 + λ·lr·t ≤ 0, which torch does not reject.
    """
    if not hp.get("lr", 1e-2) >= 0:
        return "Invalid learning rate: lr must be >= 0"
    if not hp.get("weight_decay", 0.0) >= 0:
        return "Invalid weight_decay value: weight_decay must be >= 0"
    return None


SPACE = (
    Real("lr", 1e-6, 1.0, 1e-2, log=True),
    # λ = 0: η constant and no decay term.
    Real("lambd", 0.0, 0.1, 1e-4, special=(0.0, 1e-4)),
    # α = 0: η constant; 0.75: Bottou's exponent.
    Real("alpha", 0.0, 1.0, 0.75, special=(0.0, 0.75, 1.0)),
    # t0 = 0 averages from step 2; small t0 starts the average inside a short run; the
    # default 1e6 never starts it (ax = θ).
    Real("t0", 1.0, 1e6, 1e6, log=True, special=(0.0, 3.0, 1e6)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)
STATE_KEYS = ("step", "eta", "mu", "ax")  # 'step' is the reference's t
# torch 2.13 on CPU: forloop and foreach, no fused kernel (no `fused` keyword).
IMPLEMENTATIONS = ("forloop", "foreach")
SOURCE = (
    "Polyak & Juditsky 1992 (averaging); Bottou 2012, SGD Tricks §5.3 (η_t, μ_t, t0); "
    "torch/optim/asgd.py (torch's docs give no algorithm)"
)
VARIANTS: tuple = ()
# Memory traffic of one torch step per parameter element (minimal, fused-kernel count):
# read θ, g, ax; write θ, ax -> 5 arrays (ax = θ while μ = 1 still writes ax). η, μ are
# scalars per tensor.
_ARRAYS_PER_ELEMENT = 5


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Bytes one ideal single-pass step moves per parameter element."""
    return _ARRAYS_PER_ELEMENT * itemsize


def asgd_update_scale(hp: Hyper, exponent: int) -> float:
    """One ASGD update is η_t·|g + wθ| + λη_t|θ| with η_t ≤ lr and |g| ~ 10^exponent: about
    lr·10^exponent (the decay term is a fraction λη of θ, below the gradient step for the
    params drawn near it)."""
    return float(hp.get("lr", 1e-2)) * 10.0**exponent


# The error model is the step itself (reference.ops): η and μ are tracked scalars in the hyper
# precision (float32 for float32 and lower), which covers torch storing them as float32 0-d
# tensors in those runs. In float64 the model keeps η in float64: torch under its default
# dtype float32 rounds η to float32 (module docstring), a torch finding, not round-off of a
# float64 algorithm (see tests/test_crossval_records_b.py).
ASGD_ERROR_MODEL = ErrorModel("ASGD", asgd_step, asgd_update_scale)
