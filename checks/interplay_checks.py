"""Optimizer-scheduler interplay: the lr an optimizer applies at step t is the schedule's eta_t.

Schedule targets (``interplay.schedule_applied_lr``): driven in the documented order
(``optimizer.step()`` then ``scheduler.step()``) on SGD with a constant gradient of 1 and the
parameter reset to 0 before every step, the update is exactly -lr * (momentum buffer), so the
lr the optimizer applied is measured, not read (kit.schedules.Driver). It must equal the
``group['lr']`` the scheduler published before that step (a scheduler that changes the lr
behind the optimizer's back, e.g. in a step hook, fails here), and with a spec the closed form
eta_t (a scheduler written for the pre-1.1 order, one step ahead or behind, fails here; the
evidence says which way it is shifted).

Optimizer targets, driven by torch's LambdaLR with drawn factors (an lr that changes every
step, up and down):
  * ``interplay.optimizer_lr`` (no reference needed): at every step t the update must
    respond to the ``group['lr']`` in force at t. Probed by replaying the run with the lr of
    step t alone replaced by q1 = lr/2 and q2 = 2 lr (same gradients, same earlier lrs): the
    change between the two probes is the part of the step that lr scales. Where lr is a cap
    (Adafactor's relative step min(lr, 1/sqrt(t))) both probes can sit above it, so the pair
    is repeated at lr/16, lr/256, lr/4096 until one responds or the step sinks below
    round-off. An optimizer that caches lr at construction or at its first step, or applies
    the lr one step late, responds at no rung. And the scheduled step must equal, bit for
    bit, the replay with that step's lr written directly: the scheduler changes group['lr']
    and nothing else the step may read.
  * ``interplay.optimizer_lr_reference`` (with --like): the scheduled trajectory equals the
    reference (or the --like variant) run with the same per-step lrs, so the lr is applied
    exactly (an lr scaled by 1.001 fails), SGD without momentum included.

Error model. The reference comparison uses checks/tolerance.py (the running bound of the
open-loop comparisons, which takes per-step lrs). The probes compare steps taken from the same
state: each differs from its exact value by a few eps of (|theta| + |step|), so two probes are
told apart when they differ by more than TRAJ_OPS * eps * (|theta| + |step|).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from optcheck.checks import tolerance
from optcheck.checks.kit.contract import (
    ContractCase,
    Problem,
    build,
    cases,
    maker,
    preflight,
    problems,
    reference_trajectory,
    snippet,
)
from optcheck.checks.kit.harness import make_params, run_torch, set_grads, to_numpy
from optcheck.checks.kit.registry import (
    WITHOUT_LR,
    Context,
    NotApplicable,
    Violation,
    check,
    run_property,
    runs_without_lr,
)
from optcheck.checks.kit.schedules import (
    EPS,
    MIN_STEPS,
    Trace,
    drive,
    full_params,
    matching_variant,
    quiet,
    require_constructible,
    roundoff_model,
    schedule_cases,
    size,
    steps_for,
    violation,
)
from optcheck.checks.kit.schedules import Case as ScheduleCase
from optcheck.checks.records import OptimizerRecord, ScheduleSpec
from optcheck.checks.result import CheckResult, Evidence

# Roundings in one optimizer step (Adam-family: about a dozen; margin for others).
TRAJ_OPS = 32
# The applied lr is -param / buffer: two roundings (the step, the division).
APPLIED_REL = 4 * EPS
INTERPLAY_STEPS = 200
# A probe must move the step by this many round-off units, else lr's effect is unmeasurable.
VISIBLE = 1e3
# Scales of the probe pairs (lr/2, 2 lr) tried in turn: smaller ones see under an lr cap.
LR_RUNGS = (1.0, 2.0**-4, 2.0**-8, 2.0**-12)
LAMBDA_FACTORS = st.floats(0.2, 5.0)


# --- schedule targets -------------------------------------------------------------------------


@check(
    id="interplay.schedule_applied_lr",
    title="the lr the optimizer applies at step t is the scheduler's group['lr'] (and eta_t)",
    kind="schedule",
)
def schedule_applied_lr(ctx: Context) -> CheckResult:
    spec = ctx.spec if isinstance(ctx.spec, ScheduleSpec) else None

    @quiet
    def prop(case: ScheduleCase) -> None:
        p = full_params(spec, case.params)
        n = steps_for(spec, p, size(p) + MIN_STEPS, most=INTERPLAY_STEPS)

        tr = drive(ctx.target, case.params, case.base_lr, n)
        for t in range(n):
            tol = APPLIED_REL * abs(tr.lr[t])
            if not abs(tr.applied[t] - tr.lr[t]) <= tol:
                raise violation(
                    ctx,
                    case,
                    f"optimizer step {t + 1} applied lr {tr.applied[t]:.17g}, but the "
                    f"scheduler's group['lr'] before it was {tr.lr[t]:.17g}",
                    t=t + 1,
                    expected=float(tr.lr[t]),
                    got=float(tr.applied[t]),
                    tol=tol or None,
                    steps=n,
                    show=f"lrs[{t}]",
                )
        if spec is None:
            return
        t = np.arange(n)
        want = np.asarray(ctx.reference(t, case.base_lr, **p), dtype=np.float64)
        model = roundoff_model(spec, case.base_lr, p, want)
        tol_t = model(t, want) + APPLIED_REL * np.abs(want)
        bad = np.flatnonzero(~(np.abs(tr.applied - want) <= tol_t))
        if bad.size:
            k = int(bad[0])
            raise violation(
                ctx,
                case,
                f"optimizer step {k + 1} applied lr {tr.applied[k]:.17g}, the schedule's eta_{k} "
                f"is {want[k]:.17g}{_shift_hint(tr.applied, want, tol_t)}"
                f"{_variant_hint(ctx, case, tr)}",
                t=k + 1,
                expected=float(want[k]),
                got=float(tr.applied[k]),
                tol=float(tol_t[k]),
                steps=n,
                show=f"lrs[{k}]",
            )

    require_constructible(ctx)
    return run_property(ctx, schedule_cases(ctx, cap=64), prop)


def _variant_hint(ctx: Context, case: ScheduleCase, tr: Trace) -> str:
    """The documented variant the applied lrs follow, if any (torch's quirks are variants)."""
    if ctx.variant is not None or not isinstance(ctx.spec, ScheduleSpec):
        return ""
    p = full_params(ctx.spec, case.params)
    t = np.arange(len(tr.applied))
    match = matching_variant(ctx.spec, t, tr.applied, case.base_lr, p)
    return f"; matches the documented variant {match}" if match else ""


def _shift_hint(applied: np.ndarray, want: np.ndarray, tol: np.ndarray) -> str:
    """Whether the applied lrs are the schedule shifted by one step (the usual ordering slip)."""
    if np.all(np.abs(applied[:-1] - want[1:]) <= tol[1:]):
        return (
            " (it applies eta_(t+1) at step t+1: one step ahead, as a scheduler written for "
            "step() before optimizer.step() does)"
        )
    if np.all(np.abs(applied[1:] - want[:-1]) <= tol[1:]):
        return " (it applies eta_(t-1): one step behind)"
    return ""


# --- optimizer targets ------------------------------------------------------------------------


def _needs_closure(opt: torch.optim.Optimizer) -> bool:
    try:
        param = inspect.signature(opt.step).parameters.get("closure")
    except (TypeError, ValueError):
        return False
    return param is not None and param.default is inspect.Parameter.empty


def _refuse_closure_only(ctx: Context) -> None:
    if _needs_closure(preflight(ctx)):
        raise NotApplicable("step() needs a closure (line-search methods take no schedule)")


def _extra(p: Problem) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"factors": st.lists(LAMBDA_FACTORS, min_size=p.steps, max_size=p.steps)}
    )


