"""Schedules against their closed forms, and the resume contract every scheduler must keep.

``crossval.schedule`` compares the lr (and cycled momentum) a target publishes after each
``scheduler.step()`` with the spec's closed form (or the variant --like names), within the
round-off model of kit.schedules.RoundOff. A failure names the documented variant the target
matches, if any (torch's own quirks are variants of the specs).

``drift_table`` measures, over LONG_HORIZON (>= 10,000) steps, how far torch's chainable
(recursive) forms drift from the closed forms: the figure the closing note reports, and what
tests/test_schedule_crossval.py holds to the error model.

The two resume checks are generic contract (no reference needed):
  * ``contract.schedule_resume``: stop after k steps, build a fresh optimizer and scheduler,
    load both state_dicts (torch docs order: construct, then optimizer.load_state_dict, then
    scheduler.load_state_dict), continue: every later lr and momentum is bit-identical to the
    uninterrupted run (the same arithmetic on the same restored values).
  * ``contract.schedule_last_epoch``: resume through the constructor instead. The optimizer is
    restored first (its groups carry ``initial_lr``, which torch requires when last_epoch >= 0)
    and the scheduler is built with ``last_epoch = k - 1``: LRScheduler's constructor takes
    one step (its docstring: "initializing a scheduler overwrites its optimizer's lr"; with
    the default -1 it lands on epoch 0), so ``k - 1`` lands on epoch k, the saved scheduler's
    ``last_epoch``. The run must then continue as the uninterrupted one does.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hypothesis import assume
from hypothesis import strategies as st

from optcheck.checks.kit.registry import Context, NotApplicable, check, run_property
from optcheck.checks.kit.schedules import (
    BASE_LR,
    MIN_STEPS,
    Case,
    Driver,
    RoundOff,
    cycles_momentum,
    drive,
    drive_groups,
    first_mismatch,
    full_params,
    group_params,
    ints_in,
    last_step,
    make_optimizer,
    matching_variant,
    period_of,
    quiet,
    require_constructible,
    roundoff_model,
    scale_of,
    schedule_cases,
    schedule_record,
    schedule_spec,
    size,
    snippet,
    snippet_head,
    spec_or_none,
    start,
    steepest,
    step_raised,
    steps_for,
    torch_schedule_target,
    violation,
)
from optcheck.checks.kit.strategies import dimension, real
from optcheck.checks.records import ScheduleSpec
from optcheck.checks.result import CheckResult
from optcheck.checks.target import ScheduleTarget
from optcheck.reference import schedules as S

# Cross-validation draws sizes up to CROSSVAL_CAP and drives at most CROSSVAL_STEPS per case.
CROSSVAL_CAP, CROSSVAL_STEPS = 500, 600
# Resume checks: short runs, the split point anywhere in them.
RESUME_CAP, RESUME_STEPS = 48, 150
LONG_HORIZON = 10_000


def _series(
    spec: ScheduleSpec,
    t: np.ndarray,
    base_lr: float,
    p: dict[str, Any],
    exact: np.ndarray,
    lrs: np.ndarray,
    momenta: np.ndarray | None,
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(what, got, want, tolerance) for the lr and, where cycled, the momentum."""
    series = [("lr", lrs, exact, roundoff_model(spec, base_lr, p, exact)(t, exact))]
    if momenta is not None and spec.momentum is not None:
        m_exact = np.asarray(spec.momentum(t, base_lr, **p), dtype=np.float64)
        m_model = RoundOff(1.0, steepest(m_exact), period_of(spec, p))
        series.append(("momentum", momenta, m_exact, m_model(t, m_exact)))
    return series


