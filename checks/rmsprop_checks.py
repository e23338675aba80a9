"""RMSprop invariants (Tieleman & Hinton 2012; Graves 2013 eqs. 38-41 for the centred form), in
torch.optim.RMSprop's arrangement: v_t = αv + (1−α)g'², ḡ_t = αḡ + (1−α)g' (centred only),
ṽ = v_t (or v_t − ḡ_t²), d_t = √ṽ + ε; μ > 0: b_t = μb + g'/d_t, Δθ_t = −η_t·b_t; μ = 0:
Δθ_t = −η_t·g'/d_t; v_0 = ḡ_0 = b_0 = 0, g' = ±g + λθ_{t−1}.

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run; tolerances come
from the record's error model (checks.tolerance.residual_tolerance), plus, where a closed form
replaces the reference's recursion, that closed form's own rounding (stated per check).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _signed(hp: dict[str, Any], g: np.ndarray) -> np.ndarray:
    return -g if hp.get("maximize", False) else g


@check(
    "rmsprop.first_step",
    "first step is −η·g'/(√((1−α)g'²)+ε), centred −η·g'/(√((1−α)g'² − (1−α)²g'²)+ε), any μ",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """From zero state: v_1 = (1−α)g'², ḡ_1 = (1−α)g', and b_1 = g'/d_1 (b_0 = 0), so with or
    without momentum Δθ_1 = −η·g'/(√ṽ_1 + ε), ṽ_1 = v_1 or v_1 − ḡ_1² = α(1−α)g'²; g' =
    ±g + λθ_0. Computed in the reference's own float64 operations, whose error the model's
    residual tolerance includes."""
    spec, model = D.record(ctx, "RMSprop")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            alpha, eps = float(hp.get("alpha", 0.99)), float(hp.get("eps", 1e-8))
            gp, _ = D.coupled_grad(hp, case.grads[0][i], theta0)
            var = (1 - alpha) * (gp * gp)
            if hp.get("centered", False):
                var = var - ((1 - alpha) * gp) ** 2
            expected = theta0 - case.lr_at(i, 0) * gp / (np.sqrt(var) + eps)
            obs = Observation(
                f"traj[0][1][{i}]",
                traj[1][i],
                expected,
                T.residual_tolerance(tol, 0, i, traj[1][i], theta0),
            )
            what = "first step is not −η·g/(√ṽ_1+ε)"
            D.require_at(ctx, what, obs, [case], 0, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


def constant_steps(g: np.ndarray, hp: dict[str, Any], lrs: list[float]) -> list[np.ndarray]:
    """Closed-form deltas under a constant g': v_t = w_t·g'², ḡ_t = w_t·g', so ṽ_t = w_t·g'² or
    w_t(1−w_t)·g'² = w_t·α^t·g'², with w_t = (1−α)Σ_{j<t}α^j = 1−α^t summed as positive terms
    (1 − α^t itself would cancel for α near 1); then the momentum recursion on g'/d_t."""
    alpha, eps = float(hp.get("alpha", 0.99)), float(hp.get("eps", 1e-8))
    mu = float(hp.get("momentum", 0.0))
    gp = _signed(hp, g)
    b = np.zeros_like(gp)
    out = []
    for k, lr in enumerate(lrs):
        w = (1 - alpha) * sum(alpha**j for j in range(k + 1))
        var = w * alpha ** (k + 1) * gp * gp if hp.get("centered", False) else w * gp * gp
        b = mu * b + gp / (np.sqrt(var) + eps)
        out.append(-lr * b)
    return out


@check(
    "rmsprop.constant_gradient",
    "under a constant gradient Δθ_t follows the closed form of v_t = (1−α^t)g² (and ḡ_t)",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """With g' constant (λ = 0), v_t = (1−α^t)g'², ḡ_t = (1−α^t)g' (sums of a geometric series),
    hence ṽ_t = (1−α^t)g'² or, centred, (1−α^t)α^t g'²; b_t = μb_{t−1} + g'/d_t, Δθ_t = −η_t b_t
    (``constant_steps``). The closed form replaces the reference's recursion, so it carries
    its own rounding, free of cancellation: 1−α is exact (Sterbenz, α ≥ 1/2), w_t a sum of t
    positive powers (≤ (t+4)u relative), ṽ two to three products more, d half of ṽ's plus
    2u, and b, a sum of same-signed terms, that plus 2u per step: below (3t+12)u of |Δθ_t|,
    allowed as (4t+16)u on top of the model's residual tolerance."""
    spec, model = D.record(ctx, "RMSprop")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            lrs = [case.lr_at(i, k) for k in range(case.steps)]
            expected = constant_steps(case.grads[0][i], hp, lrs)
            for k in range(case.steps):
                t = k + 1
                own = np.abs(expected[k]) * (4 * t + 16) * U
                obs = Observation(
                    D.delta_expr(i),
                    traj[k + 1][i] - traj[k][i],
                    expected[k],
                    T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i]) + own,
                )
                what = "under a constant gradient the step is not the closed form"
                D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0},
        kinds=("constant", "near_eps", "near_sqrt_eps"),
        steps=(2, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)


def centred_twin(case: S.Case) -> S.Case:
    """The case's tensors twice in one run, the copies n..2n−1 in groups of their own with
    centered=True: one run, so that the evidence snippet reproduces both sides."""
    n = len(case.params0)
    return case.replace(
        params0=case.params0 + case.params0,
        grads=tuple(gs + gs for gs in case.grads),
        groups=case.groups + tuple(tuple(j + n for j in g) for g in case.groups),
        group_hp=case.group_hp + tuple({**g, "centered": True} for g in case.group_hp),
        recipe={**case.recipe, "centred_twin": True},
    )


@check(
    "rmsprop.centered_dominates",
    "without momentum the centred step is at least the uncentred one: v − ḡ² ≤ v",
    invariant=True,
    needs=("centered",),
)
def centered_dominates(ctx: Context) -> CheckResult:
    """ḡ_t and v_t are the same weighted sums Σw_k g'_k and Σw_k g'_k² with Σw_k = 1−α^t ≤ 1,
    so ḡ_t² ≤ (Σw)·v_t ≤ v_t (Cauchy–Schwarz): 0 ≤ ṽ_t ≤ v_t, the centred divisor is at most
    the uncentred one and, at μ = 0 (λ = 0, so both runs see the same g'), |Δθ^c_t| ≥ |Δθ^u_t|
    with the step finite. Both sides run in one optimizer, the centred copies in param groups
    of their own (``centred_twin``). Slack: the model's residual tolerances of both deltas."""
    spec, model = D.record(ctx, "RMSprop")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        n = len(case.params0) // 2
        for k in range(case.steps):
            for i in range(n):
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                c = n + i
                slack = slack + T.residual_tolerance(tol, k, c, traj[k + 1][c], traj[k][c])
                obs = Observation(
                    f"np.abs({D.delta_expr(c)})",
                    np.abs(traj[k + 1][c] - traj[k][c]),
                    np.abs(traj[k + 1][i] - traj[k][i]),
                    slack,
                    relation="at_least",
                )
                what = f"tensor {c} (centred copy of {i}) steps less than the uncentred one"
                D.require_at(ctx, what, obs, [case], k, c)

    fixed = {"weight_decay": 0.0, "momentum": 0.0, "centered": False}
    if not ctx.target.keeps_per_group("centered"):
        raise NotApplicable("needs a target that keeps 'centered' per param group")
    strategy = S.builds(
        centred_twin,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            fixed=fixed,
            steps=(1, 12),
            schedules=S.SCHEDULES,
        ),
    )
    return run_property(ctx, strategy, prop)
