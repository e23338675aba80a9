"""Lion in float64 (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
arXiv:2302.06675, Algorithm 2), with the variants real packages implement.

Algorithm 2 (decoupled weight decay λ, learning rate η):
    c_t = β1 m_{t-1} + (1-β1) g_t                   (interpolation, not stored)
    θ_t = θ_{t-1} - η (sign(c_t) + λ θ_{t-1})       i.e. θ(1-ηλ) - η sign(c)
    m_t = β2 m_{t-1} + (1-β2) g_t                   (exp_avg, m_0 = 0)
g is -g with maximize (pytorch-optimizer's keyword). Every update coordinate is ±η or 0
(sign(0) = 0, torch.sign and torch.sgn alike).

Round-off: sign() of an interpolation within round-off of 0 may come out either way in the
target's arithmetic (β1 m + (1-β1) g as a sum or as m.lerp(g, 1-β1)); run on tracked values
(checks.errorprop) such a coordinate's sign is uncertain and its tolerance covers a flip (2η),
every other coordinate is compared at the rounding of θ(1-ηλ) - η·s alone.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.decay import before_step, decay_variants
from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = "Chen et al. 2023, Symbolic Discovery of Optimization Algorithms, Alg. 2 (Lion)"
STATE_KEYS = ("exp_avg",)
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-4, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("beta2", 0.0, 0.9999, 0.99, special=(0.99, 0.0)),
    ),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _lion(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    *,
    coupled: bool = False,
    decay_scale: float | None = None,
    sign_of_new_momentum: bool = False,
) -> tuple[Array, dict]:
    lr = hp["lr"]
    b1, b2 = hp.get("betas", (0.9, 0.99))
    param, g = before_step(param, grad, hp, coupled=coupled, decay_scale=decay_scale)
    m = state.get("exp_avg", np.zeros_like(param))
    m_new = ema(m, g, b2)
    c = ema(m_new, g, b1) if sign_of_new_momentum else ema(m, g, b1)
    return update(param, lr * np.sign(c)), {"exp_avg": m_new}


def lion_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Lion, Algorithm 2: θ(1-ηλ) - η·sign(β1 m + (1-β1) g); m <- β2 m + (1-β2) g."""
    return _lion(param, grad, state, hp)


def new_momentum_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """The sign taken after the momentum update: sign(β1 m_t + (1-β1) g), m_t already updated
    with β2 (the order of Algorithm 2's two lines swapped)."""
    return _lion(param, grad, state, hp, sign_of_new_momentum=True)


VARIANTS = (
    *decay_variants(
        _lion,
        "pytorch-optimizer Lion(weight_decouple=False)",
        "pytorch-optimizer Lion(fixed_decay=True)",
    ),
    Variant(
        "new-momentum",
        new_momentum_step,
        "sign of the interpolation with the already updated momentum (Alg. 2's lines swapped)",
        "a slip of ports that update exp_avg in place before interpolating",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """The ranges real Lions accept (lr ≥ 0, betas in [0, 1], λ ≥ 0). lr = 0 is in: Alg. 2
    is the identity there, and the authors' PyTorch code (google/automl lion_pytorch.py)
    raises only below 0; a port asserting lr > 0 (lion-pytorch) refuses it on its own."""
    b1, b2 = hp.get("betas", (0.9, 0.99))
    if not (0.0 <= b1 <= 1.0 and 0.0 <= b2 <= 1.0):
        return "betas must lie in [0, 1]"
    if not hp.get("lr", 1e-4) >= 0:
        return "lr must be non-negative"
    if hp.get("weight_decay", 0.0) < 0:
        return "weight_decay must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """param read + write (2), grad read (1), exp_avg read + write (2): 5 elements."""
    return 5 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """Every update coordinate is ±η (or 0) whatever the gradients' size."""
    return float(hp.get("lr", 1e-4))


LION_ERROR_MODEL = ErrorModel("Lion", lion_step, update_scale)
