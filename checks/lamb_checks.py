"""LAMB invariants (You et al. 2020, Alg. 2): the trust ratio fixes each tensor's step norm.

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run, per tensor, with
λ = 0 (then the step is η_t·φ(‖θ_{t−1}‖)·r_t/‖r_t‖, φ(z) = min(z, 10)).
"""

from __future__ import annotations

import numpy as np

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, check, run_property
from optcheck.reference.lamb import CLAMP

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


@check(
    "lamb.trust_ratio",
    "without decay every step of a tensor has norm η·min(‖θ‖, 10), whatever the gradients",
    invariant=True,
)
def trust_ratio(ctx: Context) -> CheckResult:
    """‖Δθ_t‖ = η_t·φ(‖θ_{t−1}‖)·‖r_t‖/‖r_t‖ = η_t·min(‖θ_{t−1}‖, 10) for any gradient history
    with r_t ≠ 0 (0 when every gradient so far was 0): no bias correction, ε or β changes it.
    Tolerance: reading Δθ back (2u(|θ_{t−1}| + |θ_t|) per coordinate, as a norm) and the
    target's rounding of two norms, a quotient and n products (2n + 16 roundings of the step's
    norm), plus the float64 norms here."""
    spec, _ = D.record(ctx, "LAMB")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        for i in range(len(case.params0)):
            b1 = float(case.tensor_hp(i).get("betas", (0.9, 0.999))[0])
            sign = -1.0 if case.tensor_hp(i).get("maximize", False) else 1.0
            m = np.zeros_like(case.params0[i])
            for k in range(case.steps):
                m = b1 * m + (1 - b1) * sign * case.grads[k][i]
                before, after = traj[k][i], traj[k + 1][i]
                norm = float(np.sqrt(np.sum(before * before)))
                if norm == 0:
                    continue  # ratio 1: the step is η·r, not a norm the ratio fixes
                lr = case.lr_at(i, k)
                expected = lr * min(norm, CLAMP) if np.any(m != 0) else 0.0
                got = float(np.sqrt(np.sum((after - before) ** 2)))
                readback = 2 * U * (np.abs(before) + np.abs(after))
                slack = float(np.sqrt(np.sum(readback**2))) + (2 * before.size + 16) * U * expected
                obs = Observation(
                    f"np.linalg.norm({D.delta_expr(i)})",
                    np.array(got),
                    np.array(expected),
                    np.array(slack),
                )
                D.require_at(ctx, "a step's norm is not η·min(‖θ‖, 10)", obs, [case], k, i)

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0},
        steps=(1, 8),
        schedules=S.SCHEDULES,
        # ‖θ‖ on both sides of φ's bound 10 (the relation is otherwise scale-free).
        param_exponents=(0, 2),
    )
    return run_property(ctx, strategy, prop)


@check(
    "lamb.first_step",
    "first step is −η·φ(‖θ‖)·s/‖s‖ with s = g/(|g|+ε): Adam's first step, normalised",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Alg. 2 at t = 1: m̂_1 = g, v̂_1 = g², so r_1 = g/(|g|+ε) and θ_1 = θ_0 −
    η·φ(‖θ_0‖)·r_1/‖r_1‖ (λ = 0; r_1 = 0 or θ_0 = 0: ratio 1, θ_1 = θ_0 − η·r_1). The
    direction tells the bias correction (raw moments give (1−β1)g/(√(1−β2)|g|+ε)) and which
    norm the ratio takes. Tolerance: the record's error model from θ_0 (checks.errorprop)."""
    spec, model = D.record(ctx, "LAMB")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp, lr = case.tensor_hp(i), case.lr_at(i, 0)
            g = (-1.0 if hp.get("maximize", False) else 1.0) * case.grads[0][i]
            r = g / (np.abs(g) + float(hp.get("eps", 1e-6)))
            w, n = float(np.sqrt(np.sum(theta0 * theta0))), float(np.sqrt(np.sum(r * r)))
            ratio = min(w, CLAMP) / n if w > 0 and n > 0 else 1.0
            obs = Observation(
                f"traj[0][1][{i}]",
                traj[1][i],
                theta0 - lr * ratio * r,
                T.residual_tolerance(tol, 0, i, traj[1][i], theta0),
            )
            D.require_at(ctx, "first step is not −η·φ(‖θ‖)·s/‖s‖", obs, [case], 0, i)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, fixed={"weight_decay": 0.0}, steps=(1, 1)
    )
    return run_property(ctx, strategy, prop)
