"""SparseAdam invariants (torch.optim.SparseAdam: lazy Adam), observed on float64 parameters.

Gradients are sparse (OptimizerRecord.sparse_grads): drawn rows are left out of them. A row
absent from a step's gradient must keep its value and every state entry bit for bit (no
arithmetic touches it, so no tolerance applies); rows present at every step follow dense
Adam in Kingma & Ba's ε̂ form on those rows alone (reference.adam.keras_eps_hat_step, an
independent formula: SparseAdam's step count is the tensor's, which equals the rows' when
they are present at every step), within the derived tolerance of the two computations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optcheck.checks import tolerance as T
from optcheck.checks.errorprop import FLOAT64, propagate
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.harness import to_numpy
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adam
from optcheck.reference.spec import ErrorModel
from optcheck.reference.trajectory import run as reference_run

F64 = T.EXACT_DTYPE
EPS_HAT = ErrorModel("Adam:keras-eps-hat", adam.keras_eps_hat_step, adam.adam_update_scale)


def _sparse(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name SparseAdam (a record with an error model)")
    if not spec.sparse_grads:
        raise NotApplicable(f"{spec.name}'s gradients are dense (its record)")
    return spec, spec.error_model


def _state_like(opt: Any, params: list) -> list[dict[str, np.ndarray]]:
    """Every state tensor shaped like its parameter (whatever the target calls it)."""
    out = []
    for p in params:
        entry = opt.state.get(p, {}) if hasattr(opt.state, "get") else {}
        out.append(
            {
                str(key): to_numpy(val)
                for key, val in entry.items()
                if hasattr(val, "shape") and tuple(val.shape) == tuple(p.shape)
            }
        )
    return out


@check(
    "sparse_adam.untouched_rows",
    "rows absent from a sparse gradient keep their value and state bit for bit",
    invariant=True,
)
def untouched_rows(ctx: Context) -> CheckResult:
    """Lazy Adam: an entry not in the step's sparse gradient is not read or written, so θ and
    every state tensor shaped like θ (m, v) are exactly as before the step."""
    spec, _ = _sparse(ctx)
    seen = {"entries": 0}

    def prop(case: S.Case) -> None:
        states: list[list[dict[str, np.ndarray]]] = [[{} for _ in case.params0]]
        traj = trajectory(
            ctx,
            case,
            F64,
            on_step=lambda opt, ps: states.append(_state_like(opt, ps)),
        )
        for k, gs in enumerate(case.grads):
            for i, g in enumerate(gs):
                off = np.isnan(g)
                if not off.any():
                    continue
                seen["entries"] += int(off.sum())
                mask = f"[np.isnan(np.asarray(RUNS[0]['grads'][STEP-1][{i}], dtype=float))]"
                pairs = [("θ", traj[k][i], traj[k + 1][i], f"traj[0][STEP][{i}]{mask}")]
                for key, now in states[k + 1][i].items():
                    before = states[k][i].get(key)
                    if before is not None:  # state made at this step starts where it likes
                        pairs.append((key, before, now, f"states[0][STEP][{i}]{mask}"))
                for what, before, now, expr in pairs:
                    require(
                        ctx,
                        Observation(expr, now[off], before[off], np.zeros(int(off.sum()))),
                        what=f"{what} of an entry absent from the sparse gradient changed",
                        runs=[case],
                        step=k + 1,
                        tensor=i,
                        state_key=None if what == "θ" else what,
                    )

    cases = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(2, 8))
    result = run_property(ctx, cases, prop)
    if result.verdict == "pass":
        result.detail += f"; {seen['entries']} untouched entries"
    return result


def every_step_rows(case: S.Case) -> S.Case:
    """``case`` with each tensor's first-step row pattern kept at every step: the rows present
    are present throughout (and the others never)."""
    first = case.grads[0]
    grads = tuple(
        tuple(
            np.where(np.isnan(f), np.nan, np.nan_to_num(g, nan=0.0))
            for f, g in zip(first, gs, strict=True)
        )
        for gs in case.grads
    )
    return case.replace(grads=grads)


@check(
    "sparse_adam.touched_rows_dense",
    "rows present at every step follow dense ε̂-Adam on those rows alone",
    invariant=True,
)
def touched_rows_dense(ctx: Context) -> CheckResult:
    """On the rows present at every step, SparseAdam is Adam with ε added to √v and the bias
    corrections in the step size (Kingma & Ba 2015, §2 last paragraph): the target's rows
    equal keras_eps_hat_step run densely on them, within the target's bound (the record's
    error model) plus the ε̂-Adam reference's own float64 bound."""
    spec, model = _sparse(ctx)

    def prop(drawn: S.Case) -> None:
        case = every_step_rows(drawn)
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        if tol.outside:
            raise NotApplicable(tol.outside)
        for i, theta0 in enumerate(case.params0):
            rows = ~np.isnan(case.grads[0][i])
            if not rows.any():
                continue
            hp = {"weight_decay": 0.0, "amsgrad": False, **case.tensor_hp(i)}
            sub0 = theta0[rows]
            subs = [[gs[i][rows]] for gs in case.grads]
            lrs = None if case.lrs is None else case.lrs
            expected = reference_run(adam.keras_eps_hat_step, [sub0], subs, hp, lrs=lrs)
            own = propagate(EPS_HAT, [sub0], subs, [hp], lrs, FLOAT64)
            for k in range(case.steps):
                obs = Observation(
                    f"traj[0][STEP][{i}][np.array({rows.tolist()!r})]",
                    traj[k + 1][i][rows],
                    expected[k][0],
                    tol.theta[k][i][rows] + own.theta[k][0],
                )
                require(
                    ctx,
                    obs,
                    what="a row present at every step parts from dense ε̂-Adam on it",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                )

    cases = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 8), schedules=S.SCHEDULES
    )
    return run_property(ctx, cases, prop)
