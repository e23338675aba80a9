"""Muon invariants (Keller Jordan 2024; torch.optim.Muon), observed on float64 parameters.

Newton-Schulz acts on each singular value of X_0 = B̃/max(‖B̃‖_F, ε) separately,
x -> p^k(x) with p(x) = ax + bx³ + cx⁵ (reference.muon), so a plain step (no momentum, no
decay) moves θ by -γ'·O with σ_i(O) = p^k(x_i). For torch's coefficients and k = 5 the image
of [0.01, 1] is [0.6818, 1.1344] ("near 1"), not 1.

Round-off. torch computes NS in bfloat16. A worst-case bound on its error is useless here
(|p'| reaches 1.7 inside the band and a⁵ ≈ 488 near 0, so five steps amplify the first
rounding ~10x); instead the allowance is measured per case on the reference's own bf16 model
(reference.muon.newton_schulz_bfloat16, bit for bit torch's rounding): δ = 2·max_i
|σ_i(O_bf16) - σ_i(O_float64)| (Weyl: a perturbation E moves each σ by ≤ ‖E‖₂; doubled for an
implementation whose bf16 roundings fall differently), plus one bf16 rounding of the output
(2^-8·σ_max), plus the float64 round-off of reading O back from θ.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import muon
from optcheck.reference.spec import ErrorModel

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u
U_BF16 = 2.0**-8


def _muon(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name Muon (a record with an error model)")
    return spec, spec.error_model


def _spectrum(x: np.ndarray) -> np.ndarray:
    return np.linalg.svd(x, compute_uv=False) if x.size else np.zeros(0)


def ns_band(g: np.ndarray, hp: dict) -> tuple[float, float, float]:
    """(lo, hi, δ): where NS sends the spectrum of g (the interval p^k maps [x_min, x_max]
    into, on a fine grid plus the x_i themselves) and the round-off allowance δ."""
    coef, steps, eps = hp["ns_coefficients"], int(hp["ns_steps"]), float(hp["eps"])
    wide = g.T if g.shape[0] > g.shape[1] else g
    xs = _spectrum(wide) / max(float(np.linalg.norm(wide)), eps)
    grid = np.concatenate([np.linspace(xs.min(), xs.max(), 4001), xs])
    image = muon.ns_singular_value_map(grid, coef, steps)
    o64 = _spectrum(muon.newton_schulz(g, coef, steps, eps))
    o16 = _spectrum(muon.newton_schulz_bfloat16(g, coef, steps, eps))
    delta = 2 * float(np.max(np.abs(o16 - o64))) + U_BF16 * float(o16.max())
    return float(image.min()), float(image.max()), delta


@check(
    "muon.singular_values",
    "a plain step's update has the singular values Newton-Schulz gives (near 1), within its "
    "bf16 round-off",
    invariant=True,
)
def singular_values(ctx: Context) -> CheckResult:
    """Momentum 0 and no decay: O_t = (θ_{t-1} - θ_t)/γ' with γ' torch's adjusted lr; its
    singular values lie in [lo - δ, hi + δ] (``ns_band``: [0.6818, 1.1344] for torch's
    coefficients and a spectrum inside [0.01, 1])."""
    spec, _ = _muon(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        for i, theta0 in enumerate(case.params0):
            if not theta0.size:
                continue
            hp = case.tensor_hp(i)
            for k in range(case.steps):
                gamma = muon.adjusted_lr(case.lr_at(i, k), hp.get("adjust_lr_fn"), theta0.shape)
                if gamma == 0:
                    continue
                before, after = traj[k][i], traj[k + 1][i]
                sv = _spectrum((before - after) / gamma)
                lo, hi, delta = ns_band(case.grads[k][i], hp)
                readback = 4 * U * (np.linalg.norm(before) + np.linalg.norm(after)) / gamma
                slack = delta + readback
                for got, bound, relation in ((sv.max(), hi, "at_most"), (sv.min(), lo, "at_least")):
                    expr = (
                        f"np.linalg.svd((traj[0][STEP-1][{i}] - traj[0][STEP][{i}]) / {gamma!r}, "
                        f"compute_uv=False).{'max' if relation == 'at_most' else 'min'}()"
                    )
                    obs = Observation(
                        expr, np.asarray(got), np.asarray(bound), np.asarray(slack), relation
                    )
                    require(
                        ctx,
                        obs,
                        what="a singular value of the update O = Δθ/γ' leaves the NS band",
                        runs=[case],
                        step=k + 1,
                        tensor=i,
                    )

    cases = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"momentum": 0.0, "weight_decay": 0.0},
        steps=(1, 4),
    )
    return run_property(ctx, cases, prop)


@check(
    "muon.scale_invariance",
    "gradients c·g (c = 2^k) give the same trajectory as g: the update is scale-free",
    invariant=True,
)
def scale_invariance(ctx: Context) -> CheckResult:
    """NS divides by ‖B̃‖_F and the momentum buffer is linear in g, so scaling every gradient
    by c > 0 scales the buffer by c and leaves O, hence θ, unchanged (unless ‖B̃‖_F < ε,
    where the clamp scales: such cases are not compared). With c = 2^k every scaled
    quantity is exact, bf16 rounding included, so both runs have the same reference values
    and may differ by at most the sum of their derived tolerances."""
    spec, model = _muon(ctx)

    def prop(pair: tuple[S.Case, int]) -> None:
        case, k2 = pair
        c = 2.0**k2
        scaled = case.replace(grads=tuple(tuple(c * g for g in gs) for gs in case.grads))
        for i in range(len(case.params0)):
            hp, buf = case.tensor_hp(i), np.zeros_like(case.params0[i])
            for gs in case.grads:
                buf = muon._lerp(buf, gs[i], 1 - hp["momentum"])
                x = muon._lerp(gs[i], buf, hp["momentum"]) if hp["nesterov"] else buf
                if x.size and np.linalg.norm(x) * min(1.0, c) <= 2 * hp["eps"]:
                    raise NotApplicable("‖B̃‖_F near ε: the clamp does not scale")
        traj = trajectory(ctx, case, F64)
        traj_c = trajectory(ctx, scaled, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        tol_c = T.case_tolerance(model, scaled, F64, observed=traj_c[1:])
        if tol.outside or tol_c.outside:
            raise NotApplicable(tol.outside or tol_c.outside)
        for k in range(case.steps):
            for i in range(len(case.params0)):
                obs = Observation(
                    f"traj[0][STEP][{i}] - traj[1][STEP][{i}]",
                    traj[k + 1][i] - traj_c[k + 1][i],
                    np.zeros_like(traj[k + 1][i]),
                    tol.theta[k][i] + tol_c.theta[k][i],
                )
                require(
                    ctx,
                    obs,
                    what=f"scaling the gradients by c = {c:g} changes the trajectory",
                    runs=[case, scaled],
                    step=k + 1,
                    tensor=i,
                    scalars={"c": c},
                )

    cases = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 4), exponents=(-3, 6))
    strategy = st.tuples(cases, st.integers(-8, 8).filter(lambda k: k != 0))
    return run_property(ctx, strategy, prop)
