"""AdaBelief invariants (Zhuang et al. 2020, Alg. 2): closed forms of the belief s_t.

Observed through the residuals r_t = θ_t − (1−η_tλ)θ_{t−1} of an open-loop float64 run (the
decay is decoupled). Tolerance: the record's error model run on tracked values
(checks.errorprop; it carries the cancellation in g − m_t) from the target's own θ_{t−1}, plus
the float64 rounding of the closed form itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, check, run_property

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _hp(hp: dict[str, Any]) -> tuple[float, float, float, float, float]:
    b1, b2 = (float(b) for b in hp.get("betas", (0.9, 0.999)))
    sign = -1.0 if hp.get("maximize", False) else 1.0
    return b1, b2, float(hp.get("eps", 1e-16)), float(hp.get("weight_decay", 0.0)), sign


def belief_step(g: np.ndarray, lr: float, b1: float, b2: float, eps: float, t: int):
    """The step η·ĝ/(√ŝ_t + ε) after t steps of the constant gradient g from m_0 = s_0 = 0:
    m_t = (1−β1^t)g, so m̂_t = g and g − m_t = β1^t·g, and

        s_t = (1−β2)·g²·Σ_{k=1..t} β2^(t−k)·β1^(2k) + ε·Σ_{k<t} β2^k,   ŝ_t = s_t/(1−β2^t).

    At t = 1: ŝ_1 = β1²g² + ε/(1−β2), a step of about η/β1 (Adam's is η). Returns the step
    and its own float64 rounding (a sum of t positive terms, a root, a quotient)."""
    geo = sum(b2 ** (t - k) * b1 ** (2 * k) for k in range(1, t + 1))
    s_hat = ((1 - b2) * geo * g * g + eps * sum(b2**k for k in range(t))) / (1 - b2**t)
    step = lr * g / (np.sqrt(s_hat) + eps)
    return step, (3 * t + 12) * U * np.abs(step)


def _check_steps(ctx: Context, case: S.Case, what: str) -> None:
    spec, model = D.record(ctx, "AdaBelief")
    traj = trajectory(ctx, case, F64)
    tol = T.case_tolerance(model, case, F64, observed=traj[1:])
    for k in range(case.steps):
        for i in range(len(case.params0)):
            b1, b2, eps, lam, sign = _hp(case.tensor_hp(i))
            lr = case.lr_at(i, k)
            d = 1.0 - lr * lam
            step, own = belief_step(sign * case.grads[k][i], lr, b1, b2, eps, k + 1)
            obs = Observation(
                D.delta_expr(i, 0, d),
                traj[k + 1][i] - d * traj[k][i],
                -step,
                T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i]) + own,
            )
            D.require_at(ctx, what, obs, [case], k, i)


@check(
    "adabelief.first_step",
    "first step is −η·g/(√(β1²g² + ε/(1−β2)) + ε): about η/β1, not Adam's η",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Alg. 2 at t = 1: m_1 = (1−β1)g, so the belief sees g − m_1 = β1·g (the new m), not g
    (Adam's v) nor g − m_0 = g; ŝ_1 = β1²g² + ε/(1−β2) after bias correction."""
    spec, _ = D.record(ctx, "AdaBelief")

    def prop(case: S.Case) -> None:
        _check_steps(ctx, case, "first step is not −η·g/(√(β1²g² + ε/(1−β2)) + ε)")

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


@check(
    "adabelief.constant_gradient",
    "under a constant gradient the belief ŝ_t follows its closed form and the step grows",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """Under g_t = g the prediction error g − m_t = β1^t·g shrinks, so ŝ_t → ε/(1−β2) and the
    step grows towards η|g|/√(ε/(1−β2)) ("a large step when the observation is close to the
    prediction", Zhuang et al. §2.2): the closed form in ``belief_step`` at every step."""
    spec, _ = D.record(ctx, "AdaBelief")

    def prop(case: S.Case) -> None:
        _check_steps(ctx, case, "under a constant gradient the step is not the closed form")

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        kinds=("constant",),
        steps=(2, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
