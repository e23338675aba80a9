"""ASGD invariants (Polyak & Juditsky 1992; Bottou 2012 §5.3; torch/optim/asgd.py).

torch's parameters follow plain SGD with a decay term and a decaying step:
    θ_t = θ_{t−1}(1 − λη_t) − η_t·g'_t,   g' = ±g + wθ_{t−1},
    η_1 = lr,   η_t = lr/(1 + λ·lr·(t−1))^α   (computed at the end of step t−1),
and the Polyak average 'ax' is state only (μ_t and t0 never reach θ). Observed through the
parameters of an open-loop float64 run, g' from the target's own θ_{t−1}.

torch keeps η in a 0-d tensor of its default dtype (float32 unless set to float64), so under
the float32 default float64 parameters step with fl32(η), a relative error ~6e-8: a
documented torch finding (checks.findings, ASGD contract.dtype and crossval.trajectory),
listed there for these checks too. With
torch.set_default_dtype(torch.float64) torch keeps them to float64 round-off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.spec import ErrorModel

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _asgd(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name ASGD (a record with an error model)")
    return spec, spec.error_model


def eta(hp: dict[str, Any], lr_prev: float, t: int) -> float:
    """η_t for t ≥ 2 from the previous step's lr (Bottou 2012 §5.3 with torch's t)."""
    lam, alpha = float(hp.get("lambd", 1e-4)), float(hp.get("alpha", 0.75))
    return lr_prev / (1 + lam * lr_prev * (t - 1)) ** alpha


def _sgd_steps(ctx: Context, case: S.Case, what: str, first: int) -> None:
    """Compare θ_t with θ_{t−1}(1 − λη_t) − η_t·g'_t for steps t ≥ ``first``.

    Tolerance: the residual bound of checks.tolerance (the target's step from its own
    θ_{t−1} against the float64 reference), plus the rounding of the closed form evaluated
    here: η_t is a power and a quotient (4u relative), and the 5 roundings of forming g' and
    θ(1 − λη) − ηg' are 6u of |θ| + η(|g| + w|θ|)."""
    traj = trajectory(ctx, case, F64)
    tol = T.case_tolerance(ctx.spec.error_model, case, F64, observed=traj[1:])  # type: ignore[union-attr]
    for k in range(first - 1, case.steps):
        t = k + 1
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            lam, w = float(hp.get("lambd", 1e-4)), float(hp.get("weight_decay", 0.0))
            e = case.lr_at(i, 0) if t == 1 else eta(hp, case.lr_at(i, k - 1), t)
            theta, g = traj[k][i], case.grads[k][i]
            gp = (-g if hp.get("maximize", False) else g) + w * theta
            expected = theta * (1 - lam * e) - e * gp
            size = np.abs(theta) + e * (np.abs(g) + w * np.abs(theta))
            obs = Observation(
                f"traj[0][STEP][{i}]",
                traj[k + 1][i],
                expected,
                T.residual_tolerance(tol, k, i, traj[k + 1][i], theta) + 10 * U * size,
            )
            require(
                ctx,
                obs,
                what=what,
                runs=[case],
                step=t,
                tensor=i,
            )


@check(
    "asgd.first_step",
    "first step is SGD with the decay term: θ_1 = θ_0(1 − λ·lr) − lr·g'",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """torch/optim/asgd.py: η starts at lr and μ at 1, and the step is θ·(1 − λη) − η·g'
    (Bottou 2012 §5.3's ASGD update: the λ-regularised SGD step). Any gradient."""
    spec, _ = _asgd(ctx)
    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    what = "first step is not θ(1 − λ·lr) − lr·g'"
    return run_property(ctx, strategy, lambda case: _sgd_steps(ctx, case, what, 1))


@check(
    "asgd.eta_schedule",
    "step t uses η_t = lr/(1 + λ·lr·(t−1))^α: θ_t = θ_{t−1}(1 − λη_t) − η_t·g'",
    invariant=True,
)
def eta_schedule(ctx: Context) -> CheckResult:
    """Bottou 2012 §5.3: η_t = η_0(1 + λη_0 t)^(−α) (α = 3/4 there), torch counting t from
    the end of the previous step, so step t uses lr/(1 + λ·lr·(t−1))^α with that step's lr.
    Each step is checked from the target's own θ_{t−1}, so η_t is seen step by step whatever
    the gradients; λ = 0 or α = 0 make η constant (drawn too: the space has them special)."""
    spec, _ = _asgd(ctx)
    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(2, 12), schedules=S.SCHEDULES
    )
    what = "a step does not use η_t = lr/(1 + λ·lr·(t−1))^α"
    return run_property(ctx, strategy, lambda case: _sgd_steps(ctx, case, what, 2))


class _Averaged:
    """A case whose average starts inside the run (small t0) and the same case with t0 = 1e6
    (the average never starts): their parameters must not differ."""

    def __init__(self, case: S.Case):
        self.case = case
        self.late = case.replace(
            hp={**case.hp, "t0": 1e6},
            group_hp=tuple({**g, "t0": 1e6} if "t0" in g else g for g in case.group_hp),
            recipe={**case.recipe, "t0": 1e6},
        )

    def describe(self) -> dict[str, Any]:
        return {"runs": [self.case.describe(), self.late.describe()]}


@check(
    "asgd.average_is_state",
    "the average ax never reaches θ: the parameters do not depend on t0",
    invariant=True,
    needs=("t0",),
)
def average_is_state(ctx: Context) -> CheckResult:
    """Polyak & Juditsky 1992: the averaged iterate is a by-product (torch's state 'ax'); the
    SGD iterates θ_t are what is updated, so t0 (when averaging starts) cannot change θ.

    Tolerance: both runs lie within their model bounds of the same float64 reference
    trajectory (the reference's θ does not read t0), so they differ by at most the sum."""
    spec, model = _asgd(ctx)

    def prop(pair: _Averaged) -> None:
        traj = trajectory(ctx, pair.case, F64)
        late = trajectory(ctx, pair.late, F64)
        tol = T.case_tolerance(model, pair.case, F64, observed=traj[1:])
        tol_late = T.case_tolerance(model, pair.late, F64, observed=late[1:])
        for k in range(pair.case.steps):
            for i in range(len(pair.case.params0)):
                obs = Observation(
                    f"traj[0][STEP][{i}] - traj[1][STEP][{i}]",
                    traj[k + 1][i] - late[k + 1][i],
                    np.zeros_like(traj[k + 1][i]),
                    tol.theta[k][i] + tol_late.theta[k][i],
                )
                require(
                    ctx,
                    obs,
                    what="the parameters change with t0 (the average leaks into θ)",
                    runs=[pair.case, pair.late],
                    step=k + 1,
                    tensor=i,
                )

    # t0 = 0 averages from step 2, t0 = 2 from step 4: both inside a run of ≥ 5 steps.
    strategy = S.builds(
        _Averaged,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            overrides={"t0": st.sampled_from([0.0, 2.0])},
            steps=(5, 10),
            zero_params=False,
            schedules=S.SCHEDULES,
        ),
    )
    return run_property(ctx, strategy, prop)
