"""RAdam invariants (Liu et al. 2020, Alg. 2, in torch.optim.RAdam's arrangement).

Observed through the parameter deltas of an open-loop float64 run, as the Adam invariants are:
r_t = θ_t − D·θ_{t−1} with D = 1 − η_tλ under decoupled_weight_decay, else D = 1 (and g' =
±g + λθ_{t−1} from the target's own θ). ρ_∞ = 2/(1−β2) − 1, ρ_t = ρ_∞ − 2tβ2^t/(1−β2^t) (Alg. 2
line 7) decide the phase: bias-corrected momentum SGD while ρ_t ≤ 5 (torch's test; the paper
has ρ_t > 4), the rectified adaptive step after. Tolerances: checks.tolerance's residual
bound (the target's step from its own θ_{t−1} against the float64 reference) plus the float64
rounding of the closed form the check evaluates, counted per formula below.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.radam import rho
from optcheck.reference.spec import ErrorModel

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _radam(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name RAdam (a record with an error model)")
    return spec, spec.error_model


def _decoupled(hp: dict[str, Any]) -> bool:
    return bool(hp.get("decoupled_weight_decay", False)) and float(hp.get("weight_decay", 0)) != 0


def _d(hp: dict[str, Any], lr: float) -> float:
    """D in r_t = θ_t − D·θ_{t−1}."""
    return 1.0 - lr * float(hp["weight_decay"]) if _decoupled(hp) else 1.0


def rectification(beta2: float, t: int) -> tuple[float, float]:
    """(r_t, a bound on its relative float64 error) for ρ_t > 5 (Alg. 2 line 10).

    ρ_t is ρ_∞ minus a term of the same size, so it carries an absolute error ≲ 4u·ρ_∞; the
    factors (ρ_t − 4), (ρ_t − 2) amplify it by ρ_∞/(ρ_t − 4) at most, the square root halves
    it, and the 6 products and quotients add u each."""
    rho_inf, rho_t = rho(beta2, t)
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return r, (4 * rho_inf / (rho_t - 4) + 8) * U


def _residual(traj: list, k: int, i: int, d: float) -> np.ndarray:
    return traj[k + 1][i] - d * traj[k][i]


# --- the un-rectified phase --------------------------------------------------------------------


@check(
    "radam.sgd_phase",
    "while ρ_t ≤ 5 every step is bias-corrected momentum SGD: Δθ_t = −η_t·m̂_t",
    invariant=True,
)
def sgd_phase(ctx: Context) -> CheckResult:
    """Liu et al. 2020, Alg. 2 line 12: while the variance of the adaptive rate is intractable
    (ρ_t ≤ 5 in torch; every step when β2 ≤ 2/3, since ρ_t < ρ_∞ ≤ 5), θ_t = D·θ_{t−1} − η_t·m̂_t
    with m̂_t = Σ_k (1−β1)β1^(t−k)·g'_k / (1−β1^t), no √v at all.

    Tolerance: the residual bound of checks.tolerance, plus η_t times the float64 error of the
    m̂ formed here: each of the t EMA steps rounds ≤ 8 times relative to |g| + λ|θ| (forming g',
    the two products and the sum, the bias-correction quotient), so 8t·u·EMA(|g| + λ|θ|)/(1−β1^t).
    """
    spec, model = _radam(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            b1, b2 = (float(b) for b in hp.get("betas", (0.9, 0.999)))
            lam = float(hp.get("weight_decay", 0.0))
            sign = -1.0 if hp.get("maximize", False) else 1.0
            m = np.zeros_like(case.params0[i])
            size = np.zeros_like(m)  # the same EMA of |g| + λ|θ|: m's rounding scale
            for k in range(case.steps):
                t, lr = k + 1, case.lr_at(i, k)
                g, theta = case.grads[k][i], traj[k][i]
                coupled = lam if not _decoupled(hp) else 0.0
                m = b1 * m + (1 - b1) * (sign * g + coupled * theta)
                size = b1 * size + (1 - b1) * (np.abs(g) + coupled * np.abs(theta))
                if rho(b2, t)[1] > 5:
                    continue
                bc1 = 1 - b1**t
                d = _d(hp, lr)
                obs = Observation(
                    deltas.delta_expr(i, 0, d),
                    _residual(traj, k, i, d),
                    -lr * m / bc1,
                    T.residual_tolerance(tol, k, i, traj[k + 1][i], theta)
                    + lr * 8 * t * U * size / bc1,
                )
                what = "a step with ρ_t ≤ 5 is not −η·m̂ (momentum SGD)"
                deltas.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 8), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


# --- constant gradient -------------------------------------------------------------------------


@check(
    "radam.constant_gradient",
    "under a constant gradient each step is −η·g (ρ_t ≤ 5) or −η·r_t·g/(|g|+ε/√(1−β2^t))",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """With g'_k = g for every k, m_t = (1−β1^t)·g and v_t = (1−β2^t)·g², so Alg. 2 gives
    m̂_t = g and the rectified step η·r_t·m̂·√(1−β2^t)/(√v_t + ε) = η·r_t·g/(|g| + ε/√(1−β2^t))
    exactly (torch adds ε to √v_t, not to √v̂_t): the step depends on t only through r_t and
    the phase. Coupled decay would make g' vary, so λ = 0 unless decoupled.

    Tolerance: the residual bound, plus the rounding of the closed form: r_t's own relative
    error (``rectification``) and 8 roundings of the quotient (√, products, sum, division).
    """
    spec, model = _radam(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for k in range(case.steps):
            t = k + 1
            for i in range(len(case.params0)):
                hp, lr = case.tensor_hp(i), case.lr_at(i, k)
                b2 = float(hp.get("betas", (0.9, 0.999))[1])
                eps = float(hp.get("eps", 1e-8))
                g = (-1.0 if hp.get("maximize", False) else 1.0) * case.grads[k][i]
                if rho(b2, t)[1] > 5:
                    r_t, rel = rectification(b2, t)
                    expected = -lr * r_t * g / (np.abs(g) + eps / math.sqrt(1 - b2**t))
                    rel += 8 * U
                else:
                    expected, rel = -lr * g, U
                d = _d(hp, lr)
                obs = Observation(
                    deltas.delta_expr(i, 0, d),
                    _residual(traj, k, i, d),
                    expected,
                    T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                    + rel * np.abs(expected),
                )
                what = "under a constant gradient the step is not −η·g or −η·r_t·g/(|g|+ε')"
                deltas.require_at(ctx, what, obs, [case], k, i)

    # β2 = 0.999 rectifies from t = 6: draw up to 12 steps so both phases are seen.
    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0},
        kinds=("constant", "near_eps", "near_sqrt_eps"),
        steps=(1, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
