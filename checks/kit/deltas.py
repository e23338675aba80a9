"""Helpers for invariants observed through parameter deltas Δθ_t = θ_t − θ_{t−1}.

Shared by the per-algorithm check modules (which never import each other): the record guard,
the gradient the algorithm sees, the snippet expression of a delta, ``require`` at a step
and tensor, and the pure-decay relation of decoupled weight decay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.errorprop import FLOAT64
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.spec import ErrorModel

U = FLOAT64.u


def record(ctx: Context, name: str) -> tuple[OptimizerRecord, ErrorModel]:
    """The context's record and error model, or NotApplicable (no --like, no model)."""
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable(f"needs --like to name {name} (a record with an error model)")
    return spec, spec.error_model


def coupled_grad(
    hp: dict[str, Any], g: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """g' = ±g + λθ (maximize, coupled L2) from the target's own θ_{t−1}, and a bound on the
    float64 rounding of forming it (two roundings of |g| + λ|θ|)."""
    lam = float(hp.get("weight_decay", 0.0))
    gp = (-g if hp.get("maximize", False) else g) + lam * theta
    return gp, 2 * U * (np.abs(g) + lam * np.abs(theta))


def delta_expr(i: int, run: int = 0, decay: float | None = None) -> str:
    """Δθ of tensor i at the evidence's step, as the snippet computes it; with ``decay`` D the
    residual θ_t − D·θ_{t−1} of a decoupled decay."""
    scaled = f"{decay!r} * " if decay is not None else ""
    return f"traj[{run}][STEP][{i}] - {scaled}traj[{run}][STEP-1][{i}]"


def require_at(
    ctx: Context, what: str, obs: Observation, runs: Sequence[Any], k: int, i: int
) -> float:
    """``evidence.require`` for step k+1 of tensor i of ``runs``."""
    return require(ctx, obs, what=what, runs=runs, step=k + 1, tensor=i)


def pure_decay(
    ctx: Context,
    spec: OptimizerRecord,
    model: ErrorModel,
    *,
    fixed: Mapping[str, Any],
    steps: tuple[int, int],
) -> CheckResult:
    """Loshchilov & Hutter 2019, Alg. 2 line 12 with g = 0: a zero gradient history makes the
    adaptive step 0, so only θ ← (1−η_tλ)θ acts and θ_t = Π_k(1−η_kλ)·θ_0. Tolerance: the
    model's θ bound (one rounding per step) plus the float64 product's own 3 roundings per step.
    ``fixed``: the keywords that make the decay decoupled (NAdam's and RAdam's flag)."""

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, T.EXACT_DTYPE)
        tol = T.case_tolerance(model, case, T.EXACT_DTYPE, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            lam = float(case.tensor_hp(i).get("weight_decay", 0.0))
            factor = 1.0
            for k in range(case.steps):
                factor *= 1.0 - case.lr_at(i, k) * lam
                expected = factor * theta0
                obs = Observation(
                    f"traj[0][STEP][{i}]",
                    traj[k + 1][i],
                    expected,
                    tol.theta[k][i] + 3 * (k + 2) * U * np.abs(expected),
                )
                require(
                    ctx,
                    obs,
                    what="under zero gradients θ is not Π(1−ηλ)·θ_0",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                )

    # A model that cannot step empty tensors (Adafactor: torch raises) is not drawn them.
    shapes = tuple(s for s in S.SHAPES if 0 not in s) if model.no_empty_tensors else S.SHAPES
    # λ where the decay is visible: the spaces put half their mass on λ = 0, and hypothesis
    # favours subnormal edges, where the relation holds trivially.
    decay = st.floats(-4, math.log10(0.5)).map(lambda e: float(10.0**e))
    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed=fixed,
        overrides={"weight_decay": decay},
        kinds=("zeros",),
        shapes=shapes,
        steps=steps,
        zero_params=False,
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
