"""signSGD and Signum in float64 (Bernstein, Wang, Azizzadenesheli & Anandkumar 2018, "signSGD:
Compressed Optimisation for Non-Convex Problems", ICML 2018, arXiv:1802.04434), with the
variants real packages implement.

Algorithm 1 (signSGD), learning rate η:          θ_t = θ_{t-1} - η sign(g_t)
Algorithm 3 (Signum), momentum β ∈ [0, 1):       m_t = β m_{t-1} + (1-β) g_t   (m_0 = 0)
                                                 θ_t = θ_{t-1} - η sign(m_t)
One record holds both: momentum = 0 is Algorithm 1 (no state kept), momentum > 0 Algorithm 3.
The paper has no weight decay; the record's decay is decoupled, θ(1-ηλ) before the update
(pytorch-optimizer's default weight_decouple=True). g is -g with maximize.

A momentum buffer kept as torch.optim.SGD keeps it (m = βm + g from m = 0) is (1-β)⁻¹ times
the EMA, the same signs: such a port is Signum, not a variant of it.

Round-off: as Lion's (reference/lion.py), sign() of a buffer within round-off of 0 may come
out either way in the target's arithmetic; checks.errorprop covers such a coordinate with a
flip (2η) and compares every other one at the rounding of θ(1-ηλ) - η·s alone.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.decay import before_step, decay_variants
from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State

SOURCE = (
    "Bernstein et al. 2018, signSGD: Compressed Optimisation for Non-Convex Problems, "
    "Alg. 1 (signSGD) and Alg. 3 (Signum)"
)
STATE_KEYS = ("momentum_buffer",)
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths

SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Real("momentum", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _signum(
    param: Array,
    grad: Array,
    state: State,
    hp: Hyper,
    *,
    coupled: bool = False,
    decay_scale: float | None = None,
) -> tuple[Array, dict]:
    lr, beta = hp["lr"], hp.get("momentum", 0.9)
    param, g = before_step(param, grad, hp, coupled=coupled, decay_scale=decay_scale)
    if beta == 0:  # Algorithm 1: the gradient's own sign, nothing kept
        return update(param, lr * np.sign(g)), {}
    m = ema(state.get("momentum_buffer", np.zeros_like(param)), g, beta)
    return update(param, lr * np.sign(m)), {"momentum_buffer": m}


def signum_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Signum, Alg. 3 (signSGD, Alg. 1, at β = 0): θ(1-ηλ) - η·sign(m); m <- βm + (1-β)g."""
    return _signum(param, grad, state, hp)


VARIANTS = decay_variants(
    _signum,
    "pytorch-optimizer SignSGD(weight_decouple=False); the authors' MXNet Signum's wd",
    "a slip of ports that decay by λ alone",
)


def constraint(hp: Hyper) -> str | None:
    """The ranges of Alg. 1 and 3 (lr ≥ 0, momentum in [0, 1), λ ≥ 0): at η = 0 both are the
    identity, decoupled decay θ(1 - ηλ) included (pytorch-optimizer 4.1's SignSGD takes it)."""
    if not 0.0 <= hp.get("momentum", 0.9) < 1.0:
        return "momentum must lie in [0, 1)"
    if not hp.get("lr", 1e-3) >= 0:
        return "lr must be non-negative"
    if hp.get("weight_decay", 0.0) < 0:
        return "weight_decay must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """param read + write, grad read (3); with momentum the buffer read + write (2 more)."""
    return (5 if hp.get("momentum", 0.9) else 3) * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """Every update coordinate is ±η (or 0) whatever the gradients' size."""
    return float(hp.get("lr", 1e-3))


SIGNUM_ERROR_MODEL = ErrorModel("SignSGD", signum_step, update_scale)