def _raised(
    ctx: Context,
    case: Case,
    spec: ScheduleSpec,
    p: dict[str, Any],
    exc: Exception,
    n: int,
    base_lrs: list[float] | None = None,
    betas: bool = False,
) -> Exception:
    """A target that raises mid-run (an accepted input): a violation at the step it raised
    at, the closed form's value there as expected; the exception itself where unmarked."""
    t = step_raised(exc)
    if t is None:
        return exc
    base = case.base_lr if base_lrs is None else base_lrs[0]
    expected = float(ctx.reference(t, base, **group_params(spec, p, 0)))
    lrs = case.base_lr if base_lrs is None else base_lrs
    return violation(
        ctx,
        case,
        f"scheduler.step() number {t} raised {type(exc).__name__}: {exc}",
        t=t,
        expected=expected,
        got=float("nan"),
        tol=None,
        steps=n,
        code=snippet(ctx.target, case.params, lrs, t, f"lrs[{t - 1}]", betas=betas),
    )


@check(
    id="crossval.schedule",
    title="lr (and cycled momentum) after every step equals the closed form",
    kind="schedule",
    needs_reference=True,
)
def schedule_crossval(ctx: Context) -> CheckResult:
    spec = schedule_spec(ctx)
    require_constructible(ctx)
    reference = ctx.reference

    @quiet
    def prop(case: Case) -> None:
        p = full_params(spec, case.params)
        n = steps_for(spec, p, size(p) + MIN_STEPS, most=CROSSVAL_STEPS)
        mom = cycles_momentum(spec, p)
        try:
            tr = drive(ctx.target, case.params, case.base_lr, n, momentum=mom)
        except Exception as exc:
            raise _raised(ctx, case, spec, p, exc, n) from None
        t = np.arange(n + 1)
        exact = np.asarray(reference(t, case.base_lr, **p), dtype=np.float64)
        moms = tr.momentum if mom else None
        for what, got, want, tol in _series(spec, t, case.base_lr, p, exact, tr.lr, moms):
            bad = first_mismatch(got, want, tol)
            if bad is None:
                continue
            hint = ""
            if what == "lr" and ctx.variant is None:
                match = matching_variant(spec, t, got, case.base_lr, p)
                hint = f"; matches the documented variant {match}" if match else ""
            raise violation(
                ctx,
                case,
                f"{what} at t={bad} is {got[bad]:.17g}, the closed form gives {want[bad]:.17g} "
                f"(|diff| = {abs(got[bad] - want[bad]) / tol[bad]:.3g} x round-off){hint}",
                t=bad,
                expected=float(want[bad]),
                got=float(got[bad]),
                tol=float(tol[bad]),
                steps=n,
                show=f"{'lrs' if what == 'lr' else 'momenta'}[{bad}]",
            )

    return run_property(ctx, schedule_cases(ctx, cap=CROSSVAL_CAP, wide=True), prop)


# Several param groups: short runs (each group is a closed form of its own).
GROUPS_CAP, GROUPS_STEPS = 48, 150


def _group_cases(ctx: Context, spec: ScheduleSpec) -> st.SearchStrategy[Case]:
    """A single-group case widened to 2-3 groups: each group its own initial lr, and each
    per-group keyword (spec.per_group) either one value for all or a list, one per group."""
    lists = [
        d
        for d in spec.space
        if d.name in spec.per_group
        and d.name not in ctx.settings.fixed_hp
        and ctx.target.accepts(d.name)
    ]

    @st.composite
    def draw(data: st.DrawFn) -> Case:
        case = data(schedule_cases(ctx, cap=GROUPS_CAP, wide=True))
        k = data(st.integers(2, 3))
        base_lrs = data(st.lists(real(BASE_LR), min_size=k, max_size=k))
        params = dict(case.params)
        for dim in lists:
            if data(st.booleans()):
                params[dim.name] = data(st.lists(dimension(dim), min_size=k, max_size=k))
        full = full_params(spec, params)
        assume(all(spec.check_params(group_params(spec, full, i)) is None for i in range(k)))
        # A cycled momentum lands in SGD's momentum or, under Adam, in betas[0].
        betas = spec.momentum is not None and data(st.booleans())
        return Case(params, base_lrs[0], extra={"base_lrs": base_lrs, "betas": betas})

    return draw()


