"""Decoupled weight decay, for every record that has it (Loshchilov & Hutter 2019).

One check serves the algorithms whose decay is decoupled always (Adafactor) or behind torch's
``decoupled_weight_decay`` flag (NAdam, RAdam): with zero gradients their moment or
second-moment estimates stay 0, the adaptive step is 0 and only θ ← θ(1 − η_tλ) acts.
(AdamW keeps its own adamw.pure_decay in adam_checks.)
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u
FLAG = "decoupled_weight_decay"


@check(
    "decay.decoupled_pure",
    "with decoupled decay and zero gradients θ_t = Π(1−η_kλ)·θ_0: the decay acts alone",
    invariant=True,
)
def decoupled_pure(ctx: Context) -> CheckResult:
    """Loshchilov & Hutter 2019, Alg. 2 line 12 with g = 0: the decay θ ← (1 − η_tλ)θ is
    outside the adaptive step, which is 0 for a zero gradient history (NAdam, RAdam:
    m = v = 0, steps 0/(0+ε) or η·0; Adafactor: V̂ = 0, U = 0·rsqrt(max(0, ε1²)) = 0), so
    θ_t = Π_k(1 − η_kλ)·θ_0 (torch.optim.NAdam/RAdam docs, decoupled_weight_decay=True;
    torch.optim.Adafactor docs, θ ← θ(1 − γλ)). Decay coupled into the gradient instead
    would feed λθ to the moments and step by about η·sign(θ).

    Tolerance: the model's θ bound (one rounding per step) plus the float64 product's own 3
    roundings per step, as adamw.pure_decay."""
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name an optimizer with an error model")
    model = spec.error_model
    if spec.decay == "decoupled":
        fixed = {}
    elif FLAG in spec.defaults:
        if ctx.target.missing((FLAG,)):
            raise NotApplicable(f"target does not accept {FLAG!r}")
        fixed = {FLAG: True}
    else:
        raise NotApplicable(f"{spec.name} has no decoupled weight decay")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            lam = float(case.tensor_hp(i).get("weight_decay", 0.0))
            factor = 1.0
            for k in range(case.steps):
                factor *= 1.0 - case.lr_at(i, k) * lam
                expected = factor * theta0
                obs = Observation(
                    f"traj[0][STEP][{i}]",
                    traj[k + 1][i],
                    expected,
                    tol.theta[k][i] + 3 * (k + 2) * U * np.abs(expected),
                )
                require(
                    ctx,
                    obs,
                    what="under zero gradients θ is not Π(1−ηλ)·θ_0",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                )

    # A model that cannot step empty tensors (Adafactor: torch raises) is not drawn them.
    shapes = tuple(s for s in S.SHAPES if 0 not in s) if model.no_empty_tensors else S.SHAPES
    # λ where the decay is visible: the spaces put half their mass on λ = 0.
    decay = st.floats(-4, math.log10(0.5)).map(lambda e: float(10.0**e))
    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed=fixed,
        overrides={"weight_decay": decay},
        kinds=("zeros",),
        shapes=shapes,
        steps=(1, 10),
        zero_params=False,
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
