"""SparseAdam in float64: torch.optim.SparseAdam (torch 2.13), lazy ("masked") Adam.

Representation of a sparse gradient: a dense float64 array of the parameter's shape holding
the coalesced values (duplicate indices summed, as torch's .coalesce() does) at the touched
entries and NaN everywhere else. An explicit 0 is a touched entry (torch treats every
materialized value as non-zero, see its docs), NaN is "not in the sparse tensor". The
encoding keeps the per-tensor signature step(param, grad, state, hp, t) and passes through
optcheck.reference.trajectory.run unchanged (a mask beside the array would not survive its
np.asarray). ``sparse_grad``, ``from_coo`` and ``touched`` build and read it; a torch sparse
gradient's values may not be NaN in this encoding. An all-NaN gradient is an empty sparse
gradient: torch still counts the step (state['step'] += 1) and changes nothing else.

torch's algorithm (torch/optim/_functional.py sparse_adam; SparseAdam docs), with S the
touched entries and t the tensor's step count (its number of .step() calls with a gradient,
not a per-row count):
    g <- -g if maximize
    on S:  m <- m + (1-β1)(g - m);   v <- v + (1-β2)(g² - v)
           θ <- θ - η √(1-β2^t)/(1-β1^t) · m / (√v + ε)
    off S: θ, m, v unchanged (bit for bit)
This is Adam with Kingma & Ba's ε̂ (2015, §2 last paragraph: bias correction folded into the
step size, ε added to √v), not torch.optim.Adam's m̂/(√v̂ + ε): with every entry touched
SparseAdam equals optcheck.reference.adam.keras_eps_hat_step, not adam_step. A row first
touched at step k gets bias correction 1-β1^k, not 1-β1: its first update is (1-β1)/(1-β1^k)
of Adam's first step (≈ 0.15 for β1 = 0.9, k = 10).
"""

from __future__ import annotations

import math

import numpy as np

from optcheck.reference import ops
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Array, Hyper, State, Variant

SOURCE = (
    "torch.optim.SparseAdam docs and torch/optim/_functional.py sparse_adam (torch 2.13); "
    "Kingma & Ba 2015, Alg. 1 and §2 (ε̂ form)"
)
STATE_KEYS = ("step", "exp_avg", "exp_avg_sq")
# torch 2.13: SparseAdam has no foreach/fused keyword; one for-loop implementation.
IMPLEMENTATIONS = ("forloop",)
SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Pair(
        "betas",
        Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("beta2", 0.0, 0.99999, 0.999, special=(0.999,)),
    ),
    Real("eps", 1e-12, 1e-3, 1e-8, log=True),
    Flag("maximize"),
)


# --- the sparse-gradient encoding ------------------------------------------------------------


def sparse_grad(values: Array, mask: Array) -> Array:
    """The encoding: ``values`` where ``mask`` is True, NaN elsewhere (mask broadcasts, so a
    (rows, 1) mask marks whole rows, as nn.Embedding(sparse=True) produces)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.broadcast_to(mask, values.shape), values, np.nan)


def from_coo(indices: Array, values: Array, shape: tuple[int, ...]) -> Array:
    """torch.sparse_coo_tensor(indices, values, shape).coalesce() in the encoding.

    ``indices`` is (sparse_dim, nnz), ``values`` is (nnz, *shape[sparse_dim:]) (a hybrid
    tensor when sparse_dim < len(shape)); duplicate indices are summed.
    """
    indices = np.asarray(indices, dtype=np.int64)
    indices = indices.reshape(1, -1) if indices.ndim == 1 else indices
    out = np.zeros(shape)
    hit = np.zeros(shape, dtype=bool)
    where = tuple(indices)
    np.add.at(out, where, np.asarray(values, dtype=np.float64))
    hit[where] = True
    return np.where(hit, out, np.nan)


def touched(grad: Array) -> Array:
    """The boolean mask of entries present in the sparse gradient."""
    return ~np.isnan(grad)


# --- the step --------------------------------------------------------------------------------


def _moments(grad: Array, state: State, hp: Hyper, mask: Array):
    b1, b2 = hp.get("betas", (0.9, 0.999))
    g = np.where(mask, grad, 0.0)
    g = -g if hp.get("maximize", False) else g
    m_old = state.get("exp_avg", np.zeros_like(g))
    v_old = state.get("exp_avg_sq", np.zeros_like(g))
    # torch: update = (g - old)(1 - β); new = old + update (only on S)
    m = np.where(mask, m_old + (g - m_old) * (1.0 - b1), m_old)
    v = np.where(mask, v_old + (g * g - v_old) * (1.0 - b2), v_old)
    return m, v


def _eps_hat_update(param: Array, m: Array, v: Array, hp: Hyper, t: int, mask: Array) -> Array:
    b1, b2 = hp.get("betas", (0.9, 0.999))
    step_size = hp["lr"] * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    # off S the quotient is discarded: 1 there keeps its (unused) denominator away from 0, so
    # the error model does not see an uncertain divisor that torch never computes
    delta = -step_size * (m / (np.sqrt(np.where(mask, v, 1.0)) + hp.get("eps", 1e-8)))
    return np.where(mask, param + delta, param)


def sparse_adam_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch.optim.SparseAdam: one step of one tensor; ``grad`` NaN-encoded (module doc).

    Also its error model (reference.ops): which entries are touched is read exactly."""
    mask = ops.emulated(touched, grad)
    if not mask.any():  # torch skips an empty gradient after counting the step
        return param, {**state, "step": t}
    m, v = _moments(grad, state, hp, mask)
    new_state = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    return _eps_hat_update(param, m, v, hp, t, mask), new_state