@check(
    id="crossval.schedule_groups",
    title="every param group follows the closed form of its own lr and per-group values",
    kind="schedule",
    needs_reference=True,
)
def schedule_groups(ctx: Context) -> CheckResult:
    spec = schedule_spec(ctx)
    if spec.metric_driven:
        raise NotApplicable("metric-driven: crossval.plateau draws its groups itself")
    require_constructible(ctx)
    reference = ctx.reference

    @quiet
    def prop(case: Case) -> None:
        base_lrs = case.extra["base_lrs"]
        p = full_params(spec, case.params)
        n = steps_for(spec, p, size(p) + MIN_STEPS, most=GROUPS_STEPS)
        mom = any(cycles_momentum(spec, group_params(spec, p, i)) for i in range(len(base_lrs)))
        betas = bool(case.extra.get("betas"))
        try:
            lrs, moms = drive_groups(
                ctx.target, case.params, base_lrs, n, momentum=mom, betas=betas
            )
        except Exception as exc:
            raise _raised(ctx, case, spec, p, exc, n, base_lrs, betas) from None
        t = np.arange(n + 1)
        for i, base in enumerate(base_lrs):
            pi = group_params(spec, p, i)
            if spec.one_multiplier:  # the optimizer's constructor lr is base_lrs[0]
                ref = reference(t, base_lrs[0], **pi)
                exact = base * np.asarray(ref, dtype=np.float64) / base_lrs[0]
            else:
                exact = np.asarray(reference(t, base, **pi), dtype=np.float64)
            cycled = moms[:, i] if moms is not None and cycles_momentum(spec, pi) else None
            for what, got, want, tol in _series(spec, t, base, pi, exact, lrs[:, i], cycled):
                bad = first_mismatch(got, want, tol)
                if bad is None:
                    continue
                raise violation(
                    ctx,
                    case,
                    f"group {i} of {len(base_lrs)}: {what} at t={bad} is {got[bad]:.17g}, its "
                    f"closed form gives {want[bad]:.17g} "
                    f"(|diff| = {abs(got[bad] - want[bad]) / tol[bad]:.3g} x round-off)",
                    t=bad,
                    expected=float(want[bad]),
                    got=float(got[bad]),
                    tol=float(tol[bad]),
                    steps=n,
                    code=snippet(
                        ctx.target,
                        case.params,
                        base_lrs,
                        n,
                        f"{'lrs' if what == 'lr' else 'moms'}[{bad}][{i}]",
                        betas=betas,
                    ),
                )

    return run_property(ctx, _group_cases(ctx, spec), prop)


# Float epochs: dyadic fractions (exact in binary, as i / iters is with a power-of-2 iters).
EPOCH_DENOMINATOR, EPOCHS_MOST, EPOCH_LAST = 64, 40, 4 * GROUPS_CAP


def _epoch_slope(spec: ScheduleSpec, base_lr: float, p: dict[str, Any], t: np.ndarray) -> Any:
    """The closed form's change per epoch at each epoch t, from its neighbours 1/64 either
    side (the drawn epochs' grid): the error model's slope term, where torch locates an
    epoch in floating point (t / total_size, t - cycle start) and is off by eps-sized amounts."""
    h = 1.0 / EPOCH_DENOMINATOR
    at = np.concatenate([t - h, t, t + h])
    at = np.clip(at, 0.0, None)
    end = last_step(spec, p)
    if end is not None:
        at = np.minimum(at, float(end))
    f = np.asarray(spec.closed_form(at, base_lr, **p), dtype=np.float64).reshape(3, -1)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.maximum(np.abs(f[1] - f[0]), np.abs(f[2] - f[1])) / h)


