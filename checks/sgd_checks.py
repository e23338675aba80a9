"""SGD-family invariants (torch.optim.SGD's convention; Polyak 1964; Sutskever et al. 2013).

torch keeps the lr outside the momentum buffer: g' = ±g + λθ, b_1 = g', b_t = μb + (1−τ)g',
d_t = b_t (or g' + μb_t with Nesterov), θ_t = θ_{t−1} − η_t·d_t. Every relation below is
observed through the parameter deltas r_t = θ_t − θ_{t−1} of an open-loop run in float64, with
g' formed from the target's own θ_{t−1}; tolerances come from checks.tolerance.
"""

from __future__ import annotations

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
_MOMENTUM = st.one_of(st.just(0.9), st.floats(0.05, 0.999))


def _sgd(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name an SGD-family optimizer with an error model")
    return spec, spec.error_model


# --- linearity ---------------------------------------------------------------------------------


class _Combination:
    """Runs A and B (same hyper-parameters, shapes and lrs, other values) and C = a·A + b·B."""

    def __init__(self, case_a: S.Case, seed: int, a: float, b: float):
        self.a, self.b = a, b
        self.runs = [case_a, S.reseeded(case_a, seed).replace(lrs=case_a.lrs)]
        A, B = self.runs
        self.runs.append(
            case_a.replace(
                params0=tuple(a * p + b * q for p, q in zip(A.params0, B.params0, strict=True)),
                grads=tuple(
                    tuple(a * g + b * h for g, h in zip(gs, hs, strict=True))
                    for gs, hs in zip(A.grads, B.grads, strict=True)
                ),
                recipe={"combination": [a, b]},
            )
        )
        # Forming a·x + b·y rounds once (a, b are ±2^k: the products are exact).
        self.param_error = [U * np.abs(p) for p in self.runs[2].params0]
        self.grad_error = [[U * np.abs(g) for g in gs] for gs in self.runs[2].grads]

    def describe(self) -> dict[str, Any]:
        return {"runs": [r.describe() for r in self.runs], "a": self.a, "b": self.b}


@check(
    "sgd.linearity",
    "the trajectory is linear in (θ_0, gradients): run(a·A + b·B) = a·run(A) + b·run(B)",
    invariant=True,
)
def linearity(ctx: Context) -> CheckResult:
    """Every SGD update (momentum, dampening, Nesterov, L2 decay, maximize included) is linear
    in (θ, b, g) with coefficients fixed by the hyper-parameters and η_t, so θ_t is linear in
    the initial params and the gradient sequence jointly. Clipping, normalisation, adaptive
    scaling, value-dependent branches or lower internal precision break it."""
    spec, model = _sgd(ctx)

    def prop(combo: _Combination) -> None:
        A, B, C = combo.runs
        ta, tb, tc = (trajectory(ctx, r, F64) for r in combo.runs)
        tol_a = T.case_tolerance(model, A, F64, observed=ta[1:])
        tol_b = T.case_tolerance(model, B, F64, observed=tb[1:])
        tol_c = T.case_tolerance(
            model,
            C,
            F64,
            grad_error=combo.grad_error,
            param_error=combo.param_error,
            observed=tc[1:],
        )
        a, b = combo.a, combo.b
        for k in range(C.steps):
            for i in range(len(C.params0)):
                expected = a * ta[k + 1][i] + b * tb[k + 1][i]
                allowed = (
                    abs(a) * tol_a.theta[k][i]
                    + abs(b) * tol_b.theta[k][i]
                    + tol_c.theta[k][i]
                    + 2 * U * (np.abs(a * ta[k + 1][i]) + np.abs(b * tb[k + 1][i]))
                )
                combined = f"{a!r} * traj[0][STEP][{i}] + {b!r} * traj[1][STEP][{i}]"
                obs = Observation(
                    f"traj[2][STEP][{i}] - ({combined})",
                    tc[k + 1][i] - expected,
                    np.zeros_like(expected),
                    allowed,
                )
                require(
                    ctx,
                    obs,
                    what=f"run(a·A + b·B) ≠ a·run(A) + b·run(B) (a = {a:g}, b = {b:g})",
                    runs=combo.runs,
                    step=k + 1,
                    tensor=i,
                    scalars={"a": a, "b": b},
                )

    strategy = S.builds(
        _Combination,
        S.target_cases(
            spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 10), schedules=S.SCHEDULES
        ),
        st.integers(0, 2**32 - 1),
        S.dyadic(),
        S.dyadic(),
    )
    return run_property(ctx, strategy, prop)