def dense_moments_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """A naive port: the update is applied only to the touched entries, but m and v decay
    everywhere (the untouched entries' gradient taken as 0)."""
    mask = touched(grad)
    everywhere = np.ones_like(mask)
    m, v = _moments(np.where(mask, grad, 0.0), state, hp, everywhere)
    new_state = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    return _eps_hat_update(param, m, v, hp, t, mask), new_state


def dense_adam_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch.optim.Adam on grad.to_dense(): every entry moves (momentum carries untouched
    ones), moments decay everywhere, and ε goes to √v̂ (Adam's placement)."""
    b1, b2 = hp.get("betas", (0.9, 0.999))
    everywhere = np.ones(param.shape, dtype=bool)
    m, v = _moments(np.where(touched(grad), grad, 0.0), state, hp, everywhere)
    denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + hp.get("eps", 1e-8)
    new = param - (hp["lr"] / (1.0 - b1**t)) * m / denom
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v}


def adam_epsilon_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Masked like SparseAdam, but with torch.optim.Adam's ε: m̂/(√v̂ + ε) on S."""
    mask = touched(grad)
    if not mask.any():
        return param, {**state, "step": t}
    b1, b2 = hp.get("betas", (0.9, 0.999))
    m, v = _moments(grad, state, hp, mask)
    denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + hp.get("eps", 1e-8)
    new = np.where(mask, param - (hp["lr"] / (1.0 - b1**t)) * m / denom, param)
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v}


def constraint(hp: Hyper) -> str | None:
    """torch.optim.SparseAdam's ValueErrors (note: lr and eps must be > 0, not ≥ 0)."""
    b1, b2 = hp.get("betas", (0.9, 0.999))
    if not hp.get("lr", 1e-3) > 0:
        return "lr must be > 0"
    if not hp.get("eps", 1e-8) > 0:
        return "eps must be > 0"
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        return "betas must lie in [0, 1)"
    return None


VARIANTS = (
    Variant(
        "dense-moments",
        dense_moments_step,
        "update applied to the touched entries only, but m and v decayed everywhere (the "
        "untouched gradient taken as 0): what a naive dense port does",
        "torch.optim.SparseAdam docs (what masking the moments avoids)",
    ),
    Variant(
        "dense-adam",
        dense_adam_step,
        "torch.optim.Adam on the densified gradient: untouched entries keep moving by momentum",
        "torch.optim.Adam docs; Kingma & Ba 2015, Alg. 1",
    ),
    Variant(
        "adam-epsilon",
        adam_epsilon_step,
        "masked update with torch.optim.Adam's ε placement m̂/(√v̂ + ε) instead of ε̂",
        "torch.optim.Adam docs vs Kingma & Ba 2015, §2 last paragraph",
    ),
)


def bytes_per_element(
    hp: Hyper, itemsize: int, *, touched_fraction: float = 1.0, row: int = 1
) -> float:
    """Bytes one torch step moves per parameter element (an ideal fused kernel).

    Only touched entries cost anything: read g, m, v, θ; write m, v, θ -> 7 itemsize per
    touched element, plus the int64 row index (8 bytes) shared by a row of ``row`` entries.
    torch's implementation makes several passes (coalesce, sparse_mask gathers, two dense
    index_add, the division), roughly 3x that.
    """
    return touched_fraction * (7 * itemsize + 8 / row)