def _epoch_snippet(ctx: Context, case: Case, at: list[float]) -> str | None:
    head = snippet_head(ctx.target, case.params)
    if head is None:
        return None
    return "\n".join(
        [
            head[0],
            "p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))",
            f"opt = torch.optim.SGD([p], lr={case.base_lr!r})",
            f"sched = make_schedule(opt, {head[1]})",
            f"for e in {at!r}:",
            "    opt.step()",
            "    sched.step(e)",
            "print(opt.param_groups[0]['lr'])",
            "",
        ]
    )


@check(
    id="crossval.schedule_epochs",
    title="step(epoch) at drawn float epochs (any order, repeats) gives the closed form there",
    kind="schedule",
    needs_reference=True,
)
def schedule_epochs(ctx: Context) -> CheckResult:
    spec = schedule_spec(ctx)
    if not spec.float_epochs:
        raise NotApplicable(f"{spec.name} takes no epoch in step()")
    require_constructible(ctx)
    reference = ctx.reference
    ticks = st.integers(0, EPOCH_DENOMINATOR * EPOCH_LAST)
    epochs = st.lists(ticks.map(lambda k: k / EPOCH_DENOMINATOR), min_size=1, max_size=EPOCHS_MOST)

    @quiet
    def prop(case: Case) -> None:
        p = full_params(spec, case.params)
        # Then the landmarks (restarts), where the formula changes and round-off bites.
        marks = spec.landmarks(case.base_lr, p) if spec.landmarks else ()
        at = [*case.extra["epochs"], *(float(m) for m, _ in marks if 0 <= m <= EPOCH_LAST)]
        end = last_step(spec, p)  # OneCycleLR raises past total_steps
        at = [e for e in at if end is None or e <= end]
        if not at:
            raise NotApplicable("no drawn epoch lies within the schedule")
        p_opt, opt = make_optimizer(case.base_lr)
        got: list[float] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # step(epoch) is deprecated, and still the API
            sched = ctx.target.make(opt, case.params)
            for e in at:
                p_opt.grad = torch.ones_like(p_opt)
                opt.step()
                try:
                    sched.step(e)
                except Exception as exc:  # noqa: BLE001 - a raise at an accepted epoch
                    raise violation(
                        ctx,
                        case,
                        f"step({e!r}) (call {len(got) + 1}) raised {type(exc).__name__}: {exc}",
                        t=len(got),
                        expected=float(reference(e, case.base_lr, **p)),
                        got=float("nan"),
                        tol=None,
                        steps=len(got) + 1,
                        code=_epoch_snippet(ctx, case, at[: len(got) + 1]),
                    ) from None
                got.append(float(opt.param_groups[0]["lr"]))
        t = np.asarray(at)
        want = np.asarray(reference(t, case.base_lr, **p), dtype=np.float64)
        scale = scale_of(spec, case.base_lr, p)
        slope = _epoch_slope(spec, case.base_lr, p, t)
        tol = RoundOff(scale, slope, period_of(spec, p))(t, want)
        bad = first_mismatch(np.asarray(got), want, tol)
        if bad is None:
            return
        raise violation(
            ctx,
            case,
            f"after step({at[bad]!r}) (call {bad + 1}) the lr is {got[bad]:.17g}, the closed "
            f"form at t={at[bad]!r} gives {want[bad]:.17g} "
            f"(|diff| = {abs(got[bad] - want[bad]) / tol[bad]:.3g} x round-off)",
            t=bad,
            expected=float(want[bad]),
            got=float(got[bad]),
            tol=float(tol[bad]),
            steps=len(at),
            code=_epoch_snippet(ctx, case, at[: bad + 1]),
        )

    cases = schedule_cases(ctx, cap=GROUPS_CAP, extra={"epochs": epochs}, wide=True)
    return run_property(ctx, cases, prop)


# --- long-horizon drift of torch's chainable forms --------------------------------------------

