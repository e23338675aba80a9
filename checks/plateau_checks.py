"""Checks of metric-driven schedulers (ReduceLROnPlateau), fed drawn metric sequences by the
plateau kit (checks.kit.plateau).

``crossval.plateau`` compares every group's lr after every ``step(metric)`` with the float64
reference (reference.plateau). The invariants restate the documented rule one part at a time,
on what the target did, so a failure says which part broke:
  * ``plateau.monotone_floor``: the lr never rises and never goes below min_lr (unless it
    started there);
  * ``plateau.patience_cooldown``: a reduction happens exactly when more than ``patience``
    bad epochs have accumulated, counting none in the ``cooldown`` after a reduction;
  * ``plateau.reduction_size``: a reduction is lr -> max(lr factor, min_lr), and one that
    would change the lr by eps or less is not applied;
  * ``plateau.resume``: interrupted anywhere, saved through both state_dicts and loaded into
    fresh ones, the run continues bit for bit.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from optcheck.checks.kit.plateau import (
    PlateauCase,
    build,
    drive,
    expected,
    feed,
    floors,
    fmt,
    full,
    lrs_of,
    plateau_cases,
    plateau_spec,
    tolerance,
    violation,
)
from optcheck.checks.kit.registry import Context, check, run_property
from optcheck.checks.kit.schedules import EPS, quiet
from optcheck.checks.result import CheckResult
from optcheck.reference.plateau import is_better

# One multiplication (and an exact max) per reduction: the reduced lr to within this, relative.
STEP_REL = 2 * EPS


def _run(ctx: Context, prop: Any) -> CheckResult:
    plateau_spec(ctx)
    return run_property(ctx, plateau_cases(ctx), quiet(prop))


@check(
    id="crossval.plateau",
    title="every group's lr after every step(metric) equals the reference's",
    kind="schedule",
    invariant=True,  # listed by the metric-driven records only, as their invariants are
)
def plateau_crossval(ctx: Context) -> CheckResult:
    spec = plateau_spec(ctx)

    def prop(case: PlateauCase) -> None:
        run = expected(case, spec)
        got = drive(ctx.target, case)
        tol = tolerance(run)
        bad = np.argwhere(~(np.abs(got - run.lrs) <= tol))
        if bad.size:
            t, g = (int(x) for x in bad[0])
            fired = "a reduction" if t in run.reductions else "no reduction"
            raise violation(
                ctx,
                case,
                f"group {g} lr after metric {t} is {fmt(got[t, g])}, the reference gives "
                f"{fmt(run.lrs[t, g])} ({fired} at that step; reductions at "
                f"{list(run.reductions)[:8]})",
                t=t,
                expected=float(run.lrs[t, g]),
                got=float(got[t, g]),
                tol=float(tol[t, g]) or None,
            )

    return _run(ctx, prop)


@check(
    id="plateau.monotone_floor",
    title="the lr never rises and never goes below min_lr",
    kind="schedule",
    invariant=True,
)
def monotone_floor(ctx: Context) -> CheckResult:
    def prop(case: PlateauCase) -> None:
        got = drive(ctx.target, case)
        for g, floor in enumerate(floors(case)):
            low = min(floor, case.base_lrs[g])  # an lr that starts below min_lr stays there
            for t in range(1, len(got)):
                if not got[t, g] <= got[t - 1, g]:
                    raise violation(
                        ctx,
                        case,
                        f"group {g} lr rises from {fmt(got[t - 1, g])} to {fmt(got[t, g])} "
                        f"at metric {t}",
                        t=t,
                        expected=float(got[t - 1, g]),
                        got=float(got[t, g]),
                    )
                if not got[t, g] >= low:
                    raise violation(
                        ctx,
                        case,
                        f"group {g} lr {fmt(got[t, g])} at metric {t} is below min_lr {fmt(floor)}",
                        t=t,
                        expected=low,
                        got=float(got[t, g]),
                    )

    return _run(ctx, prop)


def _reducible(old: float, p: dict[str, Any], floor: float) -> bool:
    return old - max(old * float(p["factor"]), floor) > float(p["eps"])


@check(
    id="plateau.patience_cooldown",
    title="the lr is reduced exactly when more than patience bad epochs accumulate outside "
    "the cooldown",
    kind="schedule",
    invariant=True,
)
def patience_cooldown(ctx: Context) -> CheckResult:
    # torch docs: a bad epoch is one whose metric is not better than the best by the
    # threshold; bad epochs inside the cooldown after a reduction are ignored. Counted here
    # on the reductions the target made, so a wrong count shows where it first differs.
    def prop(case: PlateauCase) -> None:
        p = full(case.params)
        got = drive(ctx.target, case)
        patience, cooldown = int(p["patience"]), int(p["cooldown"])
        best = np.inf if p["mode"] == "min" else -np.inf
        bad = cool = 0
        for t, metric in enumerate(case.metrics, start=1):
            if is_better(metric, best, p["mode"], p["threshold"], p["threshold_mode"]):
                best, bad = metric, 0
            else:
                bad += 1
            if cool > 0:
                cool, bad = cool - 1, 0
            due = bad > patience
            visible = [_reducible(got[t - 1, g], p, f) for g, f in enumerate(floors(case))]
            dropped = bool(np.any(got[t] < got[t - 1]))
            if dropped and not due:
                why = f"{bad} bad epochs (patience {patience})"
                if cool > 0 or (bad == 0 and t > 1):
                    why += f", cooldown {cooldown} after the last reduction"
                raise violation(
                    ctx,
                    case,
                    f"the lr was reduced at metric {t} after {why}: too early",
                    t=t,
                    expected=float(got[t - 1, 0]),
                    got=float(got[t, 0]),
                )
            if due and any(visible) and not dropped:
                raise violation(
                    ctx,
                    case,
                    f"no reduction at metric {t}, the {bad}th bad epoch in a row (patience "
                    f"{patience}, outside the cooldown)",
                    t=t,
                    expected=float(max(got[t - 1, 0] * p["factor"], floors(case)[0])),
                    got=float(got[t, 0]),
                )
            if due:  # reduced (or nothing to reduce): the count restarts, the cooldown runs
                cool, bad = cooldown, 0

    return _run(ctx, prop)


@check(
    id="plateau.reduction_size",
    title="a reduction is lr -> max(lr*factor, min_lr), and none smaller than eps is applied",
    kind="schedule",
    invariant=True,
)
def reduction_size(ctx: Context) -> CheckResult:
    def prop(case: PlateauCase) -> None:
        p = full(case.params)
        got = drive(ctx.target, case)
        for g, floor in enumerate(floors(case)):
            for t in range(1, len(got)):
                old, new = got[t - 1, g], got[t, g]
                if new == old:
                    continue
                want = max(old * float(p["factor"]), floor)
                tol = STEP_REL * abs(want)
                if not abs(new - want) <= tol:
                    raise violation(
                        ctx,
                        case,
                        f"group {g} lr goes {fmt(old)} -> {fmt(new)} at metric {t}; a "
                        f"reduction gives max(lr*factor, min_lr) = {fmt(want)}",
                        t=t,
                        expected=want,
                        got=float(new),
                        tol=tol or None,
                    )
                if not old - want > float(p["eps"]):
                    raise violation(
                        ctx,
                        case,
                        f"group {g} lr reduced by {old - new:.3g} at metric {t}, not more than "
                        f"eps = {p['eps']:g}: such a reduction is to be skipped",
                        t=t,
                        expected=float(old),
                        got=float(new),
                    )

    return _run(ctx, prop)


@check(
    id="plateau.resume",
    title="scheduler + optimizer state_dict resume continues the metric-driven run bit for bit",
    kind="schedule",
    invariant=True,
)
def resume(ctx: Context) -> CheckResult:
    def prop(case: PlateauCase) -> None:
        whole = drive(ctx.target, case)
        k = round(case.split * len(case.metrics))
        opt, sched = build(ctx.target, case)
        feed(opt, sched, case.metrics[:k])
        opt_sd = copy.deepcopy(opt.state_dict())
        sched_sd = copy.deepcopy(sched.state_dict())
        opt2, sched2 = build(ctx.target, case)
        opt2.load_state_dict(opt_sd)
        sched2.load_state_dict(sched_sd)
        rest = [lrs_of(opt2), *feed(opt2, sched2, case.metrics[k:])]
        for j, lrs in enumerate(rest):
            t = k + j
            if lrs != list(whole[t]):
                raise violation(
                    ctx,
                    case,
                    f"resumed after metric {k}: lrs after metric {t} are {lrs}, the "
                    f"uninterrupted run has {[float(x) for x in whole[t]]}",
                    t=t,
                    expected=[float(x) for x in whole[t]],
                    got=lrs,
                    resume_at=k,
                )

    return _run(ctx, prop)
