"""Helpers for invariants observed through parameter deltas Δθ_t = θ_t − θ_{t−1}.

Shared by the per-algorithm check modules (which never import each other): the record guard,
the gradient the algorithm sees, the snippet expression of a delta and ``require`` at a step
and tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optcheck.checks.errorprop import FLOAT64
from optcheck.checks.kit.evidence import Observation, require
from optcheck.checks.kit.registry import Context, NotApplicable
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


def delta_expr(i: int, run: int = 0) -> str:
    """Δθ of tensor i at the evidence's step, as the snippet computes it."""
    return f"traj[{run}][STEP][{i}] - traj[{run}][STEP-1][{i}]"


def require_at(
    ctx: Context, what: str, obs: Observation, runs: Sequence[Any], k: int, i: int
) -> float:
    """``evidence.require`` for step k+1 of tensor i of ``runs``."""
    return require(ctx, obs, what=what, runs=runs, step=k + 1, tensor=i)
