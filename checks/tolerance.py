"""The tolerance model of open-loop comparisons: derived from the arithmetic, never guessed.

Setting. The target runs in dtype d on inputs (params θ_0, gradients g_k) that are first
rounded to d; the reference runs in float64 on those same rounded values. Open loop, the
gradients do not depend on the iterates, so the only differences are rounding errors made
inside the two computations, and they can be bounded step by step.

Unit roundoff (round to nearest, p significand bits): u = 2^-p.
    float64 2^-53 ≈ 1.1e-16   float32 2^-24 ≈ 6.0e-8   bfloat16 2^-8 ≈ 3.9e-3
    float16 2^-11 ≈ 4.9e-4
Scalar hyper-parameter arithmetic (β^t, 1-β^t, η/(1-β1^t), 1-ηλ) is charged u_h = the unit
roundoff of max(d, float32).

Running error bound (first order). Along the float64 trajectory, per element, an absolute bound
on the error of every quantity the algorithm stores or computes is propagated operation by
operation by checks.errorprop, whose docstring states every rule and its source (Higham §2.1,
§2.2, §3.5, §4.2; torch's casts of scalar operands and its lerp arrangement of EMAs). The
algorithm is described by its *error model* (reference.spec.ErrorModel): its float64 reference
step, written with reference.ops, which the engine runs on tracked values. No algorithm has a
hand-propagated bound here, and adding an optimizer adds no code to this module.
In every model θ_t = fl(θ_{t-1} - Δ_t) adds u·|θ_t| every step: with parameters stored in
bfloat16 or float16 this term dominates, the per-step rounding |θ|·u accumulates linearly to
Σ_k u·|θ_k| (linear, not √t: an update below u|θ|/2 is lost every time, deterministically).
State errors (of m, v, momentum buffers) decay with β1, β2, μ but are re-fed each step.

Tolerance. tol_t = (B_t(u_d, u_h) + B_t(2^-53, 2^-53)) / (1 - 32·u_d): the target's bound plus
the float64 reference's own (same operations, u = 2^-53), times a factor covering the
neglected second-order terms O((n·u)²) along a dependency chain of at most n ≈ 32 operations
(1.0000 for float64/32, 1.14 for bfloat16, 1.016 for float16).

Domain. The bound is first order: it holds while no intermediate overflows and every divisor
(Adam's D) is known to within 1/4 of itself. ``Tolerance.outside`` says why a case leaves that
domain (float16: g² above 65504, or v = 0 leaving ε = 1e-8 alone in D, where it rounds to 0);
such cases are not compared. Underflow needs no exclusion: the u·tiny floor covers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optcheck.checks.errorprop import (
    FLOAT64,
    PRECISIONS,
    ErrorBound,
    Precision,
    hyper_precision,
    precision,
    propagate,
    propagate_pair,
)
from optcheck.checks.kit.registry import reference_side
from optcheck.reference.spec import CoupledStep, ErrorModel

__all__ = [
    "EXACT_DTYPE",
    "FLOAT64",
    "PRECISIONS",
    "ErrorBound",
    "Precision",
    "Tolerance",
    "case_tolerance",
    "error_bound",
    "format_table",
    "hyper_precision",
    "precision",
    "residual_tolerance",
    "second_order_factor",
    "table",
    "tolerance",
]

# The invariant checks run the target here: exact relations are visible down to ~1e-16.
EXACT_DTYPE = "float64"
# Longest chain of dependent roundings in one step (Adam: ~12) plus state history; the
# first-order bound is divided by (1 - N_CHAIN·u) for the neglected O((n·u)²) terms.
N_CHAIN = 32

# First order needs every divisor known to within a fraction of itself.
MAX_DIVISOR_ERROR = 0.25


def error_bound(
    model: ErrorModel,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    prec: Precision,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None = None,
    param_error: Sequence[np.ndarray] | None = None,
    observed: Sequence[Sequence[np.ndarray]] | None = None,
) -> ErrorBound:
    """The running error bound of one computation of ``model`` in ``prec`` (checks.errorprop).

    ``hps[i]`` are tensor i's hyper-parameters; ``grad_error[k][i]``, when given, bounds an
    error already present in the input gradient (e.g. from forming a linear combination),
    ``param_error[i]`` one in the initial params. ``observed[k][i]``, the target's own θ
    after step k+1, raises the rounding terms to its magnitudes where they are larger.
    """
    return propagate(
        model,
        params0,
        grads,
        hps,
        lrs,
        prec,
        grad_error=grad_error,
        param_error=param_error,
        observed=observed,
    )


@dataclass
class Tolerance:
    """Per step k (0-based) and tensor i: how far the target may be from the reference."""

    dtype: str
    theta: list[list[np.ndarray]]
    local: list[list[np.ndarray]]
    outside: str | None = None  # why the case leaves the model's domain (None: inside)
    extra: dict[str, Any] = field(default_factory=dict)


def second_order_factor(prec: Precision) -> float:
    return 1.0 / (1.0 - N_CHAIN * prec.u)


def tolerance(
    model: ErrorModel,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    dtype: str,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None = None,
    param_error: Sequence[np.ndarray] | None = None,
    observed: Sequence[Sequence[np.ndarray]] | None = None,
) -> Tolerance:
    """Target in ``dtype`` against the float64 reference on the same (rounded) inputs;
    ``observed`` (the target's trajectory) lets its rounding terms follow its magnitudes."""
    prec = precision(dtype)
    kw = {"grad_error": grad_error, "param_error": param_error}
    # out-of-range inputs show up in `outside`; the model runs the reference: its raise is ours
    with np.errstate(all="ignore"), reference_side():
        if prec is FLOAT64:  # same operations, same precision: one pass
            target, ref = propagate_pair(
                model, params0, grads, hps, lrs, prec, observed=observed, **kw
            )
        else:
            target = error_bound(model, params0, grads, hps, lrs, prec, observed=observed, **kw)
            ref = error_bound(model, params0, grads, hps, lrs, FLOAT64, **kw)
    f = second_order_factor(prec)
    theta = [
        [f * (a + b) for a, b in zip(x, y, strict=True)]
        for x, y in zip(target.theta, ref.theta, strict=True)
    ]
    local = [
        [f * (a + b) for a, b in zip(x, y, strict=True)]
        for x, y in zip(target.local, ref.local, strict=True)
    ]
    outside = None
    if not np.isfinite(target.largest):
        outside = f"an input or intermediate is not finite in {dtype}"
    elif target.largest > prec.huge / 4:
        outside = f"an intermediate reaches {target.largest:.3g}, near {dtype}'s overflow"
    elif target.divisor > MAX_DIVISOR_ERROR:
        outside = (
            f"a denominator is uncertain to {target.divisor:.2g} of itself in {dtype} "
            "(ε and √v̂ below its resolution): first order no longer holds"
        )
    elif target.straddles:
        outside = (
            f"an input of an emulated computation (Muon's bfloat16 Newton-Schulz) lies within "
            f"its {dtype} error of a rounding boundary there: the result may differ by an ulp"
        )
    return Tolerance(dtype, theta, local, outside)


def case_tolerance(model: ErrorModel, case: Any, dtype: str, **kw: Any) -> Tolerance:
    """``tolerance`` for a strategies.Case (its per-tensor hyper-parameters and lrs). A case
    holding tensors of several dtypes (``Case.dtypes``) gets each tensor's bound in its own
    dtype: the model propagates every tensor on its own, so the bounds do not mix.

    A tensor's device (``Case.devices``) does not enter: it is stepped in the same dtype, and
    the model charges every operation its own rounding (≤ u relative) whatever kernel runs
    it. CUDA contracts a·b + c into one FMA, rounded once where the model charges two
    roundings, and its reductions sum in another order, which Higham's bound covers in any
    order; so the bound that holds on cpu holds on cuda (the cuda cases of
    tests/test_crossval.py, the same models: 72/72 pass on an H200, reports/gpu) and for a
    group spanning both."""
    hps = [case.tensor_hp(i) for i in range(len(case.params0))]
    names = [case.dtype_of(i, dtype) for i in range(len(case.params0))]
    if isinstance(model.step, CoupledStep) and names:
        # One state from every tensor's sums (Prodigy's d): the coarsest dtype's rounding
        # reaches every tensor through it, so all are bounded in that dtype (a finer tensor's
        # own rounding is then over-bounded, never under-bounded).
        names = [max(names, key=lambda n: precision(n).u)] * len(names)
    by_dtype = {
        name: tolerance(model, case.params0, case.grads, hps, case.lrs, name, **kw)
        for name in dict.fromkeys(names or [dtype])
    }
    if len(by_dtype) == 1:
        return by_dtype[names[0] if names else dtype]
    steps = range(len(case.grads))
    return Tolerance(
        dtype,
        [[by_dtype[n].theta[k][i] for i, n in enumerate(names)] for k in steps],
        [[by_dtype[n].local[k][i] for i, n in enumerate(names)] for k in steps],
        next((t.outside for t in by_dtype.values() if t.outside), None),
    )


def residual_tolerance(
    tol: Tolerance, k: int, i: int, theta_t: np.ndarray, theta_prev: np.ndarray
) -> np.ndarray:
    """Bound on the error of an observed residual θ_t - D·θ_{t-1} (|D| ≤ 1) at step k+1.

    The step's own error (``local``: it starts from the target's own θ_{t-1}) plus the float64
    rounding of forming the difference and the expected value (4 operations).
    """
    return tol.local[k][i] + 4 * FLOAT64.u * (np.abs(theta_t) + np.abs(theta_prev))


# --- the closing note's table ----------------------------------------------------------------

FORMULA = (
    "tol_t = [B_t(u_d, u_h) + B_t(2^-53, 2^-53)] / (1 - 32 u_d);  "
    "B_t = Σ_k≤t (u_d·|θ_k| + δΔ_k), δΔ from the propagated state errors"
)


def table(steps: int = 10) -> list[dict[str, Any]]:
    """dtype → unit roundoff → formula → example tolerances after ``steps`` steps (SGD μ=0.9
    and Adam defaults, lr 1e-3, g ~ N(0,1)), absolute and per displacement |θ_t − θ_0|, for
    θ_0 ~ N(0,1) and for θ_0 ~ 10·lr·N(0,1) ("near_lr": params the size of a few updates,
    as the low-precision cross-validation draws them). Seeded, so reproducible."""
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=8)
    gs = [[rng.normal(size=8)] for _ in range(steps)]
    from optcheck.reference.adam import ADAM_ERROR_MODEL
    from optcheck.reference.sgd import SGD_ERROR_MODEL

    examples = {
        "SGD": (SGD_ERROR_MODEL, {"lr": 1e-3, "momentum": 0.9}),
        "Adam": (ADAM_ERROR_MODEL, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
    }
    rows = []
    for name, prec in PRECISIONS.items():
        row: dict[str, Any] = {
            "dtype": name,
            "u": prec.u,
            "u_hyper": hyper_precision(prec).u,
            "second_order": second_order_factor(prec),
            "formula": FORMULA,
        }
        for label, (model, hp) in examples.items():
            for suffix, start in (("", p0), ("_near_lr", 10 * hp["lr"] * p0)):
                init = [round_to(start, name)]
                tol = tolerance(model, init, gs, [hp], None, name)
                t_end = float(np.max(tol.theta[-1][0]))
                row[f"{label}_tol{suffix}"] = t_end
                row[f"{label}_tol{suffix}_per_displacement"] = t_end / _displacement(
                    model, init, gs, hp
                )
        rows.append(row)
    return rows


def round_to(x: Any, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` as torch rounds it, back as float64 (scalars as 0-d)."""
    import torch

    x = np.asarray(x, dtype=np.float64)
    return torch.as_tensor(x).to(getattr(torch, dtype)).double().numpy()


def _displacement(model: ErrorModel, p0: list[np.ndarray], gs: list, hp: dict) -> float:
    from optcheck.reference.trajectory import run

    traj = run(model.step, p0, gs, hp)
    return float(np.max(np.abs(traj[-1][0] - p0[0])))


def format_table(rows: list[dict[str, Any]] | None = None) -> str:
    """The table as text, for the closing note and the docs."""
    rows = rows if rows is not None else table()
    cols = [
        ("SGD_tol_per_displacement", "SGD θ~1"),
        ("SGD_tol_near_lr_per_displacement", "SGD θ~lr"),
        ("Adam_tol_per_displacement", "Adam θ~1"),
        ("Adam_tol_near_lr_per_displacement", "Adam θ~lr"),
    ]
    lines = [
        FORMULA,
        "tolerance / displacement after 10 steps (lr 1e-3, g ~ N(0,1)):",
        f"{'dtype':9s} {'u':>9s} {'u_hyper':>9s} {'2nd ord':>8s} "
        + " ".join(f"{h:>10s}" for _, h in cols),
    ]
    for r in rows:
        lines.append(
            f"{r['dtype']:9s} {r['u']:9.2e} {r['u_hyper']:9.2e} {r['second_order']:8.4f} "
            + " ".join(f"{r[k]:10.2e}" for k, _ in cols)
        )
    return "\n".join(lines)
