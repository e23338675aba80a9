"""Adagrad invariants (Duchi, Hazan & Singer 2011; torch.optim.Adagrad's lr_decay and τ).

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run, with
g'_t = ±g_t + λθ_{t−1} formed from the target's own θ_{t−1}, η̃_t = η_t/(1 + (t−1)·d) (d =
lr_decay, t the tensor's step count), s_0 = τ (initial_accumulator_value) and
s_t = s_{t−1} + g'_t², so that Δθ_t = −η̃_t·g'_t/(√s_t + ε). Tolerances come from the record's
error model (checks.tolerance): ``residual_tolerance`` bounds the error of an observed Δθ_t;
a bound computed here from g'_t adds its own rounding, stated where it is used.
"""

from __future__ import annotations

import numpy as np

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, check, run_property

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _lr(case: S.Case, i: int, k: int) -> float:
    """η̃ at step k+1: torch divides the group's lr by 1 + (t−1)·lr_decay."""
    return case.lr_at(i, k) / (1.0 + k * float(case.tensor_hp(i).get("lr_decay", 0.0)))


@check(
    "adagrad.first_step",
    "first step is −η·g'/(√(τ+g'²)+ε) elementwise (τ = initial_accumulator_value)",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Duchi et al. Fig. 1 with torch's s_0 = τ: s_1 = τ + g'², and lr_decay does not act yet
    (η̃_1 = η/(1 + 0·d)), so θ_1 = θ_0 − η·g'/(√(τ+g'²)+ε), g' = ±g + λθ_0. The expected value
    is the reference's own float64 arithmetic, whose error the model's tolerance includes."""
    spec, model = D.record(ctx, "Adagrad")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            gp, _ = D.coupled_grad(hp, case.grads[0][i], theta0)
            tau, eps = float(hp.get("initial_accumulator_value", 0.0)), float(hp.get("eps", 1e-10))
            expected = theta0 - case.lr_at(i, 0) * gp / (np.sqrt(tau + gp * gp) + eps)
            obs = Observation(
                f"traj[0][1][{i}]",
                traj[1][i],
                expected,
                T.residual_tolerance(tol, 0, i, traj[1][i], theta0),
            )
            what = "first step is not −η·g/(√(τ+g²)+ε)"
            D.require_at(ctx, what, obs, [case], 0, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


@check(
    "adagrad.accumulator_monotone",
    "the accumulator never decreases: |Δθ_t|/(η̃_t|g'_t|) = 1/(√s_t+ε) never grows",
    invariant=True,
)
def accumulator_monotone(ctx: Context) -> CheckResult:
    """s_t = s_{t−1} + g'_t² ≥ s_{t−1} ≥ τ (Duchi et al. Fig. 1: a sum of squares), so the
    revealed q_t = |Δθ_t|/(η̃_t|g'_t|) = 1/(√s_t+ε) is non-increasing and at most
    q_0 = 1/(√τ+ε). Checked as |Δθ_t| ≤ η̃_t|g'_t|·min_{s<t}(q_s + e_s), where e_s bounds the
    error of q_s: the model's residual tolerance of Δθ_s over η̃_s|g'_s|, plus q_s times the
    relative rounding of g'_s and 4u for the division and η̃ (q_0 gets 4u·q_0). The slack of
    step t is its own residual tolerance plus η̃_t·(g'_t's rounding)·min(q_s + e_s)."""
    spec, model = D.record(ctx, "Adagrad")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            tau, eps = float(hp.get("initial_accumulator_value", 0.0)), float(hp.get("eps", 1e-10))
            q0 = 1.0 / (np.sqrt(tau) + eps)
            qmin = np.full_like(theta0, q0 * (1 + 4 * U))
            for k in range(case.steps):
                gp, gerr = D.coupled_grad(hp, case.grads[k][i], traj[k][i])
                scale = _lr(case, i, k) * np.abs(gp)
                delta = np.abs(traj[k + 1][i] - traj[k][i])
                err = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = np.where(scale > 0, gerr / np.abs(gp), np.inf)
                bound = scale * qmin
                obs = Observation(
                    f"np.abs({D.delta_expr(i)})",
                    delta,
                    bound,
                    err + _lr(case, i, k) * gerr * qmin,
                    relation="at_most",
                )
                what = "the step grew against the gradient: the accumulator decreased"
                D.require_at(ctx, what, obs, [case], k, i)
                with np.errstate(divide="ignore", invalid="ignore"):
                    q = delta / scale
                    e = err / scale + q * (rel + 4 * U)
                qmin = np.where((scale > 0) & np.isfinite(e), np.minimum(qmin, q + e), qmin)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(2, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


@check(
    "adagrad.step_bound",
    "every step is at most η̃_t·|g'_t|/(√(τ+g'_t²)+ε): the sum includes τ and the current g'²",
    invariant=True,
)
def step_bound(ctx: Context) -> CheckResult:
    """s_t = τ + Σ_{k≤t} g'_k² ≥ τ + g'_t² (the accumulator is updated before the division and
    starts at τ), so |Δθ_t| = η̃_t|g'_t|/(√s_t+ε) ≤ η̃_t|g'_t|/(√(τ+g'_t²)+ε) < η̃_t. Slack:
    the model's residual tolerance of Δθ_t; the bound, increasing in |g'| with slope at most
    η̃_t/(√(τ+g'²)+ε), moves by at most that times g'_t's rounding, plus 8u of itself for
    its own six operations."""
    spec, model = D.record(ctx, "Adagrad")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            tau, eps = float(hp.get("initial_accumulator_value", 0.0)), float(hp.get("eps", 1e-10))
            for k in range(case.steps):
                gp, gerr = D.coupled_grad(hp, case.grads[k][i], traj[k][i])
                lr = _lr(case, i, k)
                denom = np.sqrt(tau + gp * gp) + eps
                bound = lr * np.abs(gp) / denom
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                obs = Observation(
                    f"np.abs({D.delta_expr(i)})",
                    np.abs(traj[k + 1][i] - traj[k][i]),
                    bound,
                    slack + lr * gerr / denom + 8 * U * bound,
                    relation="at_most",
                )
                what = "the step exceeds η̃·|g|/(√(τ+g²)+ε)"
                D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)
