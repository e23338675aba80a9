"""SGD, momentum and Nesterov in float64, with torch's convention and the classic form.

torch's convention (torch.optim.SGD docs; Sutskever et al. 2013 §2 rewritten):
    g  <- -g if maximize;  g <- g + λθ                      (L2 weight decay)
    b_1 = g;  b_t = μ b_{t-1} + (1-τ) g                      (buffer starts undampened)
    d = g + μ b_t if nesterov else b_t;  θ <- θ - η d        (lr outside the buffer)
The classic heavy-ball form (Polyak 1964 eq. 9; Sutskever et al. 2013 eq. 1),
    v_t = μ v_{t-1} + η g;  θ <- θ - v_t,
keeps η inside the buffer, so it equals torch's only while η is constant.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import update
from optcheck.reference.spec import Array, ErrorModel, Hyper, State


def _direction(param: Array, grad: Array, hp: Hyper) -> Array:
    g = -grad if hp.get("maximize", False) else grad
    wd = hp.get("weight_decay", 0.0)
    return g + wd * param if wd != 0 else g


def sgd_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.SGD: one step of one tensor."""
    g = _direction(param, grad, hp)
    mu = hp.get("momentum", 0.0)
    if mu == 0:
        return update(param, hp["lr"] * g), {}
    buf = state.get("momentum_buffer")
    # torch: the first buffer is a copy of g, not (1-τ)·g.
    buf = g.copy() if buf is None else mu * buf + (1.0 - hp.get("dampening", 0.0)) * g
    d = g + mu * buf if hp.get("nesterov", False) else buf
    return update(param, hp["lr"] * d), {"momentum_buffer": buf}


def classic_momentum_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Polyak heavy ball, v = μv + ηg; θ -= v (v_0 = 0). Nesterov: θ -= μv + ηg."""
    g = _direction(param, grad, hp)
    mu, lr = hp.get("momentum", 0.0), hp["lr"]
    v_prev = state.get("velocity", np.zeros_like(param))
    v = mu * v_prev + lr * g
    d = mu * v + lr * g if hp.get("nesterov", False) else v
    return update(param, d), {"velocity": v}


def dampened_start_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch's form but with the buffer started at (1-τ)·g: an EMA started from zero."""
    g = _direction(param, grad, hp)
    mu = hp.get("momentum", 0.0)
    tau = hp.get("dampening", 0.0)
    buf = state.get("momentum_buffer", np.zeros_like(param))
    buf = mu * buf + (1.0 - tau) * g
    d = g + mu * buf if hp.get("nesterov", False) else buf
    return update(param, hp["lr"] * d), {"momentum_buffer": buf}


def sgd_constraint(hp: Hyper) -> str | None:
    nesterov_ok = hp.get("momentum", 0.0) > 0 and hp.get("dampening", 0.0) == 0
    if hp.get("nesterov", False) and not nesterov_ok:
        return "nesterov requires momentum > 0 and dampening = 0"
    if hp.get("lr", 0.0) < 0:
        return "lr must be non-negative"
    return None


def sgd_update_scale(hp: Hyper, exponent: int) -> float:
    """One SGD update is η·|d| with |d| ~ |g| ~ 10^exponent."""
    return float(hp.get("lr", 1e-3)) * 10.0**exponent


# The error model is the step itself (see reference.ops).
SGD_ERROR_MODEL = ErrorModel("SGD", sgd_step, sgd_update_scale)
