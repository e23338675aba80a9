"""Adadelta invariants (Zeiler 2012, arXiv:1212.5701, Algorithm 1) in torch.optim.Adadelta's
arrangement: v_t = ρv + (1−ρ)g'², δ_t = √(u_{t−1}+ε)/√(v_t+ε)·g', u_t = ρu + (1−ρ)δ_t²,
Δθ_t = −η_t·δ_t; v_0 = u_0 = 0, g' = ±g + λθ_{t−1}. The lr scales the applied step only.

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run; tolerances come
from the record's error model (checks.tolerance.residual_tolerance), plus the rounding of any
bound computed here, stated per check.
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


@check(
    "adadelta.first_step",
    "first step is −η·√ε/√((1−ρ)g'²+ε)·g' elementwise (u_0 = 0)",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Zeiler Alg. 1 from zero accumulators: v_1 = (1−ρ)g'², RMS[Δx]_0 = √(0+ε), so
    Δθ_1 = −η·√ε/√(v_1+ε)·g', g' = ±g + λθ_0 (torch scales by η). Computed in the reference's
    own float64 operations, whose error the model's residual tolerance includes."""
    spec, model = D.record(ctx, "Adadelta")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            rho, eps = float(hp.get("rho", 0.9)), float(hp.get("eps", 1e-6))
            gp, _ = D.coupled_grad(hp, case.grads[0][i], theta0)
            v = rho * 0.0 + (1.0 - rho) * (gp * gp)
            expected = theta0 - case.lr_at(i, 0) * (np.sqrt(eps) / np.sqrt(v + eps) * gp)
            obs = Observation(
                f"traj[0][1][{i}]",
                traj[1][i],
                expected,
                T.residual_tolerance(tol, 0, i, traj[1][i], theta0),
            )
            what = "first step is not −η·√ε/√((1−ρ)g²+ε)·g"
            D.require_at(ctx, what, obs, [case], 0, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


@check(
    "adadelta.step_bound",
    "|Δθ_t| ≤ η_t·|g'_t|·√((1−ρ^(t−1))·D² + ε)/√((1−ρ)g'_t² + ε), D = max earlier |δ|",
    invariant=True,
)
def step_bound(ctx: Context) -> CheckResult:
    """u_{t−1} = Σ_{k<t}(1−ρ)ρ^(t−1−k)·δ_k² ≤ (1−ρ^(t−1))·D²_{t−1} (weights sum to 1−ρ^(t−1)),
    D_{t−1} = max_{k<t}|δ_k|, and v_t ≥ (1−ρ)g'_t², so |δ_t| ≤ |g'_t|·√((1−ρ^(t−1))D² + ε)/
    √((1−ρ)g'_t² + ε): at t = 1 the exact first step, at ρ = 1 plain |g'| (u = v = 0), at most
    √(((1−ρ^(t−1))D² + ε)/(1−ρ)) for ρ < 1 whatever g'. D is read from the observed steps,
    |δ_k| = |Δθ_k|/η_k, taken at its upper end (|Δθ_k| + its residual tolerance)/η_k. Slack:
    the model's residual tolerance of Δθ_t; the bound grows with |g'| at most by the factor
    √((1−ρ^(t−1))D²+ε)/√((1−ρ)g'²+ε), applied to g'_t's rounding; 10u of itself for its own
    operations."""
    spec, model = D.record(ctx, "Adadelta")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            rho, eps = float(hp.get("rho", 0.9)), float(hp.get("eps", 1e-6))
            dmax = np.zeros_like(theta0)
            for k in range(case.steps):
                lr = case.lr_at(i, k)
                gp, gerr = D.coupled_grad(hp, case.grads[k][i], traj[k][i])
                num = np.sqrt((1.0 - rho**k) * dmax * dmax + eps)
                den = np.sqrt((1.0 - rho) * gp * gp + eps)
                bound = lr * np.abs(gp) * num / den
                delta = np.abs(traj[k + 1][i] - traj[k][i])
                err = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                obs = Observation(
                    f"np.abs({D.delta_expr(i)})",
                    delta,
                    bound,
                    err + lr * gerr * num / den + 10 * U * bound,
                    relation="at_most",
                )
                what = "the step exceeds what u (an average of past δ²) allows"
                D.require_at(ctx, what, obs, [case], k, i)
                dmax = np.maximum(dmax, (delta + err) / lr * (1 + 2 * U))

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


class _UnitLr:
    """A case and the same case with lr = 1 written to every group before every step (as a
    scheduler would: the lrs travel with each run into the evidence snippet)."""

    def __init__(self, case: S.Case):
        self.case = case
        self.unit = case.replace(lrs=(1.0,) * case.steps)

    def describe(self) -> dict[str, Any]:
        return {"runs": [self.case.describe(), self.unit.describe()]}


@check(
    "adadelta.lr_scale",
    "the lr scales the applied step only: Δθ_t(η) = η_t·Δθ_t(η = 1) (λ = 0)",
    invariant=True,
)
def lr_scale(ctx: Context) -> CheckResult:
    """torch.optim.Adadelta docs: θ ← θ − η·δ_t with u accumulating δ_t (not ηδ_t), so with
    λ = 0 (g' then does not depend on θ) δ_t is the same for every lr sequence and a run's
    deltas are η_t times those of the run at η = 1 (Zeiler's original). Slack: the model's
    residual tolerances of Δθ_t(η) and η_t times that of Δθ_t(1), plus 2u of the product."""
    spec, model = D.record(ctx, "Adadelta")

    def prop(pair: _UnitLr) -> None:
        case, unit = pair.case, pair.unit
        ta = trajectory(ctx, case, F64)
        t1 = trajectory(ctx, unit, F64)
        tol_a = T.case_tolerance(model, case, F64, observed=ta[1:])
        tol_1 = T.case_tolerance(model, unit, F64, observed=t1[1:])
        for k in range(case.steps):
            for i in range(len(case.params0)):
                lr = case.lr_at(i, k)
                scaled = lr * (t1[k + 1][i] - t1[k][i])
                slack = T.residual_tolerance(tol_a, k, i, ta[k + 1][i], ta[k][i])
                slack = slack + lr * T.residual_tolerance(tol_1, k, i, t1[k + 1][i], t1[k][i])
                obs = Observation(
                    D.delta_expr(i),
                    ta[k + 1][i] - ta[k][i],
                    scaled,
                    slack + 2 * U * np.abs(scaled),
                )
                what = f"the step is not η_t = {lr:g} times the step at lr = 1"
                D.require_at(ctx, what, obs, [case, unit], k, i)

    strategy = S.builds(
        _UnitLr,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            fixed={"weight_decay": 0.0},
            steps=(1, 12),
            schedules=S.SCHEDULES,
        ),
    )
    return run_property(ctx, strategy, prop)
