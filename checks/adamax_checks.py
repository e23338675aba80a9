"""Adamax invariants (Kingma & Ba 2015, §7.1, Algorithm 2) in torch.optim.Adamax's arrangement:
m_t = β1m + (1−β1)g', u_t = max(β2u, |g'| + ε) (ε inside the max), Δθ_t = −η_t/(1−β1^t)·m_t/u_t;
m_0 = u_0 = 0, g' = ±g + λθ_{t−1}.

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run; tolerances come
from the record's error model (checks.tolerance.residual_tolerance), plus the rounding of any
closed form or bound computed here, stated per check.
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


def _betas(hp: dict[str, Any]) -> tuple[float, float]:
    b1, b2 = hp.get("betas", (0.9, 0.999))
    return float(b1), float(b2)


@check(
    "adamax.first_step",
    "first step is −η·g'/(|g'|+ε) elementwise, whatever β1, β2",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Alg. 2 from zero state: m_1 = (1−β1)g', u_1 = max(0, |g'|+ε) = |g'|+ε, and the bias
    correction 1/(1−β1) cancels (1−β1): Δθ_1 = −η·g'/(|g'|+ε), g' = ±g + λθ_0. Computed in
    the reference's own float64 operations, whose error the model's residual tolerance
    includes."""
    spec, model = D.record(ctx, "Adamax")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            b1, _ = _betas(hp)
            gp, _ = D.coupled_grad(hp, case.grads[0][i], theta0)
            m = b1 * 0.0 + (1.0 - b1) * gp
            u = np.maximum(0.0, np.abs(gp) + float(hp.get("eps", 1e-8)))
            expected = theta0 - case.lr_at(i, 0) / (1.0 - b1) * m / u
            obs = Observation(
                f"traj[0][1][{i}]",
                traj[1][i],
                expected,
                T.residual_tolerance(tol, 0, i, traj[1][i], theta0),
            )
            what = "first step is not −η·g/(|g|+ε)"
            D.require_at(ctx, what, obs, [case], 0, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


def step_constant(beta1: float, beta2: float, t: int) -> float:
    """C_t = (1−β1)/(1−β1^t)·Σ_{j<t}(β1/β2)^j, the sup of |m_t|/u_t (see ``step_bound``);
    inf where β2 = 0 < β1 (u then forgets every earlier gradient)."""
    if beta1 == 0:
        return 1.0
    if beta2 == 0:
        return float("inf")
    r = np.float64(beta1 / beta2)
    with np.errstate(over="ignore"):  # inf: no usable bound
        return float((1 - beta1) / (1 - beta1**t) * sum(r**j for j in range(t)))


@check(
    "adamax.step_bound",
    "|Δθ_t| ≤ η_t/(1−β1^t)·(1−β1)·Σ_{j<t}(β1/β2)^j, below η_t/(1−β1^t)·(1−β1)/(1−β1/β2)",
    invariant=True,
)
def step_bound(ctx: Context) -> CheckResult:
    """|m_t| ≤ (1−β1)Σ_{k≤t}β1^(t−k)|g'_k| and u_t ≥ β2^(t−k)(|g'_k|+ε) > β2^(t−k)|g'_k| for
    every k ≤ t (the max only decays by β2 per step), so |m_t|/u_t < (1−β1)Σ_{j<t}(β1/β2)^j
    and |Δθ_t| < η_t·C_t (``step_constant``), whatever the gradients; for β1 < β2 the sum is
    below 1/(1−β1/β2), so |Δθ_t| < η_t/(1−β1^t)·(1−β1)/(1−β1/β2) (≈ 1.009·η_t/(1−β1^t) at
    the defaults). Gradients shrinking by β2 per step, all of one sign, attain it at ε = 0
    (every term of u's max equal). Not checked
    where β2 = 0 < β1 (no bound). Slack: the model's residual tolerance plus 16(t+1)u of the
    bound (β1^t, the sum's t terms and the division)."""
    spec, model = D.record(ctx, "Adamax")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            b1, b2 = _betas(case.tensor_hp(i))
            for k in range(case.steps):
                c = step_constant(b1, b2, k + 1)
                if not np.isfinite(c):
                    break
                bound = case.lr_at(i, k) * c
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                obs = Observation(
                    f"np.abs({D.delta_expr(i)})",
                    np.abs(traj[k + 1][i] - traj[k][i]),
                    np.full_like(traj[k][i], bound),
                    slack + 16 * (k + 2) * U * bound,
                    relation="at_most",
                )
                what = "the step exceeds η_t·C_t (|m|/u is bounded by β1 and β2)"
                D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


def impulse(case: S.Case) -> S.Case:
    """The case with its first gradients kept and every later one zero."""
    zeros = tuple(None if g is None else np.zeros_like(g) for g in case.grads[0])
    return case.replace(
        grads=(case.grads[0],) + (zeros,) * (case.steps - 1),
        recipe={**case.recipe, "impulse": True},
    )


@check(
    "adamax.impulse_response",
    "after one gradient g and zeros: Δθ_t = −η_t(1−β1)β1^(t−1)/(1−β1^t)·g/max(β2^(t−1)(|g|+ε), ε)",
    invariant=True,
)
def impulse_response(ctx: Context) -> CheckResult:
    """With g'_1 = g and g'_k = 0 after (λ = 0): m_t = (1−β1)β1^(t−1)g, and the infinity norm
    u_t = max_k β2^(t−k)(|g'_k|+ε) (Kingma & Ba §7.1, its closed form with torch's ε inside)
    is max(β2^(t−1)(|g|+ε), ε): the old maximum decays until the zero gradients' ε takes
    over. The closed form replaces the reference's recursions: m by t lerps (2u each), the
    powers by t products and u by t: allowance (6t+10)u of |Δθ_t| on top of the model's
    residual tolerance."""
    spec, model = D.record(ctx, "Adamax")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            b1, b2 = _betas(hp)
            eps = float(hp.get("eps", 1e-8))
            g, _ = D.coupled_grad(hp, case.grads[0][i], np.zeros_like(case.grads[0][i]))
            for k in range(case.steps):
                t = k + 1
                u = np.maximum(b2**k * (np.abs(g) + eps), eps)
                lr = case.lr_at(i, k) / (1 - b1**t)
                expected = -lr * (1 - b1) * b1**k * g / u
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                obs = Observation(
                    D.delta_expr(i),
                    traj[k + 1][i] - traj[k][i],
                    expected,
                    slack + (6 * t + 10) * U * np.abs(expected),
                )
                what = "after one gradient and zeros the step is not the closed form"
                D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.builds(
        impulse,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            fixed={"weight_decay": 0.0},
            steps=(2, 12),
            schedules=S.SCHEDULES,
        ),
    )
    return run_property(ctx, strategy, prop)
