"""Adan invariants (Xie et al. 2022, Alg. 1, as the authors' code runs it: bias-corrected
moments from 0, first difference d_1 = 0, proximal decay).

Observed through an open-loop float64 run. Each closed form holds for any β1, β2, β3: where the
gradient difference is 0 the v-moment is 0 and the Nesterov term g + β2·d is g, so the step is
Adam's −η·g/(|g|+ε); where the gradients are 0 every moment is 0 and only the proximal decay
1/(1+ηλ) acts. Tolerances: the error model's residual bound at that step plus the rounding of
the closed form (a few u of the expected value).
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


def _adam_like(hp: dict, g: np.ndarray, lr: float) -> np.ndarray:
    """−η·g'/(|g'|+ε): the step when d = 0 (m̂ = g', n̂ = g'², v = 0), g' = ±g."""
    gp = -g if hp.get("maximize", False) else g
    return -lr * gp / (np.abs(gp) + float(hp.get("eps", 1e-8)))


def _prox(hp: dict, lr: float) -> float:
    return 1.0 + lr * float(hp.get("weight_decay", 0.0))


def _require_steps(ctx: Context, case: S.Case, expected_at, what: str) -> None:
    """θ_t against ``expected_at(k, i, θ_{t−1})`` at every step, from the target's own θ_{t−1}."""
    spec, model = D.record(ctx, "Adan")
    traj = trajectory(ctx, case, F64)
    tol = T.case_tolerance(model, case, F64, observed=traj[1:])
    for k in range(case.steps):
        for i in range(len(case.params0)):
            expected = expected_at(k, i, traj[k][i])
            slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
            obs = Observation(
                f"traj[0][STEP][{i}]", traj[k + 1][i], expected, slack + 8 * U * np.abs(expected)
            )
            D.require_at(ctx, what, obs, [case], k, i)


@check(
    "adan.first_step",
    "the first step is (θ − η·g/(|g|+ε))/(1+ηλ): d_1 = 0, the moments corrected, decay proximal",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """d_1 = g_1 − g_0 with g_0 = g_1 (the authors' code), so v_1 = 0 and n̂_1 = g'², m̂_1 = g':
    θ_1 = (θ_0 − η·g'/(|g'|+ε))/(1+ηλ), whatever the betas. A first difference taken from 0
    (d_1 = g), or from a gradient of the wrong sign under maximize, or uncorrected moments,
    or the decay outside the proximal form, fail it."""
    spec, _ = D.record(ctx, "Adan")

    def prop(case: S.Case) -> None:
        def expected(k, i, before):
            hp, lr = case.tensor_hp(i), case.lr_at(i, k)
            return (before + _adam_like(hp, case.grads[k][i], lr)) / _prox(hp, lr)

        _require_steps(ctx, case, expected, "the first step is not (θ − η·g/(|g|+ε))/(1+ηλ)")

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


@check(
    "adan.constant_gradient",
    "under a constant gradient every step is −η_t·g/(|g|+ε) (d = 0, m̂ = g, n̂ = g²)",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """g_t = g: d_t = 0 at every step, so v_t = 0 and the bias-corrected m̂_t = g', n̂_t = g'²
    exactly: the step is −η_t·g'/(|g'|+ε) at every t, independent of t and the betas
    (λ = 0). Moments left uncorrected, or maximize ignored, fail it."""
    spec, _ = D.record(ctx, "Adan")

    def prop(case: S.Case) -> None:
        def expected(k, i, before):
            return before + _adam_like(case.tensor_hp(i), case.grads[k][i], case.lr_at(i, k))

        _require_steps(
            ctx, case, expected, "under a constant gradient the step is not −η·g/(|g|+ε)"
        )

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0},
        kinds=("constant", "near_eps"),
        steps=(2, 10),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)


@check(
    "adan.prox_decay",
    "with zero gradients θ_t = θ_{t−1}/(1+η_tλ): the proximal decay acts alone",
    invariant=True,
)
def prox_decay(ctx: Context) -> CheckResult:
    """Alg. 1's last line, θ_{k+1} = (1+λη)⁻¹[θ_k − η_k∘(m_k + β2 v_k)], with g = 0: every
    moment stays 0, the step is 0/(0+ε) = 0 and θ_t = θ_{t−1}/(1+η_tλ). The no-prox form
    θ(1−ηλ) parts from it by (ηλ)²θ; decay coupled into the gradient steps by about η."""
    spec, _ = D.record(ctx, "Adan")

    def prop(case: S.Case) -> None:
        def expected(k, i, before):
            return before / _prox(case.tensor_hp(i), case.lr_at(i, k))

        _require_steps(ctx, case, expected, "with zero gradients θ is not θ/(1+ηλ)")

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        kinds=("zeros",),
        steps=(1, 6),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
