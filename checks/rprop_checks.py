"""Rprop invariants (Riedmiller & Braun 1993; torch.optim.Rprop is iRprop− of Igel & Hüsken
2000): per element, Δ_t = clamp(Δ_{t−1}·η±, Γmin, Γmax) by the sign of g'_t·g_prev (Δ_0 = lr),
the gradient zeroed where that sign is negative, Δθ_t = −Δ_t·sign(g'_t), g_prev ← g'_t;
g' = ±g (no weight decay).

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run; tolerances come
from the record's error model (checks.tolerance.residual_tolerance / .theta).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, check, run_property

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


@check(
    "rprop.step_sizes",
    "every step is 0 or a step size within step_sizes: |Δθ_t| ∈ {0} ∪ [Γmin, Γmax]",
    invariant=True,
)
def step_sizes(ctx: Context) -> CheckResult:
    """|Δθ_t| = Δ_t·|sign(g'_t)| and Δ_t is clamped to [Γmin, Γmax] every step, the first one
    included (Δ_1 = clamp(lr); torch.clamp lets Γmax win when Γmin > Γmax, so the range is
    [min(Γmin, Γmax), Γmax]). A step within its residual tolerance of 0 counts as 0. Slack:
    the model's residual tolerance of Δθ_t."""
    spec, model = D.record(ctx, "Rprop")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            lo, hi = (float(x) for x in case.tensor_hp(i).get("step_sizes", (1e-6, 50.0)))
            for k in range(case.steps):
                step = np.abs(traj[k + 1][i] - traj[k][i])
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                expr = f"np.abs({D.delta_expr(i)})"
                for obs in (
                    Observation(expr, step, np.full_like(step, hi), slack, relation="at_most"),
                    Observation(
                        expr,
                        step,
                        np.where(step > slack, min(lo, hi), 0.0),
                        slack,
                        relation="at_least",
                    ),
                ):
                    what = f"a step outside {{0}} ∪ [{min(lo, hi):g}, {hi:g}]"
                    D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


class _Rescaled:
    """A case and the same case with every gradient element times its own 2^j, j drawn per
    step and element in [−20, 20] from ``seed`` (powers of 2: scaling rounds nothing)."""

    def __init__(self, case: S.Case, seed: int):
        self.case, self.seed = case, seed
        rng = np.random.default_rng(seed)

        def scale(g: np.ndarray | None) -> np.ndarray | None:
            return None if g is None else g * 2.0 ** rng.integers(-20, 21, size=g.shape)

        self.scaled = case.replace(
            grads=tuple(tuple(scale(g) for g in gs) for gs in case.grads),
            recipe={**case.recipe, "positive_scale_seed": seed},
        )

    def describe(self) -> dict[str, Any]:
        return {"runs": [self.case.describe(), self.scaled.describe()], "seed": self.seed}


@check(
    "rprop.sign_only",
    "only gradient signs matter: positive per-step, per-element scaling leaves θ_t unchanged",
    invariant=True,
)
def sign_only(ctx: Context) -> CheckResult:
    """Riedmiller & Braun 1993 §3: the update uses sign(g'_t) and sign(g'_t·g_prev) only, so
    gradients c_{t}·g'_t with c > 0 (elementwise) give the same trajectory; with c = 2^j the
    scaled inputs are exact and no product g'·g_prev underflows (drawn |g| ≳ 1e-13). Slack: the
    model's bound on each run's θ_t (both runs approximate the same exact trajectory)."""
    spec, model = D.record(ctx, "Rprop")

    def prop(pair: _Rescaled) -> None:
        case, scaled = pair.case, pair.scaled
        ta = trajectory(ctx, case, F64)
        tb = trajectory(ctx, scaled, F64)
        tol_a = T.case_tolerance(model, case, F64, observed=ta[1:])
        tol_b = T.case_tolerance(model, scaled, F64, observed=tb[1:])
        for k in range(case.steps):
            for i in range(len(case.params0)):
                obs = Observation(
                    f"traj[1][STEP][{i}]",
                    tb[k + 1][i],
                    ta[k + 1][i],
                    tol_a.theta[k][i] + tol_b.theta[k][i],
                )
                what = "scaling the gradients by positive factors changed θ"
                runs = [case, scaled]
                D.require_at(ctx, what, obs, runs, k, i)

    strategy = S.builds(
        _Rescaled,
        S.target_cases(
            spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 12), schedules=S.SCHEDULES
        ),
        st.integers(0, 2**32 - 1),
    )
    return run_property(ctx, strategy, prop)


def flips(gps: list[np.ndarray]) -> list[np.ndarray]:
    """iRprop−'s skip masks from the gradients alone: flip_t = g'_t·g_prev < 0, where g_prev is
    g'_{t−1}, or 0 where step t−1 was itself a flip (the zeroed gradient is what is stored)."""
    prev = np.zeros_like(gps[0])
    out = []
    for g in gps:
        flip = np.sign(g * prev) < 0
        out.append(flip)
        prev = np.where(flip, 0.0, g)
    return out


@check(
    "rprop.flip_skips",
    "iRprop−: no step where the gradient's sign flipped, else a step against the gradient",
    invariant=True,
)
def flip_skips(ctx: Context) -> CheckResult:
    """Igel & Hüsken 2000, iRprop− (torch's): where g'_t·g_prev < 0 the gradient is set to 0,
    so Δθ_t = −Δ_t·sign(0) = 0 there and the stored g_prev is 0 (``flips``); elsewhere
    Δθ_t = −Δ_t·sign(g'_t) with Δ_t > 0, i.e. −sign(g'_t)·Δθ_t ≥ 0. Slack: the model's
    residual tolerance of Δθ_t."""
    spec, model = D.record(ctx, "Rprop")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            gps = [D.coupled_grad(hp, gs[i], traj[0][i])[0] for gs in case.grads]
            for k, flip in enumerate(flips(gps)):
                step = traj[k + 1][i] - traj[k][i]
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                mask = f"np.asarray({flip.tolist()!r})"
                skipped = Observation(
                    f"np.where({mask}, np.abs({D.delta_expr(i)}), 0.0)",
                    np.where(flip, np.abs(step), 0.0),
                    np.zeros_like(step),
                    slack,
                    relation="at_most",
                )
                sign = np.sign(gps[k])
                downhill = Observation(
                    f"np.where({mask}, 0.0, -np.asarray({sign.tolist()!r}) * ({D.delta_expr(i)}))",
                    np.where(flip, 0.0, -sign * step),
                    np.zeros_like(step),
                    slack,
                    relation="at_least",
                )
                for obs, what in (
                    (skipped, "a step where the gradient's sign flipped (iRprop− skips it)"),
                    (downhill, "a step along the gradient"),
                ):
                    D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        kinds=("sign_flip", "random", "sparse", "mixed", "zeros"),
        steps=(2, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