# Parameters that keep every schedule moving for the whole LONG_HORIZON (none finishes early,
# none underflows), so the drift is measured where a recursion accumulates the most.
HORIZON_PARAMS: dict[str, dict[str, Any]] = {
    "ConstantLR": {"factor": 0.3, "total_iters": 5000},
    "StepLR": {"step_size": 7, "gamma": 0.999},
    "MultiStepLR": {"milestones": tuple(range(97, LONG_HORIZON, 97)), "gamma": 0.95},
    "ExponentialLR": {"gamma": 0.9995},
    "CosineAnnealingLR": {"T_max": 3000, "eta_min": 1e-4},
    "CosineAnnealingWarmRestarts": {"T_0": 100, "T_mult": 2, "eta_min": 1e-4},
    "LinearLR": {"start_factor": 0.01, "end_factor": 1.0, "total_iters": LONG_HORIZON - 1},
    "PolynomialLR": {"total_iters": LONG_HORIZON, "power": 2.0},
    "OneCycleLR": {"max_lr": 0.1, "total_steps": LONG_HORIZON + 1},
    "CyclicLR": {
        "base_lr": 1e-3,
        "max_lr": 1e-2,
        "step_size_up": 700,
        "step_size_down": 300,
        "mode": "exp_range",
        "gamma": 0.9999,
    },
    "LambdaLR": {"lr_lambda": S.lambda_inverse_sqrt},
    "MultiplicativeLR": {"lr_lambda": S.factor_0999},
    "SequentialLR": {
        "schedulers": (
            ("LinearLR", {"start_factor": 0.01, "total_iters": 500}),
            ("CosineAnnealingLR", {"T_max": 4000}),
            ("ExponentialLR", {"gamma": 0.9995}),
        ),
        "milestones": (500, 6000),
    },
    "ChainedScheduler": {
        "schedulers": (
            ("LinearLR", {"start_factor": 0.1, "total_iters": 3000}),
            ("ExponentialLR", {"gamma": 0.9997}),
            ("StepLR", {"step_size": 1000, "gamma": 0.7}),
        ),
    },
    "WarmupCosine": {"start_factor": 0.01, "warmup_steps": 1000, "T_max": 9000, "eta_min": 1e-5},
    "SWALR": {"swa_lr": 0.01, "anneal_epochs": LONG_HORIZON - 1, "anneal_strategy": "cos"},
}


@dataclass(frozen=True)
class Drift:
    name: str
    steps: int
    chainable: bool  # torch's get_lr multiplies the current lr (round-off accumulates)
    max_rel: float  # max_t |torch - exact| / |exact| (exact = 0: relative to the scale)
    at: int  # the t where it is reached
    max_in_roundoff: float  # max_t |torch - exact| / RoundOff(t): <= 1 holds the model

    def row(self) -> str:
        kind = "chainable" if self.chainable else "closed form"
        return (
            f"{self.name:28s} {kind:11s} {self.max_rel:10.3e} at t={self.at:<6d} "
            f"{self.max_in_roundoff:6.3f} of the bound"
        )


def drift(name: str, steps: int = LONG_HORIZON, base_lr: float = 0.1) -> Drift:
    """torch's scheduler ``name`` against its closed form for ``steps`` steps."""
    spec = schedule_record(name)
    p = full_params(spec, HORIZON_PARAMS[name])
    n = steps_for(spec, p, steps, most=steps)
    tr = drive(torch_schedule_target(name), HORIZON_PARAMS[name], base_lr, n)
    t = np.arange(n + 1)
    want = np.asarray(spec.closed_form(t, base_lr, **p), dtype=np.float64)
    scale = scale_of(spec, base_lr, p)
    err = np.abs(tr.lr - want)
    rel = err / np.where(want != 0.0, np.abs(want), scale)
    at = int(np.argmax(rel))
    return Drift(
        name,
        n,
        spec.chainable,
        float(rel[at]),
        at,
        float(np.max(err / roundoff_model(spec, base_lr, p, want)(t, want))),
    )


def drift_table(steps: int = LONG_HORIZON) -> list[Drift]:
    """Every torch scheduler's largest drift from its closed form over ``steps`` steps."""
    return [drift(name, steps) for name in HORIZON_PARAMS]


