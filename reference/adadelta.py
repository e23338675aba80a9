"""Adadelta in float64, torch's arrangement, with Zeiler's original (no learning rate).

Adadelta (Zeiler 2012, arXiv:1212.5701, Algorithm 1; RMS[y]_t = √(E[y²]_t + ε), eq. 9):
    E[g²]_t = ρ E[g²]_{t-1} + (1-ρ) g²
    Δx_t = -(RMS[Δx]_{t-1} / RMS[g]_t) g                        (eq. 14)
    E[Δx²]_t = ρ E[Δx²]_{t-1} + (1-ρ) Δx²;   x_{t+1} = x_t + Δx_t
torch's arrangement (torch.optim.Adadelta docs) adds a learning rate that scales the
applied step only, not the accumulated one, plus L2 decay and maximize:
    g <- -g if maximize;  g <- g + λθ
    v_t = ρ v + (1-ρ) g²                                      (square_avg, v_0 = 0)
    δ = √(u + ε) / √(v_t + ε) · g                             (u = acc_delta, u_0 = 0)
    u_t = ρ u + (1-ρ) δ²;   θ <- θ - η δ
torch arrangement (2.13): ``square_avg.mul_(ρ).addcmul_(g, g, value=1-ρ)``;
``std = square_avg.add(eps).sqrt_()``; ``delta = acc_delta.add(eps).sqrt_().div_(std).mul_(g)``
(i.e. (√(u+ε)/√(v+ε))·g); ``acc_delta.mul_(ρ).addcmul_(δ, δ, value=1-ρ)``;
``param.add_(delta, alpha=-η)``. 1-ρ is a Python double. No fused implementation.

torch accepts ρ = 1 (it checks 0 ≤ ρ ≤ 1): then v and u stay 0, δ = (√ε/√ε)·g = g exactly
and Adadelta is plain SGD with lr η.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Zeiler 2012, arXiv:1212.5701, Algorithm 1 and eqs. 9, 14; torch.optim.Adadelta docs "
    "(lr scales the applied step)"
)
STATE_KEYS = ("step", "square_avg", "acc_delta")
IMPLEMENTATIONS = ("forloop", "foreach")  # Adadelta has no fused= keyword in torch 2.13

SPACE = (
    # torch's default 1.0 is Zeiler's (no lr); other values scale the step only.
    Real("lr", 1e-3, 2.0, 1.0, log=True, special=(1.0,)),
    # 0: v = g², u = δ² (no memory); 1: v = u = 0 forever, δ = g (plain SGD).
    Real("rho", 0.0, 1.0, 0.9, special=(0.9, 0.0, 1.0)),
    Real("eps", 1e-10, 1e-3, 1e-6, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("maximize"),
)


def _direction(param: Array, grad: Array, hp: Hyper) -> Array:
    g = -grad if hp.get("maximize", False) else grad
    wd = hp.get("weight_decay", 0.0)
    return g + wd * param if wd != 0 else g


def _adadelta(param: Array, grad: Array, state: State, hp: Hyper, lr: float) -> tuple[Array, dict]:
    rho, eps = hp.get("rho", 0.9), hp.get("eps", 1e-6)
    g = _direction(param, grad, hp)
    v = ema(state.get("square_avg", np.zeros_like(param)), g * g, rho)
    u_prev = state.get("acc_delta", np.zeros_like(param))
    delta = np.sqrt(u_prev + eps) / np.sqrt(v + eps) * g
    u = ema(u_prev, delta * delta, rho)
    return update(param, lr * delta), {"square_avg": v, "acc_delta": u}


def adadelta_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.Adadelta: δ = √(u+ε)/√(v+ε)·g, u accumulates δ², θ -= η δ."""
    return _adadelta(param, grad, state, hp, hp["lr"])


def zeiler_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Zeiler's Algorithm 1 as printed: x += Δx with no learning rate (η ignored, i.e. 1).

    Equal to torch at lr = 1 (torch's default); differs at any other lr, and under a
    scheduler (which such an implementation ignores).
    """
    return _adadelta(param, grad, state, hp, 1.0)


VARIANTS = (
    Variant(
        "zeiler-original",
        zeiler_step,
        "no learning rate: x += Δx, lr ignored (equals torch only at lr = 1)",
        "Zeiler 2012, arXiv:1212.5701, Algorithm 1",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.Adadelta's constructor would raise ValueError, or None."""
    if not 0.0 <= hp.get("rho", 0.9) <= 1.0:
        return "rho must lie in [0, 1]"
    for key in ("lr", "eps", "weight_decay"):
        if hp.get(key, 0.0) < 0:
            return f"{key} must be non-negative"
    return None


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Memory traffic of one step per parameter element, one pass over every tensor.

    param read + write (2), grad read (1), square_avg read + write (2), acc_delta read +
    write (2): 7 elements whatever the flags. torch has no fused kernel: forloop/foreach run
    8 elementwise kernels with two temporaries (std, delta), about 2-3 times this.
    """
    return 7 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """How big one Adadelta update is: η|δ|, δ = √(u+ε)/√(v+ε)·g. The first step (u = 0,
    v = (1-ρ)g²) is η√ε/√((1-ρ) + ε/g²) ≤ η√(ε/(1-ρ)), and u then grows like (1-ρ)Σδ², so δ
    stays of that order over a drawn run; it never exceeds |g| (ρ = 1: δ = g exactly)."""
    lr, rho, eps = float(hp.get("lr", 1.0)), float(hp.get("rho", 0.9)), float(hp.get("eps", 1e-6))
    g = 10.0**exponent
    return lr * min(g, float(np.sqrt(eps / (1.0 - rho)))) if rho < 1 else lr * g


# float16: ε ≥ 1e-4, for informative cases, not for soundness (torch stays inside the bound
# over the whole space too: checked, worst 0.65 of tolerance). With u = 0 the numerator is √ε
# alone; ε below float16's normals (2^-14 ≈ 6.1e-5; torch's default 1e-6 is a subnormal with
# 4 % spacing, ε < 2^-25 rounds to 0) makes the first steps that subnormal's root (or 0), which
# the bound covers only through its absolute u·tiny floor, as large as δ itself: such a case
# compares nothing. ε ≥ 1e-4 keeps √(u+ε) and the steps normal numbers, the bound relative.
_FLOAT16 = (Real("eps", 1e-4, 1e-3, 1e-4, log=True),)
ADADELTA_ERROR_MODEL = ErrorModel("Adadelta", adadelta_step, update_scale, {"float16": _FLOAT16})
