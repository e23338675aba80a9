"""Rprop (resilient backpropagation) in float64: torch's iRprop−, Rprop+ and Rprop−.

Riedmiller & Braun 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
RPROP Algorithm" (IEEE ICNN), and Igel & Hüsken 2000, "Improving the Rprop Learning
Algorithm" (NC 2000), which names the four members Rprop+, Rprop−, iRprop+ and iRprop−.
torch.optim.Rprop is iRprop− (Igel & Hüsken 2000): no weight backtracking, and the gradient
is zeroed where its sign flipped. torch's arrangement (torch.optim.Rprop docs;
torch/optim/rprop.py, torch 2.13), per element, with Δ initialised to lr:
    g <- -g if maximize
    s = sign(g · g_prev)                      (sign of the product, so an underflowing
                                               product counts as 0, "no information")
    Δ <- clamp(Δ·η+, Γmin, Γmax)  if s > 0
         clamp(Δ·η−, Γmin, Γmax)  if s < 0,  and g <- 0
         clamp(Δ,    Γmin, Γmax)  if s = 0     (the docs leave Δ unclamped here)
    θ <- θ - Δ·sign(g);   g_prev <- g
clamp is min(max(x, Γmin), Γmax) as torch.clamp: Γmax wins when Γmin > Γmax. The first step
(g_prev = 0) is θ - clamp(lr)·sign(g). The docs' algorithm omits the clamp of the s = 0 branch;
it matters only when lr lies outside step_sizes (then the first step is clamp(lr), not lr).

Also not implemented: iRprop+ (Igel & Hüsken 2000) backtracks only when the loss
went up, so it needs loss values that an open-loop gradient sequence does not carry.

torch's arithmetic: everything elementwise in the param's dtype; Δ is multiplied by the
factor tensor (η+, η−, 1) then clamped; no Python-double scalars besides η±, Γ.

The steps are written in the error model's vocabulary (reference.ops): Δ starts as
``zeros_like(g) + lr`` (torch's full_like, lr cast to the dtype), the branches are ``np.where``
on the sign of g·g_prev, the parameter update is ``ops.update``. Run on tracked values
(checks.errorprop), a sign of a product within round-off of 0 is uncertain (it may flip in
the target's precision), and so is every branch taken on it.
"""

from __future__ import annotations

import numpy as np

from optcheck.reference import ops
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant


def _clamp(x: Array, lo: float, hi: float) -> Array:
    return np.minimum(np.maximum(x, lo), hi)


def _factors(grad: Array, state: State, hp: Hyper) -> tuple[Array, Array, Array]:
    """(g, s, new Δ): the signed gradient, sign(g·g_prev) and the clamped step sizes."""
    etaminus, etaplus = hp.get("etas", (0.5, 1.2))
    lo, hi = hp.get("step_sizes", (1e-6, 50.0))
    g = -grad if hp.get("maximize", False) else grad
    prev = state.get("prev", np.zeros_like(g))
    step_size = state.get("step_size", np.zeros_like(g) + hp["lr"])
    s = np.sign(g * prev)
    factor = np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0))
    return g, s, _clamp(step_size * factor, lo, hi)


def rprop_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.Rprop = iRprop−: where the sign flipped, shrink Δ, skip the step and store
    g_prev = 0 so that the next step counts as "no sign information"."""
    g, s, step_size = _factors(grad, state, hp)
    g = np.where(s < 0, 0.0, g)
    return ops.update(param, np.sign(g) * step_size), {"prev": g, "step_size": step_size}


def rprop_plus_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Rprop+ (Rprop with weight backtracking): where the sign flipped, shrink Δ and undo
    the previous weight update (θ <- θ - Δθ_prev), then store g_prev = 0; elsewhere
    Δθ = -Δ·sign(g). Keeps the last update in state 'prev_update' (not a torch key).

    Source: Riedmiller & Braun 1993 (the original RPROP); Igel & Hüsken 2000 (Rprop+).
    """
    g, s, step_size = _factors(grad, state, hp)
    flipped = s < 0
    prev_update = state.get("prev_update", np.zeros_like(g))
    update = np.where(flipped, -prev_update, -np.sign(g) * step_size)
    new_state = {
        "prev": np.where(flipped, 0.0, g),
        "step_size": step_size,
        # After a backtrack g_prev = 0, so the next step cannot backtrack again: keeping the
        # old Δθ there (as the papers do) or not makes no difference.
        "prev_update": np.where(flipped, prev_update, update),
    }
    return ops.update(param, -update), new_state


