"""NAdam invariants (Dozat 2016, Alg. 2 with the §3 momentum schedule; torch.optim.NAdam).

torch's step: μ_t = β1(1 − ½·0.96^(tψ)) (ψ = momentum_decay), Π_t = Π_{k≤t} μ_k, and
    θ_t = D·θ_{t−1} − η(1−μ_t)/(1−Π_t)·g'/d_t − η·μ_{t+1}/(1−Π_t·μ_{t+1})·m_t/d_t,
d_t = √(v_t/(1−β2^t)) + ε, with D = 1 − ηλ under decoupled_weight_decay (else D = 1 and
g' = ±g + λθ_{t−1}). Observed through r_t = θ_t − D·θ_{t−1} of an open-loop float64 run.
Tolerances: checks.tolerance's residual bound — which already charges torch's float32
'mu_product' (reference.nadam: a 0-d tensor of the default dtype) — plus the float64 rounding
of the closed form evaluated here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.spec import ErrorModel

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _nadam(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name NAdam (a record with an error model)")
    return spec, spec.error_model


def mu(beta1: float, psi: float, t: int) -> float:
    """Dozat §3's momentum schedule as torch.optim.NAdam writes it."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))


def constant_gradient_factor(beta1: float, psi: float, t: int) -> tuple[float, float]:
    """(c_t, a bound on its relative float64 error) with Δθ_t = −η·c_t·g/(|g|+ε) under a
    constant gradient: m_t = (1−β1^t)·g and √v̂_t = |g|, so
        c_t = (1−μ_t)/(1−Π_t) + μ_{t+1}(1−β1^t)/(1−Π_t·μ_{t+1}).
    At t = 1 (any gradient: m_1 = (1−β1)g', √v̂_1 = |g'|) this is the first-step form.
    Rounding: Π_t takes t products and each 1 − Π amplifies an error by Π/(1−Π) ≤ 1/(1−β1);
    the schedule's power and the remaining ~8 operations add u each."""
    prod = math.prod(mu(beta1, psi, k) for k in range(1, t + 1))
    mu_next = mu(beta1, psi, t + 1)
    c = (1 - mu(beta1, psi, t)) / (1 - prod) + mu_next * (1 - beta1**t) / (1 - prod * mu_next)
    amplify = 1 / (1 - prod) + 1 / (1 - prod * mu_next)
    return c, (2 * (t + 4) * amplify + 16) * U


def _hp(hp: dict[str, Any]) -> tuple[float, float, float, float]:
    b1 = float(hp.get("betas", (0.9, 0.999))[0])
    return (
        b1,
        float(hp.get("momentum_decay", 4e-3)),
        float(hp.get("eps", 1e-8)),
        float(hp.get("weight_decay", 0.0)),
    )


def _decoupled(hp: dict[str, Any]) -> bool:
    return bool(hp.get("decoupled_weight_decay", False))


def _adam_like_steps(ctx: Context, case: S.Case, what: str, steps: int) -> None:
    """Compare r_t with −η·c_t·g'/(|g'|+ε) for the first ``steps`` steps (g' from the
    target's own θ_{t−1}: under coupled decay only t = 1 is constant-gradient)."""
    traj = trajectory(ctx, case, F64)
    tol = T.case_tolerance(ctx.spec.error_model, case, F64, observed=traj[1:])  # type: ignore[union-attr]
    for k in range(min(steps, case.steps)):
        for i in range(len(case.params0)):
            hp, lr = case.tensor_hp(i), case.lr_at(i, k)
            b1, psi, eps, lam = _hp(hp)
            gp = (-1.0 if hp.get("maximize", False) else 1.0) * case.grads[k][i]
            d = 1.0 - lr * lam if _decoupled(hp) else 1.0
            if not _decoupled(hp) and lam != 0:
                gp = gp + lam * traj[k][i]
            c, rel = constant_gradient_factor(b1, psi, k + 1)
            expected = -lr * c * gp / (np.abs(gp) + eps)
            obs = Observation(
                deltas.delta_expr(i, 0, d),
                traj[k + 1][i] - d * traj[k][i],
                expected,
                T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                + (rel + 4 * U) * np.abs(expected),
            )
            require(
                ctx,
                obs,
                what=what,
                runs=[case],
                step=k + 1,
                tensor=i,
            )


@check(
    "nadam.first_step",
    "first step is −η·[1 + μ_2(1−β1)/(1−μ_1μ_2)]·g/(|g|+ε) (μ_t from momentum_decay ψ)",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Dozat 2016 Alg. 2 at t = 1: m_1 = (1−β1)g', v̂_1 = g'², Π_1 = μ_1, so the gradient part
    weighs (1−μ_1)/(1−μ_1) = 1 and the momentum part μ_2(1−β1)/(1−μ_1μ_2), with μ_1, μ_2 from
    §3's schedule (torch: ψ = momentum_decay). Any β2 and any gradient.

    Tolerance: the residual bound plus ``constant_gradient_factor``'s rounding and 4 more
    roundings (g'/(|g'|+ε) and the products)."""
    _nadam(ctx)
    what = "first step is not −η·[1 + μ_2(1−β1)/(1−μ_1μ_2)]·g/(|g|+ε)"
    strategy = S.target_cases(ctx.spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, lambda case: _adam_like_steps(ctx, case, what, 1))


@check(
    "nadam.constant_gradient",
    "under a constant gradient step t is −η·c_t·g/(|g|+ε), c_t from the μ schedule alone",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """With g'_k = g: m_t = (1−β1^t)g and v_t/(1−β2^t) = g², so every step is
    −η·c_t·g/(|g|+ε) with c_t of ``constant_gradient_factor``: the whole μ_t schedule (and
    Π_t, torch's 'mu_product') is visible step by step, independent of β2. Coupled decay
    would make g' vary, so λ = 0 unless decoupled (D = 1 − ηλ stays outside the moments).

    Tolerance: as nadam.first_step, per step."""
    spec, _ = _nadam(ctx)
    what = "under a constant gradient the step is not −η·c_t·g/(|g|+ε)"
    # Coupled decay would vary g'; decoupled keeps λ (drawn visibly: the space puts half on 0).
    decay = st.floats(-4, math.log10(0.5)).map(lambda e: float(10.0**e))
    branches = [
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            fixed={"weight_decay": 0.0},
            kinds=("constant", "near_eps"),
            steps=(2, 12),
            schedules=S.SCHEDULES,
        )
    ]
    # λ > 0 only where the target can be told to decouple it: one without the keyword
    # (timm's NAdamLegacy) couples it, and g' varies from step 2 on.
    if ctx.target.accepts("decoupled_weight_decay"):
        branches.append(
            S.target_cases(
                spec,
                ctx.target,
                ctx.settings.fixed_hp,
                fixed={"decoupled_weight_decay": True},
                overrides={"weight_decay": decay},
                kinds=("constant", "near_eps"),
                steps=(2, 12),
                schedules=S.SCHEDULES,
            )
        )
    strategy = S.one_of(*branches)
    return run_property(ctx, strategy, lambda case: _adam_like_steps(ctx, case, what, 12))
