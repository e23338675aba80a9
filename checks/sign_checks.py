"""Sign-based updates, for every record whose step is η·sign(·) coordinate by coordinate: Lion
(Chen et al. 2023, Alg. 2), signSGD and Signum (Bernstein et al. 2018, Alg. 1 and 3).

Observed through the deltas Δθ_t = θ_t − θ_{t−1} of an open-loop float64 run. A sign is exact
whatever the rounding of its argument, so these relations hold to the rounding of forming
θ − η·s and reading Δθ back (2u·(|θ_{t−1}| + |θ_t| + η) per step), flips or not.
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


def _readback(before: np.ndarray, after: np.ndarray, lr: float) -> np.ndarray:
    return 2 * U * (np.abs(before) + np.abs(after) + lr)


@check(
    "sign.update",
    "without decay every coordinate of every update is exactly ±η or 0",
    invariant=True,
)
def update(ctx: Context) -> CheckResult:
    """θ_t = θ_{t−1} − η_t·sign(c_t) with λ = 0: |Δθ_t| ∈ {0, η_t} elementwise, for any
    gradients and momentum (a scaled, clipped or Adam-like update fails it)."""
    spec, _ = D.record(ctx, "a sign-based algorithm")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        for k in range(case.steps):
            for i in range(len(case.params0)):
                lr = case.lr_at(i, k)
                step = np.abs(traj[k][i] - traj[k + 1][i])
                off = np.minimum(step, np.abs(step - lr))
                delta = f"np.abs(traj[0][STEP-1][{i}] - traj[0][STEP][{i}])"
                obs = Observation(
                    f"np.minimum({delta}, np.abs({delta} - {lr!r}))",
                    off,
                    np.zeros_like(off),
                    _readback(traj[k][i], traj[k + 1][i], lr),
                )
                D.require_at(ctx, "an update coordinate is neither ±η nor 0", obs, [case], k, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, fixed={"weight_decay": 0.0})
    return run_property(ctx, strategy, prop)


@check(
    "sign.constant_gradient",
    "under a constant gradient g every step is −η·sign(g) (+η·sign(g) with maximize)",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """m_0 = 0 and g_t = g: every average of g's from zero has g's sign (Lion: m_t = (1−β2^t)g
    and c_t = (β1(1−β2^(t−1)) + 1−β1)g for β1 < 1; Signum: m_t = (1−β^t)g; signSGD: g), so
    θ_t = θ_0 − Σ_{j≤t} η_j·sign(±g) exactly: the direction, maximize and the absence of any
    magnitude in the update, at once. Rounding: one θ − η·s per step."""
    spec, _ = D.record(ctx, "a sign-based algorithm")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            g = case.grads[0][i]
            direction = np.sign(-g if hp.get("maximize", False) else g)
            expected, slack = theta0.copy(), np.zeros_like(theta0)
            for k in range(case.steps):
                lr = case.lr_at(i, k)
                expected = expected - lr * direction
                slack = slack + _readback(traj[k][i], traj[k + 1][i], lr)
                obs = Observation(f"traj[0][STEP][{i}]", traj[k + 1][i], expected, slack)
                what = "under a constant gradient the step is not −η·sign(g)"
                D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0},
        kinds=("constant",),
        steps=(1, 8),
    )
    return run_property(ctx, strategy, prop)


@check(
    "signsgd.memoryless",
    "with momentum 0 (signSGD) every step is −η_t·sign(g_t) (+η_t·sign(g_t) with maximize)",
    invariant=True,
)
def memoryless(ctx: Context) -> CheckResult:
    """Bernstein et al. 2018, Alg. 1: θ_t = θ_{t−1} − η_t·sign(g_t), each step from its own
    gradient alone, whatever came before (a buffer kept at momentum 0, a default β read
    for a falsy 0, or maximize ignored, fails it). Rounding: one θ − η·s per step."""
    spec, _ = D.record(ctx, "a sign-based algorithm")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        for k in range(case.steps):
            for i in range(len(case.params0)):
                hp = case.tensor_hp(i)
                g = case.grads[k][i]
                lr = case.lr_at(i, k)
                expected = traj[k][i] - lr * np.sign(-g if hp.get("maximize", False) else g)
                obs = Observation(
                    f"traj[0][STEP][{i}]",
                    traj[k + 1][i],
                    expected,
                    _readback(traj[k][i], traj[k + 1][i], lr),
                )
                what = "with momentum 0 the step is not −η·sign(g_t)"
                D.require_at(ctx, what, obs, [case], k, i)

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0, "momentum": 0.0},
        steps=(2, 8),
    )
    return run_property(ctx, strategy, prop)