def rprop_minus_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Rprop− : Δ adapted as in Rprop, but no backtracking and no zeroing: θ <- θ - Δ·sign(g)
    every step, g_prev = g (a sign flip also steps, and the next step sees the flip's g).

    Source: Igel & Hüsken 2000 (Rprop−, Rprop without weight backtracking).
    """
    g, _, step_size = _factors(grad, state, hp)
    return ops.update(param, np.sign(g) * step_size), {"prev": g, "step_size": step_size}


def constraint(hp: Hyper) -> str | None:
    """Why torch.optim.Rprop's constructor would raise ValueError, or None.

    torch does not check step_sizes: with Γmin > Γmax every Δ becomes Γmax (torch.clamp),
    which this reference mirrors.
    """
    if not hp.get("lr", 1e-2) >= 0:
        return "Invalid learning rate: lr must be >= 0"
    etaminus, etaplus = hp.get("etas", (0.5, 1.2))
    if not 0.0 < etaminus < 1.0 < etaplus:
        return "Invalid eta values: need 0 < etas[0] < 1 < etas[1]"
    return None


SPACE = (
    # lr is Δ_0, the initial step size (Riedmiller & Braun use 0.1).
    Real("lr", 1e-6, 1.0, 1e-2, log=True),
    Pair(
        "etas",
        Real("etaminus", 0.1, 0.9, 0.5, special=(0.5,)),
        Real("etaplus", 1.05, 2.0, 1.2, special=(1.2,)),
    ),
    Pair(
        "step_sizes",
        # Γmin near lr and Γmax just above it clamp within a few steps.
        Real("step_size_min", 1e-9, 1e-3, 1e-6, log=True, special=(1e-6, 1e-3)),
        Real("step_size_max", 1e-3, 100.0, 50.0, log=True, special=(50.0, 2e-2)),
    ),
    Flag("maximize"),
)
STATE_KEYS = ("step", "prev", "step_size")  # 'step' is the reference's t
# torch 2.13 on CPU: forloop and foreach, no fused kernel (no `fused` keyword).
IMPLEMENTATIONS = ("forloop", "foreach")
SOURCE = (
    "Riedmiller & Braun 1993 (ICNN), RPROP; Igel & Hüsken 2000, Improving the Rprop Learning "
    "Algorithm (iRprop−, what torch implements); torch.optim.Rprop docs"
)
VARIANTS = (
    Variant(
        "rprop-plus",
        rprop_plus_step,
        "Rprop+ : weight backtracking (undo the last update) where the gradient sign flipped",
        "Riedmiller & Braun 1993; Igel & Hüsken 2000 (Rprop+)",
    ),
    Variant(
        "rprop-minus",
        rprop_minus_step,
        "Rprop− : no backtracking and no gradient zeroing (steps on a sign flip too)",
        "Igel & Hüsken 2000 (Rprop−)",
    ),
)
# Memory traffic of one torch step per parameter element (minimal, fused-kernel count):
# read θ, g, prev, Δ; write prev, Δ, θ -> 7 arrays. torch's paths move several more
# (the sign/factor tensor, a clone of g, masked writes).
_ARRAYS_PER_ELEMENT = 7


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Bytes one ideal single-pass step moves per parameter element."""
    return _ARRAYS_PER_ELEMENT * itemsize


def rprop_update_scale(hp: Hyper, exponent: int) -> float:
    """One Rprop update is Δ·sign(g), whatever the gradients' size: Δ starts at
    clamp(lr, Γmin, Γmax) (torch clamps on the first step, see the module docstring) and is
    multiplied by η± per step from there."""
    lo, hi = hp.get("step_sizes", (1e-6, 50.0))
    return float(min(max(float(hp.get("lr", 1e-2)), float(lo)), float(hi)))


# The error model is the step itself (reference.ops). Γmin and η− may drive Δ below the
# smallest normal of float16/bfloat16: the scalar casts and the subnormal floor u·tiny of
# every rounding cover that, so no dimension is restricted for low precision.
RPROP_ERROR_MODEL = ErrorModel("Rprop", rprop_step, rprop_update_scale)