# --- resume -----------------------------------------------------------------------------------


def _resume_case(ctx: Context) -> st.SearchStrategy[Case]:
    # ``snap``: interrupt exactly at one of the schedule's own epochs (a milestone, a restart,
    # the end of a warmup), where a resume that re-applies or skips a step shows.
    extra = {"split": st.floats(0.0, 1.0), "snap": st.booleans()}
    # the target against itself: holds wherever torch accepts the parameters
    return schedule_cases(ctx, cap=RESUME_CAP, extra=extra, stated_on_space=False)


def _split(ctx: Context, case: Case, low: int) -> tuple[ScheduleSpec | None, int, int]:
    spec = spec_or_none(ctx)
    p = full_params(spec, case.params)
    n = steps_for(spec, p, size(p) + MIN_STEPS, most=RESUME_STEPS)
    if n < low:
        raise NotApplicable("the schedule is too short to interrupt")
    k = low + round(case.extra["split"] * (n - low))
    marks = sorted({m for m in ints_in(p) if low <= m <= n})
    if case.extra.get("snap") and marks:
        k = min(marks, key=lambda m: (abs(m - k), m))
    return spec, n, k


def resume_snippet(
    target: ScheduleTarget, case: Case, k: int, n: int, t: int, last_epoch: bool
) -> str | None:
    """Standalone Python: the uninterrupted run and the resumed one, printing both at t."""
    head = snippet_head(target, case.params)
    if head is None:
        return None
    imports, body = head
    kw = f", {body}" if body else ""
    if last_epoch:
        rebuild = [
            "saved = sched.last_epoch",
            "p, opt = fresh()",
            "opt.load_state_dict(opt_sd)  # its groups carry initial_lr",
            f"sched = make_schedule(opt{kw}, last_epoch=saved - 1)  # the constructor steps once",
        ]
    else:
        rebuild = [
            "sched_sd = copy.deepcopy(sched.state_dict())",
            "p, opt = fresh()",
            f"sched = make_schedule(opt{kw})",
            "opt.load_state_dict(opt_sd)",
            "sched.load_state_dict(sched_sd)",
        ]
    return "\n".join(
        [
            "import copy",
            imports,
            "",
            "",
            "def fresh():",
            "    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))",
            f"    return p, torch.optim.SGD([p], lr={case.base_lr!r}, momentum=0.0)",
            "",
            "",
            "def run(p, opt, sched, steps, lrs):",
            "    for _ in range(steps):",
            "        p.grad = torch.ones_like(p)",
            "        opt.step()",
            "        sched.step()",
            "        lrs.append(opt.param_groups[0]['lr'])",
            "",
            "",
            "p, opt = fresh()",
            f"sched = make_schedule(opt{kw})",
            "whole = [opt.param_groups[0]['lr']]",
            f"run(p, opt, sched, {n}, whole)",
            "p, opt = fresh()",
            f"sched = make_schedule(opt{kw})",
            f"run(p, opt, sched, {k}, [])",
            "opt_sd = copy.deepcopy(opt.state_dict())",
            *rebuild,
            "resumed = [opt.param_groups[0]['lr']]",
            f"run(p, opt, sched, {n - k}, resumed)",
            f"print('uninterrupted:', whole[{t}], 'resumed:', resumed[{t - k}])",
            "",
        ]
    )


