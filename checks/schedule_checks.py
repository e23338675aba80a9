"""Invariants of learning-rate schedules, checked over each ScheduleSpec's parameter space,
driven and compared by the schedule kit (checks.kit.schedules).

Landmarks (T_max, milestones, restart points, ...) are read from the drawn parameters under
torch's names, so a third-party scheduler checked ``--like StepLR`` is held to the same
places. Integer sizes are drawn up to ``CAP`` here (traces stay short, the suite fast); long
horizons are the cross-validation's job (schedule_crossval_checks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optcheck.checks.kit.registry import Context, NotApplicable, check
from optcheck.checks.kit.schedules import (
    EPS,
    MAX_STEPS,
    MIN_STEPS,
    ROUNDOFF_OPS,
    Case,
    RoundOff,
    Trace,
    cycles_momentum,
    drive,
    fmt,
    period_of,
    roundoff_model,
    run_schedule_property,
    scale_of,
    schedule_record,
    scope,
    size,
    steepest,
    steps_for,
    violation,
)
from optcheck.checks.records import ScheduleSpec
from optcheck.checks.result import CheckResult

# --- the invariants -------------------------------------------------------------------------


def _monotone(ctx: Context, sign: int) -> CheckResult:
    """sign = -1: non-increasing on the scope; +1: non-decreasing."""

    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        n = steps_for(spec, p, size(p) + MIN_STEPS)
        lo, hi = scope(ctx, spec, p, n)
        if sign < 0 and spec.bounds is not None and not spec.ignores_optimizer_lr:
            # A decay starts at its top; where the bounds put the top above base_lr (eta_min >
            # base_lr), the same formula rises to eta_min instead.
            if spec.bounds(case.base_lr, p)[1] > case.base_lr:
                raise NotApplicable("eta_min above base_lr: the schedule rises to it")
        tr = drive(ctx.target, case.params, case.base_lr, hi, momentum=False)
        model = roundoff_model(spec, case.base_lr, p, tr.lr)
        require_monotone(ctx, case, tr, model, sign, (lo, hi), hi)

    return run_schedule_property(ctx, prop)


def require_monotone(
    ctx: Context,
    case: Case,
    tr: Trace,
    model: RoundOff,
    sign: float,
    span: tuple[int, int],
    steps: int,
) -> None:
    """sign * lr never falls by more than round-off between consecutive t inside span."""
    lo, hi = span
    word = "rises" if sign < 0 else "falls"
    for t in range(lo + 1, hi + 1):
        change = sign * (tr.lr[t] - tr.lr[t - 1])
        tol = 2 * float(model(t, tr.lr[t - 1]))
        if not change >= -tol:  # NaN fails too
            raise violation(
                ctx,
                case,
                f"lr {word} from {fmt(tr.lr[t - 1])} at t={t - 1} to {fmt(tr.lr[t])} at "
                f"t={t}, inside [{lo}, {hi}] where it must be "
                f"{'non-increasing' if sign < 0 else 'non-decreasing'}",
                t=t,
                expected=float(tr.lr[t - 1]),
                got=float(tr.lr[t]),
                tol=tol,
                steps=steps,
                show=f"lrs[{t - 1}], lrs[{t}]",
            )


@check(
    id="schedule.monotone_nonincreasing",
    title="the lr never rises where the schedule promises decay",
    kind="schedule",
    invariant=True,
)
def monotone_nonincreasing(ctx: Context) -> CheckResult:
    return _monotone(ctx, -1)


@check(
    id="schedule.nondecreasing_warmup",
    title="the lr never falls during warmup",
    kind="schedule",
    invariant=True,
)
def nondecreasing_warmup(ctx: Context) -> CheckResult:
    return _monotone(ctx, +1)


@check(
    id="schedule.bounded",
    title="the lr stays within the schedule's bounds (eta_min..base, base_lr..max_lr)",
    kind="schedule",
    invariant=True,
)
def bounded(ctx: Context) -> CheckResult:
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        if spec.bounds is None:
            raise NotApplicable(f"the {spec.name} spec gives no bounds")
        n = steps_for(spec, p, size(p) + MIN_STEPS)
        lo_t, hi_t = scope(ctx, spec, p, n)
        mom = cycles_momentum(spec, p)
        tr = drive(ctx.target, case.params, case.base_lr, hi_t, momentum=mom)
        lo, hi = spec.bounds(case.base_lr, p)
        series = [("lr", tr.lr, lo, hi, roundoff_model(spec, case.base_lr, p, tr.lr))]
        if mom and tr.momentum is not None:
            m_lo, m_hi = sorted((p.get("base_momentum", 0.85), p.get("max_momentum", 0.95)))
            m_model = RoundOff(m_hi, steepest(tr.momentum), period_of(spec, p))
            series.append(("momentum", tr.momentum, m_lo, m_hi, m_model))
        for what, values, low, high, model in series:
            for t in range(lo_t, hi_t + 1):
                tol = float(model(t, values[t]))
                if not low - tol <= values[t] <= high + tol:
                    edge = low if values[t] < low else high
                    raise violation(
                        ctx,
                        case,
                        f"{what} {fmt(values[t])} at t={t} outside [{fmt(low)}, {fmt(high)}]",
                        t=t,
                        expected=float(edge),
                        got=float(values[t]),
                        tol=tol,
                        steps=hi_t,
                        show=f"{'lrs' if what == 'lr' else 'momenta'}[{t}]",
                    )

    return run_schedule_property(ctx, prop)


@check(
    id="schedule.nonnegative",
    title="the lr is never negative",
    kind="schedule",
    invariant=True,
)
def nonnegative(ctx: Context) -> CheckResult:
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        n = steps_for(spec, p, size(p) + MIN_STEPS)
        lo_t, hi_t = scope(ctx, spec, p, n)
        tr = drive(ctx.target, case.params, case.base_lr, hi_t)
        model = roundoff_model(spec, case.base_lr, p, tr.lr)
        for t in range(lo_t, hi_t + 1):
            tol = float(model(t, 0.0))  # zero up to round-off is zero
            if not tr.lr[t] >= -tol:
                raise violation(
                    ctx,
                    case,
                    f"negative lr {fmt(tr.lr[t])} at t={t}",
                    t=t,
                    expected=0.0,
                    got=float(tr.lr[t]),
                    tol=tol,
                    steps=hi_t,
                )

    return run_schedule_property(ctx, prop)


def _check_points(
    ctx: Context,
    case: Case,
    tr: Trace,
    points: Sequence[tuple[int, float, str]],
    model: RoundOff,
    steps: int,
    series: str = "lr",
) -> None:
    values = tr.lr if series == "lr" else tr.momentum
    assert values is not None
    for t, want, why in points:
        tol = float(model(t, want))
        if not abs(values[t] - want) <= tol:
            raise violation(
                ctx,
                case,
                f"{series} at t={t} ({why}) is {fmt(values[t])}, expected {fmt(want)}",
                t=t,
                expected=float(want),
                got=float(values[t]),
                tol=tol,
                steps=steps,
                show=f"{'lrs' if series == 'lr' else 'momenta'}[{t}]",
            )


def restart_starts(p: Mapping[str, Any], upto: int) -> list[int]:
    """SGDR's restart epochs T_0 (T_mult^i - 1) / (T_mult - 1) (i T_0 when T_mult = 1) <= upto."""
    t0, m = int(p["T_0"]), int(p.get("T_mult", 1))
    out, i = [], 0
    while True:
        s = t0 * (m**i - 1) // (m - 1) if m > 1 else t0 * i
        if s > upto:
            return out
        out.append(s)
        i += 1