def _cases(ctx: Context) -> st.SearchStrategy[ContractCase]:
    # Nonzero gradients of moderate size: every step must visibly depend on lr.
    return cases(ctx, problems(min_steps=2, max_steps=6, grad_exp=(-1.0, 1.0)), extra=_extra)


def scheduled_run(
    ctx: Context, case: ContractCase
) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[float], list[list[np.ndarray]]]:
    """The target under torch's LambdaLR: (params0, grads, lr at each step, trajectory)."""
    params0, grads = case.problem.arrays()
    params = make_params(params0, torch.float64, ctx.settings.device)
    opt = build(ctx, params, case.hp)
    if _needs_closure(opt):
        raise NotApplicable("step() needs a closure (line-search methods take no schedule)")
    factors = list(case.extra["factors"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: factors[min(t, len(factors) - 1)])
    lrs, traj = [], []
    for gs in grads:
        lrs.append(float(opt.param_groups[0]["lr"]))
        set_grads(params, gs)
        opt.step()
        traj.append([to_numpy(p) for p in params])
        sched.step()
    return params0, grads, lrs, traj


def _step_of(params0: Sequence[np.ndarray], traj: list[list[np.ndarray]], k: int) -> np.ndarray:
    before = params0 if k == 0 else traj[k - 1]
    return np.concatenate([np.ravel(a - b) for a, b in zip(traj[k], before, strict=True)] + [[]])


def _magnitude(params0: Sequence[np.ndarray], traj: list[list[np.ndarray]]) -> float:
    sizes = [
        np.max(np.abs(np.concatenate([np.ravel(a) for a in s])), initial=0.0)
        for s in (params0, *traj)
    ]
    return float(max(sizes))


def _interplay_snippet(
    ctx: Context, case: ContractCase, params0: Any, grads: Any, k: int, probes: bool
) -> str:
    """Python replaying the run under LambdaLR up to step k+1; with ``probes``, also the
    replays of step k+1 with its lr halved and doubled."""
    factors = list(case.extra["factors"])
    body = f"""
# LambdaLR drives group['lr'] (optimizer.step() then scheduler.step()).
FACTORS = {factors!r}
params = make_params()
opt = make(params)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: FACTORS[min(t, len(FACTORS) - 1)])
lrs, traj = [], []
for k in range({k + 1}):
    lrs.append(opt.param_groups[0]["lr"])
    traj += run(opt, params, [k])
    sched.step()
print("lrs:", lrs)
print("params after step {k + 1}:", [t.tolist() for t in traj[-1]])
"""
    if probes:
        body += f"""
# Step {k + 1} replayed with its lr halved and doubled: equal updates, lr had no effect.
for q in (lrs[{k}] / 2, 2 * lrs[{k}]):
    p2 = make_params()
    out = run(make(p2), p2, range({k + 1}), lrs=lrs[:{k}] + [q])
    before = out[-2] if {k} else [torch.tensor(p) for p in PARAMS0]
    print("lr", q, "update:", [(a - b).tolist() for a, b in zip(out[-1], before)])
"""
    return snippet(ctx, case.hp, params0, grads, body)


@check(
    id="interplay.optimizer_lr",
    title="each step responds to the group['lr'] a scheduler set for that step",
    kind="optimizer",
)
def optimizer_lr(ctx: Context) -> CheckResult:
    _refuse_closure_only(ctx)
    if runs_without_lr(ctx):
        raise NotApplicable(WITHOUT_LR)

    def prop(case: ContractCase) -> None:
        params0, grads, lrs, traj = scheduled_run(ctx, case)
        magnitude = _magnitude(params0, traj)
        for k in range(len(grads)):
            if lrs[k] == 0.0:
                continue

            def step_with(q: float, k: int = k) -> np.ndarray:
                lrs_k = [*lrs[:k], q]
                return _step_of(
                    params0, run_torch(maker(ctx, case.hp), params0, grads[: k + 1], lrs=lrs_k), k
                )

            actual, direct = _step_of(params0, traj, k), step_with(lrs[k])
            unresponsive = []  # (q1, q2, response, noise, |step|) of each visible rung
            for scale in LR_RUNGS:
                q1, q2 = lrs[k] * scale / 2, 2 * lrs[k] * scale
                d1, d2 = step_with(q1), step_with(q2)
                step_size = float(np.max(np.abs(np.concatenate([d1, d2])), initial=0.0))
                largest = max(step_size, float(np.max(np.abs(actual), initial=0.0)))
                noise = TRAJ_OPS * EPS * (magnitude + largest)
                if step_size <= VISIBLE * noise:
                    break  # the step is below round-off here: nothing more to observe
                response = float(np.max(np.abs(d2 - d1), initial=0.0))
                if response > noise:
                    unresponsive = []
                    break
                unresponsive.append((q1, q2, response, noise, step_size))
            if unresponsive:
                q1, q2, response, noise, step_size = unresponsive[0]
                rungs = ", ".join(f"{a:.3g}/{b:.3g}" for a, b, *_ in unresponsive)
                raise Violation(
                    Evidence(
                        f"step {k + 1} ignores group['lr']: replaying it with lr {q1:.6g} and "
                        f"{q2:.6g} (the scheduler set {lrs[k]:.6g}) gives the same update "
                        f"(difference {response:.3g} <= round-off {noise:.3g}), and so does "
                        f"every smaller pair tried ({rungs}), so the lr a scheduler writes "
                        "does not take effect at that step",
                        step=k + 1,
                        expected=f"an update that changes with lr (|step| {step_size:.3g})",
                        got=response,
                        tolerance=noise,
                        snippet=_interplay_snippet(ctx, case, params0, grads, k, probes=True),
                    )
                )
            # The step under the scheduler is the step with that group['lr'] written directly
            # (same arithmetic on the same state: equal bit for bit).
            if not np.array_equal(actual, direct):
                j = int(np.flatnonzero(actual != direct)[0])
                raise Violation(
                    Evidence(
                        f"step {k + 1} under LambdaLR differs from the same step with "
                        f"group['lr'] = {lrs[k]:.17g} written directly (entry {j}: "
                        f"{actual[j]:.17g} vs {direct[j]:.17g}): the optimizer reads something "
                        "the scheduler changed besides group['lr']",
                        step=k + 1,
                        expected=float(direct[j]),
                        got=float(actual[j]),
                        snippet=_interplay_snippet(ctx, case, params0, grads, k, probes=False),
                    )
                )

    return run_property(ctx, _cases(ctx), prop)


@check(
    id="interplay.optimizer_lr_reference",
    title="under a scheduler the trajectory equals the reference run with the same lrs",
    kind="optimizer",
    needs_reference=True,
)
def optimizer_lr_reference(ctx: Context) -> CheckResult:
    if not isinstance(ctx.spec, OptimizerRecord):
        raise NotApplicable("needs --like to name an optimizer")

    _refuse_closure_only(ctx)
    spec = ctx.spec
    model = ctx.error_model  # the --like variant's formula where one is named
    if model is None:
        raise NotApplicable(f"no error model for {spec.name} (its record has none)")

    def prop(case: ContractCase) -> None:
        params0, grads, lrs, traj = scheduled_run(ctx, case)
        ref = reference_trajectory(ctx, case.hp, params0, grads, lrs=lrs)
        assert ref is not None
        hp = {**spec.defaults, **case.hp}
        tol = tolerance.tolerance(model, params0, grads, [hp] * len(params0), lrs, "float64")
        if tol.outside:
            raise NotApplicable(tol.outside)
        for k in range(len(grads)):
            for i, (r, g) in enumerate(zip(ref[k], traj[k], strict=True)):
                bound = np.asarray(tol.theta[k][i])
                bad = np.flatnonzero(~(np.abs(g - r) <= bound).ravel())
                if not bad.size:
                    continue
                j = int(bad[0])
                want, got, b = (
                    float(np.ravel(x)[j]) for x in (r, g, np.broadcast_to(bound, r.shape))
                )
                raise Violation(
                    Evidence(
                        f"after step {k + 1} under LambdaLR (lr {lrs[k]:.6g}), tensor {i}[{j}] "
                        f"is {got:.17g}; the reference run with the same lrs gives {want:.17g}",
                        step=k + 1,
                        expected=want,
                        got=got,
                        tolerance=b,
                        error_in_tol=abs(got - want) / b if b else None,
                        snippet=_interplay_snippet(ctx, case, params0, grads, k, probes=False),
                    )
                )

    return run_property(ctx, _cases(ctx), prop)