def _compare_resumed(
    ctx: Context,
    case: Case,
    whole: Driver,
    resumed: Driver,
    k: int,
    n: int,
    how: str,
    exact: bool,
) -> None:
    last_epoch = not exact
    spec = spec_or_none(ctx)
    p = full_params(spec, case.params)
    models = {
        "lr": roundoff_model(spec, case.base_lr, p, whole.lr),
        "momentum": RoundOff(1.0, steepest(whole.momentum), period_of(spec, p)),
    }
    for what, a, b in (
        ("lr", whole.lr, resumed.lr),
        ("momentum", whole.momentum, resumed.momentum),
    ):
        for j, got in enumerate(b):
            t, want = k + j, a[k + j]
            tol = 0.0 if exact else float(models[what](t, want))
            # Equal (infs included), or both NaN: the same result.
            same = got == want or (np.isnan(got) and np.isnan(want))
            if not (same or abs(got - want) <= tol):
                raise violation(
                    ctx,
                    case,
                    f"resumed {how} at t={k}: {what} at t={t} is {got:.17g}, the uninterrupted "
                    f"run has {want:.17g}",
                    t=t,
                    expected=float(want),
                    got=float(got),
                    tol=tol or None,
                    steps=n,
                    code=resume_snippet(ctx.target, case, k, n, t, last_epoch),
                )


@check(
    id="contract.schedule_resume",
    title="scheduler + optimizer state_dict resume equals an uninterrupted run, bit for bit",
    kind="schedule",
)
def schedule_resume(ctx: Context) -> CheckResult:
    @quiet
    def prop(case: Case) -> None:
        _, n, k = _split(ctx, case, 0)
        whole = start(ctx.target, case.params, case.base_lr)
        whole.step(n)
        first = start(ctx.target, case.params, case.base_lr)
        first.step(k)
        opt_sd = copy.deepcopy(first.opt.state_dict())
        sched_sd = copy.deepcopy(first.sched.state_dict())
        param, opt = make_optimizer(case.base_lr)
        sched = ctx.target.make(opt, case.params)
        opt.load_state_dict(opt_sd)
        sched.load_state_dict(sched_sd)
        resumed = Driver(opt, param, sched)
        resumed.step(n - k)
        _compare_resumed(ctx, case, whole, resumed, k, n, "from state_dicts", exact=True)

    require_constructible(ctx)
    return run_property(ctx, _resume_case(ctx), prop)


@check(
    id="contract.schedule_last_epoch",
    title="rebuilt with last_epoch on a restored optimizer, the scheduler continues the run",
    kind="schedule",
    needs=("last_epoch",),
)
def schedule_last_epoch(ctx: Context) -> CheckResult:
    @quiet
    def prop(case: Case) -> None:
        _, n, k = _split(ctx, case, 1)
        whole = start(ctx.target, case.params, case.base_lr)
        whole.step(n)
        first = start(ctx.target, case.params, case.base_lr)
        first.step(k)
        saved_epoch = int(getattr(first.sched, "last_epoch", k))
        opt_sd = copy.deepcopy(first.opt.state_dict())
        param, opt = make_optimizer(case.base_lr)
        opt.load_state_dict(opt_sd)
        sched = ctx.target.make(opt, {**case.params, "last_epoch": saved_epoch - 1})
        resumed = Driver(opt, param, sched)
        resumed.step(n - k)
        _compare_resumed(
            ctx,
            case,
            whole,
            resumed,
            k,
            n,
            f"with last_epoch={saved_epoch - 1} (saved last_epoch {saved_epoch})",
            exact=False,
        )

    require_constructible(ctx)
    return run_property(ctx, _resume_case(ctx), prop)


# --- what torch does differently (its bugs: checks.findings) ------------------------------------


# Documented torch behaviours that differ from a paper; the closed forms follow torch, so these
# pass, and the tests named here pin them down.
TORCH_DOCUMENTED = {
    "CosineAnnealingLR": "past T_max the lr rises again (period 2 T_max) instead of holding "
    "eta_min or restarting: test_reference_schedules.py::test_cosine_past_t_max_rises_again",
    "CosineAnnealingWarmRestarts": "integer steps never reach eta_min (T_cur runs 0..T_i-1): "
    "test_reference_schedules.py::test_sgdr_never_reaches_eta_min_at_integer_epochs",
    "OneCycleLR": "two phases and cosine annealing by default (the paper: three linear "
    "phases); at t = total_steps, an lr no optimizer step uses, it extrapolates: "
    "test_reference_schedules.py::test_one_cycle_default_two_phase_vs_paper_three_phase",
}