# --- buffer closed form ------------------------------------------------------------------------


@check(
    "sgd.buffer_closed_form",
    "under a constant gradient Δθ_t = −η_t·(μ^(t−1)·g + (1−τ)·g·Σ_{j<t−1} μ^j)",
    invariant=True,
    needs=("momentum",),
)
def buffer_closed_form(ctx: Context) -> CheckResult:
    """b_1 = g, b_t = μb_{t−1} + (1−τ)g  ⇒  b_t = μ^(t−1)g + (1−τ)g(1−μ^(t−1))/(1−μ), the
    geometric sum evaluated term by term (no cancellation). Seen through Δθ_t = −η_t·b_t, with
    the lr changed between steps: the lr must stay outside the buffer. At μ = 0 torch keeps no
    buffer and steps −η_t·g: dampening applies to a buffer only (a user's --hp momentum=0)."""
    spec, model = _sgd(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            mu, tau = float(hp.get("momentum", 0.0)), float(hp.get("dampening", 0.0))
            g = -case.grads[0][i] if hp.get("maximize", False) else case.grads[0][i]
            geometric = 0.0  # Σ_{j<t−1} μ^j
            for k in range(case.steps):
                t, lr = k + 1, case.lr_at(i, k)
                if t >= 2:
                    geometric += mu ** (t - 2)
                if mu == 0.0:  # no buffer: d_t = g'
                    b, b_err = g, np.zeros_like(g)
                else:
                    b = mu ** (t - 1) * g + (1 - tau) * g * geometric
                    b_err = (
                        (t + 3)
                        * U
                        * (np.abs(mu ** (t - 1) * g) + np.abs((1 - tau) * g) * geometric)
                    )
                obs = Observation(
                    deltas.delta_expr(i),
                    traj[k + 1][i] - traj[k][i],
                    -lr * b,
                    T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i]) + lr * b_err,
                )
                require(
                    ctx,
                    obs,
                    what="the momentum step is not −η_t·b_t with b_t's closed form",
                    runs=[case],
                    step=t,
                    tensor=i,
                )

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"weight_decay": 0.0, "nesterov": False},
        overrides={"momentum": _MOMENTUM},
        kinds=("constant",),
        steps=(2, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)


# --- lr outside the buffer ---------------------------------------------------------------------


def _direction_check(ctx: Context, case: S.Case, traj: list, tol: T.Tolerance, what: str) -> None:
    """The lr-free recursion of the observed direction d_t = −r_t/η_t (τ = 0 assumed):
        plain:    d_1 = g'_1,       d_t = μ·d_{t−1} + g'_t
        Nesterov: d_1 = (1+μ)·g'_1, d_t = μ·d_{t−1} + (1+μ)·g'_t − μ·g'_{t−1}
    checked as r_t = −η_t·(right-hand side) with d_{t−1} read from the target's own step."""
    for i in range(len(case.params0)):
        hp = case.tensor_hp(i)
        mu = float(hp.get("momentum", 0.0))
        nesterov = bool(hp.get("nesterov", False))
        d_prev = d_prev_err = gp_prev = gp_prev_err = None
        for k in range(case.steps):
            t, lr = k + 1, case.lr_at(i, k)
            gp, gp_err = deltas.coupled_grad(hp, case.grads[k][i], traj[k][i])
            r = traj[k + 1][i] - traj[k][i]
            r_err = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
            lead = (1 + mu) if nesterov else 1.0
            rhs, rhs_err = lead * gp, lead * gp_err
            if d_prev is not None:
                rhs = rhs + mu * d_prev
                rhs_err = rhs_err + mu * d_prev_err
                if nesterov:
                    rhs = rhs - mu * gp_prev
                    rhs_err = rhs_err + mu * gp_prev_err
            rhs_err = rhs_err + 4 * U * np.abs(rhs)
            obs = Observation(deltas.delta_expr(i), r, -lr * rhs, r_err + lr * rhs_err)
            require(
                ctx,
                obs,
                what=what,
                runs=[case],
                step=t,
                tensor=i,
            )
            d_prev, d_prev_err = -r / lr, r_err / lr
            gp_prev, gp_prev_err = gp, gp_err