@check(
    id="schedule.cosine_landmarks",
    title="cosine annealing: base at T_cur=0, (base+eta_min)/2 at T_i/2, eta_min at T_i",
    kind="schedule",
    invariant=True,
)
def cosine_landmarks(ctx: Context) -> CheckResult:
    # SGDR eq. (5): eta = eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2.
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        base, eta_min = case.base_lr, float(p.get("eta_min", 0.0))
        mid = (base + eta_min) / 2
        points: list[tuple[int, float, str]] = []
        if "T_0" in p:  # warm restarts: integer epochs stop one short of T_i (restart)
            n = steps_for(spec, p, MAX_STEPS)
            starts = restart_starts(p, n)
            for i, s in enumerate(starts):
                t_i = int(p["T_0"]) * int(p.get("T_mult", 1)) ** i
                points.append((s, base, f"start of cycle {i}, T_cur = 0"))
                if t_i % 2 == 0 and s + t_i // 2 <= n:
                    points.append((s + t_i // 2, mid, f"cycle {i}, T_cur = T_i/2 = {t_i // 2}"))
        else:
            off, t_max = int(p.get("warmup_steps", 0)), int(p["T_max"])
            n = steps_for(spec, p, off + t_max + 1)
            points += [(off, base, "T_cur = 0"), (off + t_max, eta_min, "T_cur = T_max")]
            if t_max % 2 == 0:
                points.append((off + t_max // 2, mid, "T_cur = T_max/2"))
        points = sorted(x for x in points if x[0] <= n)
        if not points:
            raise NotApplicable("no landmark within the trace")
        tr = drive(ctx.target, case.params, case.base_lr, n)
        _check_points(ctx, case, tr, points, roundoff_model(spec, base, p, tr.lr), n)

    return run_schedule_property(ctx, prop)


@check(
    id="schedule.restart_points",
    title="warm restarts return to base exactly at T_0 (T_mult^i - 1)/(T_mult - 1), only there",
    kind="schedule",
    invariant=True,
)
def restart_points(ctx: Context) -> CheckResult:
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        base, eta_min = case.base_lr, float(p.get("eta_min", 0.0))
        model = RoundOff(scale_of(spec, base, p))
        m = int(p.get("T_mult", 1))
        # Up to the fourth restart: enough to see T_i grow by T_mult three times.
        n = steps_for(spec, p, int(p["T_0"]) * (m**4 - 1) // (m - 1) if m > 1 else 4 * p["T_0"])
        starts = set(restart_starts(p, n))
        # The smallest departure from base inside a cycle, one step after a restart, in the
        # longest cycle the trace reaches; below round-off, "only there" cannot be seen.
        longest = int(p["T_0"]) * m ** max(len(starts) - 1, 0)
        if abs(base - eta_min) * math.sin(math.pi / (2 * longest)) ** 2 <= 4 * float(
            model(n, base)
        ):
            raise NotApplicable("base_lr ~ eta_min: a restart is invisible at float64 precision")
        tr = drive(ctx.target, case.params, base, n)
        model = roundoff_model(spec, base, p, tr.lr)
        for t in range(n + 1):
            tol = float(model(t, base))
            at_base = abs(tr.lr[t] - base) <= tol
            if not np.isfinite(tr.lr[t]):
                raise violation(
                    ctx,
                    case,
                    f"lr at t={t} is {tr.lr[t]}",
                    t=t,
                    expected=None,
                    got=float(tr.lr[t]),
                    tol=None,
                    steps=n,
                )
            if t in starts and not at_base:
                raise violation(
                    ctx,
                    case,
                    f"no restart at t={t}: lr {fmt(tr.lr[t])}, expected base {fmt(base)} "
                    f"(restarts at {sorted(starts)})",
                    t=t,
                    expected=base,
                    got=float(tr.lr[t]),
                    tol=tol,
                    steps=n,
                )
            if t not in starts and at_base:
                raise violation(
                    ctx,
                    case,
                    f"lr back at base {fmt(base)} at t={t}, which is not a restart epoch "
                    f"(restarts at {sorted(starts)})",
                    t=t,
                    expected=None,
                    got=float(tr.lr[t]),
                    tol=tol,
                    steps=n,
                )

    return run_schedule_property(ctx, prop)


@check(
    id="schedule.one_cycle_landmarks",
    title="one-cycle: starts at max_lr/div_factor, peaks at pct_start, ends at min_lr",
    kind="schedule",
    invariant=True,
)
def one_cycle_landmarks(ctx: Context) -> CheckResult:
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        n = steps_for(spec, p, MAX_STEPS)
        mom = cycles_momentum(spec, p)
        tr = drive(ctx.target, case.params, case.base_lr, n, momentum=mom)
        marks = spec.landmarks(case.base_lr, p)
        model = roundoff_model(spec, case.base_lr, p, tr.lr)
        # Landmarks at fractional epochs (float(pct*N) - 1) fall between optimizer steps.
        points = [
            (int(t), v, "landmark") for t, v in marks if float(t).is_integer() and 0 <= t <= n
        ]
        _check_points(ctx, case, tr, points, model, n)
        peak = float(p.get("pct_start", 0.3) * n_total(p)) - 1.0
        # Peaks at pct_start: rising up to the peak, falling after it (in three-phase mode
        # too: max -> initial -> min).
        if peak >= 0:
            require_monotone(ctx, case, tr, model, +1, (0, min(math.floor(peak), n)), n)
            require_monotone(ctx, case, tr, model, -1, (min(math.ceil(peak), n), n), n)
        if mom and tr.momentum is not None:
            top, low = p.get("max_momentum", 0.95), p.get("base_momentum", 0.85)
            m_points = [(n_total(p) - 1, top, "end: max_momentum")]
            if peak >= 0:  # else the first phase is empty and t = 0 is already past it
                m_points.append((0, top, "start: max_momentum"))
            if peak >= 0 and float(peak).is_integer():
                m_points.append((int(peak), low, "peak lr: base_momentum"))
            m_points = [x for x in m_points if x[0] <= n]
            m_model = RoundOff(top, steepest(tr.momentum))
            _check_points(ctx, case, tr, m_points, m_model, n, series="momentum")

    return run_schedule_property(ctx, prop)


def n_total(p: Mapping[str, Any]) -> int:
    if p.get("total_steps") is not None:
        return int(p["total_steps"])
    return int(p["epochs"]) * int(p["steps_per_epoch"])


def drops(p: Mapping[str, Any], n: int) -> tuple[float, dict[int, float]]:
    """(lr_0 / base, {t: lr_t / lr_(t-1)}) of a step schedule, from its parameters:
    StepLR (step_size, gamma), MultiStepLR (milestones, gamma: a repeated milestone drops
    gamma^k, milestone 0 applies at t = 0), ConstantLR (factor until total_iters)."""
    if "step_size" in p:
        s, g = int(p["step_size"]), float(p.get("gamma", 0.1))
        return 1.0, {t: g for t in range(s, n + 1, s)}
    if "milestones" in p:
        g = float(p.get("gamma", 0.1))
        counts: dict[int, int] = {}
        for m in p["milestones"]:
            counts[int(m)] = counts.get(int(m), 0) + 1
        return g ** counts.pop(0, 0), {t: g**k for t, k in counts.items()}
    if "factor" in p:
        f, k = float(p["factor"]), int(p.get("total_iters", 5))
        if k == 0:
            return 1.0, {}  # the factor's window [0, 0) is empty
        return f, {k: 1.0 / f}
    raise NotApplicable("step_drops needs step_size, milestones or factor/total_iters")


@check(
    id="schedule.step_drops",
    title="step schedules change exactly at their milestones, by gamma, and nowhere else",
    kind="schedule",
    invariant=True,
)
def step_drops(ctx: Context) -> CheckResult:
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        n = steps_for(spec, p, size(p) + MIN_STEPS)
        first, ratio = drops(p, n)
        tr = drive(ctx.target, case.params, case.base_lr, n)
        # One multiplication per step: ratios are exact to a few eps (module note).
        rel = ROUNDOFF_OPS * EPS
        want0 = case.base_lr * first
        if not abs(tr.lr[0] - want0) <= rel * abs(want0):
            raise violation(
                ctx,
                case,
                f"lr at t=0 is {fmt(tr.lr[0])}, expected base * {first:g}",
                t=0,
                expected=want0,
                got=float(tr.lr[0]),
                tol=rel * abs(want0),
                steps=n,
            )
        for t in range(1, n + 1):
            r = ratio.get(t, 1.0)
            want = tr.lr[t - 1] * r
            tol = rel * abs(want) + (rel * abs(tr.lr[t - 1]) if r == 0 else 0.0)
            if not abs(tr.lr[t] - want) <= tol:
                where = f"a drop by {r:g}" if t in ratio else "no change"
                raise violation(
                    ctx,
                    case,
                    f"at t={t} the lr goes {fmt(tr.lr[t - 1])} -> {fmt(tr.lr[t])}; expected "
                    f"{where} (changes at {sorted(ratio)[:8]})",
                    t=t,
                    expected=float(want),
                    got=float(tr.lr[t]),
                    tol=tol or None,
                    steps=n,
                    show=f"lrs[{t - 1}], lrs[{t}]",
                )

    return run_schedule_property(ctx, prop)


@check(
    id="schedule.periodic",
    title="the lr repeats with the schedule's period",
    kind="schedule",
    invariant=True,
)
def periodic(ctx: Context) -> CheckResult:
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        if spec.period is None:
            raise NotApplicable(f"the {spec.name} spec gives no period")
        period = int(spec.period(p))
        n = steps_for(spec, p, 2 * period + 1)
        lo, hi = scope(ctx, spec, p, n)
        if hi - lo < period + 1:
            raise NotApplicable("the trace holds less than one period and a step")
        tr = drive(ctx.target, case.params, case.base_lr, hi)
        model = roundoff_model(spec, case.base_lr, p, tr.lr)
        for t in range(lo, hi - period + 1):
            tol = 2 * float(model(t + period, tr.lr[t]))
            if not abs(tr.lr[t + period] - tr.lr[t]) <= tol:
                raise violation(
                    ctx,
                    case,
                    f"lr at t={t + period} is {fmt(tr.lr[t + period])} but one period "
                    f"({period}) earlier it was {fmt(tr.lr[t])}",
                    t=t + period,
                    expected=float(tr.lr[t]),
                    got=float(tr.lr[t + period]),
                    tol=tol,
                    steps=hi,
                    show=f"lrs[{t}], lrs[{t + period}]",
                )

    return run_schedule_property(ctx, prop)


def pieces(spec: ScheduleSpec, p: Mapping[str, Any]) -> tuple[list[Any], list[int]]:
    """Children ((spec, params) pairs) and milestones of a sequential schedule."""
    recipe = spec.recipe(p) if spec.recipe is not None else p
    if "schedulers" not in recipe or "milestones" not in recipe:
        raise NotApplicable(f"{spec.name} is not a sequence of schedules")
    kids = []
    for child, params in recipe["schedulers"]:
        kids.append((schedule_record(child) if isinstance(child, str) else child, dict(params)))
    return kids, [int(m) for m in recipe["milestones"]]


@check(
    id="schedule.sequential_continuity",
    title="at each SequentialLR milestone the lr goes from the ending piece to the next one's "
    "start (continuous, or exactly the documented jump)",
    kind="schedule",
    invariant=True,
)
def sequential_continuity(ctx: Context) -> CheckResult:
    # torch docs/source: child k runs on its own clock restarted at milestone m_k; so around
    # m_k the lr is child_{k-1} at its clock m_k - 1 - m_{k-1}, then child_k at 0 and 1.
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        kids, ms = pieces(spec, p)
        inner = [(k, m) for k, m in enumerate(ms, start=1) if m > 0]
        if not inner:
            raise NotApplicable("no milestone after t = 0")
        n = steps_for(spec, p, max(m for _, m in inner) + 2)
        tr = drive(ctx.target, case.params, case.base_lr, n)
        model = roundoff_model(spec, case.base_lr, p, tr.lr)
        starts = [0, *ms]
        for k, m in inner:
            if m > n:
                continue
            left, right = kids[k - 1], kids[k]
            points = []
            if m - 1 >= starts[k - 1] and ms.count(m) == 1:
                v = left[0].closed_form(m - 1 - starts[k - 1], case.base_lr, **left[1])
                points.append((m - 1, float(v), f"{left[0].name} ending before milestone {m}"))
            nxt = ms[k] if k < len(ms) else None
            for j in (0, 1):
                if m + j <= n and (nxt is None or m + j < nxt):
                    v = right[0].closed_form(j, case.base_lr, **right[1])
                    points.append((m + j, float(v), f"{right[0].name} at its step {j}"))
            _check_points(ctx, case, tr, points, model, n)

    return run_schedule_property(ctx, prop)


@check(
    id="schedule.swa_anneal",
    title="SWA annealing: the optimizer's lr at t=0, monotone towards swa_lr, (lr+swa_lr)/2 "
    "halfway, swa_lr from anneal_epochs on",
    kind="schedule",
    invariant=True,
)
def swa_anneal(ctx: Context) -> CheckResult:
    # torch docs, SWALR: alpha(t/T) runs 0 -> 1 over anneal_epochs T, both strategies reach
    # 1/2 at t = T/2 (t/T linear, (1 - cos(pi t/T))/2 cosine), and the lr holds swa_lr after.
    def prop(spec: ScheduleSpec, case: Case, p: dict[str, Any]) -> None:
        base, swa, ae = case.base_lr, float(p["swa_lr"]), int(p["anneal_epochs"])
        n = steps_for(spec, p, ae + MIN_STEPS)
        tr = drive(ctx.target, case.params, base, n)
        model = roundoff_model(spec, base, p, tr.lr)
        points = [(0, base if ae > 0 else swa, "t = 0")]
        if ae % 2 == 0 and 0 < ae <= n:
            points.append((ae // 2, (base + swa) / 2, "halfway, t = anneal_epochs/2"))
        points += [(t, swa, "anneal_epochs reached") for t in range(ae, n + 1)]
        _check_points(ctx, case, tr, points, model, n)
        # Monotone towards swa_lr over the anneal.
        toward = 1.0 if swa >= base else -1.0
        require_monotone(ctx, case, tr, model, toward, (0, min(ae, n)), n)

    return run_schedule_property(ctx, prop)