@check(
    "sgd.classic_equivalence",
    "equals classic momentum (v = μv + ηg; θ −= v) at constant lr; keeps lr outside the "
    "buffer when it changes",
    invariant=True,
    needs=("momentum",),
)
def classic_equivalence(ctx: Context) -> CheckResult:
    """At constant η, η·b_t = v_t, so torch's form and the classic heavy ball (Polyak 1964
    eq. 9) coincide: the target must match the spec's classic-momentum variant there. When a
    scheduler changes η, torch's direction d_t = −r_t/η_t obeys an lr-free recursion
    (``_direction_check``); classic momentum instead gives d_t = μ(η_{t−1}/η_t)d_{t−1} + g'_t,
    off by μ(η_{t−1}/η_t − 1)·d_{t−1}. τ = 0: the classic form has no dampening."""
    spec, model = _sgd(ctx)
    try:
        classic = spec.variant("classic-momentum").fn
    except KeyError:
        raise NotApplicable(f"{spec.name} has no classic-momentum variant") from None

    def prop(case: S.Case) -> None:
        constant = case.replace(lrs=None, recipe={**case.recipe, "schedule": "constant"})
        traj = trajectory(ctx, constant, F64)
        ref = [list(constant.params0), *constant.run_reference(classic)]
        # The classic form does the same operations on the same magnitudes (v = η·b), so the
        # model's reference term bounds its round-off as it does torch's form.
        tol = T.case_tolerance(model, constant, F64)
        for k in range(constant.steps):
            for i in range(len(constant.params0)):
                obs = Observation(
                    f"traj[0][STEP][{i}]", traj[k + 1][i], ref[k + 1][i], tol.theta[k][i]
                )
                require(
                    ctx,
                    obs,
                    what="at constant lr the target differs from classic momentum",
                    runs=[constant],
                    step=k + 1,
                    tensor=i,
                )
        traj = trajectory(ctx, case, F64)
        _direction_check(
            ctx,
            case,
            traj,
            T.case_tolerance(model, case, F64, observed=traj[1:]),
            "with a changing lr the direction −Δθ_t/η_t depends on past lrs "
            "(lr inside the momentum buffer?)",
        )

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"dampening": 0.0},
        overrides={"momentum": _MOMENTUM},
        steps=(2, 10),
        schedules=S.SCHEDULES[1:],
    )
    return run_property(ctx, strategy, prop)


@check(
    "nesterov.relation",
    "Nesterov's step is −η_t·(g'_t + μ·b_t)",
    invariant=True,
    needs=("momentum", "nesterov"),
)
def nesterov_relation(ctx: Context) -> CheckResult:
    """Sutskever et al. 2013 §3 in torch's form: d_t = g'_t + μb_t with b_t = μb_{t−1} + g'_t
    (τ = 0, which torch requires for Nesterov). Eliminating b gives the lr-free recursion of
    ``_direction_check``: d_1 = (1+μ)g'_1, d_t = μd_{t−1} + (1+μ)g'_t − μg'_{t−1}."""
    spec, model = _sgd(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        _direction_check(
            ctx,
            case,
            traj,
            T.case_tolerance(model, case, F64, observed=traj[1:]),
            "the step is not −η·(g' + μ·b_t)",
        )

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"nesterov": True, "dampening": 0.0},
        overrides={"momentum": _MOMENTUM},
        steps=(1, 10),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
