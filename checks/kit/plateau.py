"""The kit for metric-driven schedulers (ReduceLROnPlateau): drawn metric sequences, the
driver that feeds them, and the evidence snippet.

A case is the scheduler's keywords, one or two param groups with their own lrs (min_lr then
a scalar or a per-group list), and a metric sequence built from moves measured in units of
the threshold: improvements well beyond it, plateaus well within it, and steps the wrong
way, from a start of either sign. No drawn metric lies within round-off of a decision's
boundary (reference.plateau's ``closest``): there a correct implementation could go either
way. The driver calls ``scheduler.step(metric)`` and reads every group's lr after each.

Error model: torch and the reference make the same decisions on these metrics and reach a
reduced lr by one multiplication (and an exact max) per reduction, so an implementation
that multiplies the current lr matches bit for bit; one that forms lr0 factor^k instead is
off by an ulp per factor. Hence |got - exact| <= PLATEAU_OPS eps (k + 1) |exact|, k the
number of reductions so far.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hypothesis import assume
from hypothesis import strategies as st

from optcheck.checks.kit.registry import Context, NotApplicable, Violation
from optcheck.checks.kit.schedules import (
    BASE_LR,
    EPS,
    evidence_of,
    schedule_spec,
    snippet_head,
)
from optcheck.checks.kit.strategies import hyperparams, real
from optcheck.checks.records import ScheduleSpec
from optcheck.checks.target import ScheduleTarget
from optcheck.reference.plateau import DEFAULTS, PlateauRun, reduce_on_plateau

PLATEAU_OPS = 4
MAX_METRICS = 60
# A decision this close to its boundary (relative) is not drawn (module note): formulations
# of the boundary (best*(1-thr), best - best*thr) differ by a few ulps.
AMBIGUOUS = 64 * EPS
# Moves in units of the threshold: within it (|u| < 1), beyond it, and back.
MOVES = (0.0, 0.5, -0.5, 2.0, -2.0, 10.0, -10.0, 0.25, -3.0)


# Short patience and eps near the size of a reduction, so that runs reduce, reach the floor
# and meet the eps rule; the whole accepted range still comes up.
LEVERS = {
    "patience": st.one_of(st.integers(0, 3), st.integers(0, 20)),
    "cooldown": st.one_of(st.integers(0, 3), st.integers(0, 10)),
    "eps": st.one_of(st.sampled_from((1e-8, 0.0, 1e-3, 1e-2, 0.1)), st.floats(0.0, 1.0)),
}
# timm's names (TimmPlateau), and its warm-up on in about half the runs: metrics fed during
# the warm-up must be ignored.
LEVERS |= {
    "patience_t": LEVERS["patience"],
    "cooldown_t": LEVERS["cooldown"],
    "warmup_t": st.one_of(st.just(0), st.integers(1, 4), st.integers(0, 10)),
}


@dataclass(frozen=True)
class PlateauCase:
    params: dict[str, Any]  # constructor keywords (min_lr may be a per-group list)
    base_lrs: tuple[float, ...]
    metrics: tuple[float, ...]
    split: float = 0.5  # where a resume check interrupts, as a fraction of the run

    def describe(self) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "base_lrs": list(self.base_lrs),
            "metrics": list(self.metrics),
        }


def full(params: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **params}


def metric_sequence(p: dict[str, Any], start: float, moves: Sequence[float]) -> list[float]:
    """Metrics from ``start`` by ``moves`` (threshold units), towards better when positive."""
    q = full(p)
    better = -1.0 if q["mode"] == "min" else 1.0
    thr = float(q["threshold"])
    best, out = start, [start]
    for u in moves:
        unit = thr * abs(best) if q["threshold_mode"] == "rel" else thr
        unit = unit or 1e-3 * max(abs(best), 1.0)  # no threshold: any strict move counts
        value = best + better * u * unit
        out.append(value)
        if better * (value - best) > 0:
            best = value
    return out


# A per-group min_lr, as a fraction of its group's lr: the floor is reached within the run.
FLOOR_FRACTIONS = (0.0, 1e-3, 0.05, 0.5)
STARTS = (1.0, -1.0, 0.0, 3.5, -0.25)


def plateau_cases(ctx: Context) -> st.SearchStrategy[PlateauCase]:
    """The strategies are built once here, not per draw (building one costs more than a run)."""
    spec = schedule_spec(ctx)
    fixed = dict(ctx.settings.fixed_hp)
    params = hyperparams(spec, fixed=fixed, accepts=ctx.target.accepts, overrides=LEVERS)
    # The per-group floor under the record's own name (timm's lr_min).
    floor_key = spec.per_group[0] if spec.per_group else "min_lr"
    parts = {
        "params": params.map(lambda p: {**p, **fixed}),
        "lr": real(BASE_LR),
        "groups": st.sampled_from((1, 2)),
        "per_group": st.just(False) if floor_key in fixed else st.booleans(),
        "floor": st.sampled_from(FLOOR_FRACTIONS),
        "start": st.sampled_from(STARTS),
        # The moves come from a drawn seed, not one draw each: hypothesis then shrinks the
        # length and the keywords, and a shrink costs one replay instead of sixty choices.
        "n": st.integers(2, MAX_METRICS),
        "seed": st.integers(0, 2**32 - 1),
        "split": st.floats(0.0, 1.0),
    }
    return _cases(parts, spec, floor_key)


@st.composite
def _cases(
    draw: st.DrawFn, parts: dict[str, st.SearchStrategy[Any]], spec: ScheduleSpec, floor_key: str
) -> PlateauCase:
    params = dict(draw(parts["params"]))
    base_lrs = tuple(draw(parts["lr"]) for _ in range(draw(parts["groups"])))
    if draw(parts["per_group"]):
        params[floor_key] = [draw(parts["floor"]) * lr for lr in base_lrs]
    rng = np.random.default_rng(draw(parts["seed"]))
    moves = rng.choice(np.array(MOVES), size=draw(parts["n"])).tolist()
    metrics = tuple(metric_sequence(params, draw(parts["start"]), moves))
    case = PlateauCase(params, base_lrs, metrics, draw(parts["split"]))
    assume(expected(case, spec).closest > AMBIGUOUS)
    return case


def expected(case: PlateauCase, spec: ScheduleSpec | None = None) -> PlateauRun:
    """The record's reference run (``metric_run``; torch's rule by default)."""
    run = spec.metric_run if spec is not None and spec.metric_run else reduce_on_plateau
    return run(case.metrics, case.base_lrs, **case.params)


def tolerance(run: PlateauRun) -> np.ndarray:
    """Per epoch and group (module note)."""
    k = np.array([sum(r <= t for r in run.reductions) for t in range(len(run.lrs))])
    return PLATEAU_OPS * EPS * (k[:, None] + 1.0) * np.abs(run.lrs)


def make_optimizer(base_lrs: Sequence[float]) -> torch.optim.SGD:
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros((), dtype=torch.float64))], "lr": lr}
        for lr in base_lrs
    ]
    return torch.optim.SGD(groups, lr=base_lrs[0], foreach=False)


def lrs_of(opt: torch.optim.Optimizer) -> list[float]:
    return [float(g["lr"]) for g in opt.param_groups]


def build(target: ScheduleTarget, case: PlateauCase) -> tuple[torch.optim.SGD, Any]:
    opt = make_optimizer(case.base_lrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return opt, target.make(opt, case.params)


def feed(opt: torch.optim.Optimizer, sched: Any, metrics: Sequence[float]) -> list[list[float]]:
    # No optimizer.step(): the lr a metric-driven scheduler writes does not depend on it (and
    # the interplay checks measure what an optimizer applies); the shrinker replays often.
    out = []
    for m in metrics:
        sched.step(m)
        out.append(lrs_of(opt))
    return out


def drive(target: ScheduleTarget, case: PlateauCase) -> np.ndarray:
    """lrs[t, group] after t metrics (t = 0 right after construction)."""
    opt, sched = build(target, case)
    return np.array([lrs_of(opt), *feed(opt, sched, case.metrics)], dtype=np.float64)


def snippet(
    target: ScheduleTarget, case: PlateauCase, show: str, resume_at: int | None = None
) -> str | None:
    """Standalone Python: the target fed the case's metrics, printing ``show``; with
    ``resume_at`` k, also a second run saved after k metrics and loaded into fresh ones."""
    head = snippet_head(target, case.params)
    if head is None:
        return None
    imports, body = head
    groups = ", ".join(
        f"{{'params': [torch.nn.Parameter(torch.zeros((), dtype=torch.float64))], 'lr': {lr!r}}}"
        for lr in case.base_lrs
    )
    kw = f", {body}" if body else ""
    lines = [
        "import copy",
        imports,
        "",
        "",
        "def fresh():",
        f"    opt = torch.optim.SGD([{groups}])",
        f"    return opt, make_schedule(opt{kw})",
        "",
        "",
        "def feed(opt, sched, metrics, lrs):",
        "    for metric in metrics:",
        "        sched.step(metric)",
        "        lrs.append([g['lr'] for g in opt.param_groups])",
        "",
        "",
        f"metrics = {list(case.metrics)!r}",
        "opt, sched = fresh()",
        "lrs = [[g['lr'] for g in opt.param_groups]]",
        "feed(opt, sched, metrics, lrs)",
    ]
    if resume_at is not None:
        k = resume_at
        lines += [
            "opt, sched = fresh()",
            f"feed(opt, sched, metrics[:{k}], [])",
            "opt_sd, sched_sd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())",
            "opt, sched = fresh()",
            "opt.load_state_dict(opt_sd)",
            "sched.load_state_dict(sched_sd)",
            f"resumed = [None] * {k} + [[g['lr'] for g in opt.param_groups]]",
            f"feed(opt, sched, metrics[{k}:], resumed)",
            f"print('uninterrupted:', lrs[{show}], 'resumed:', resumed[{show}])",
        ]
    else:
        lines.append(f"print({show})")
    return "\n".join([*lines, ""])


def violation(
    ctx: Context,
    case: PlateauCase,
    message: str,
    *,
    t: int,
    expected: Any = None,
    got: Any = None,
    tol: float | None = None,
    resume_at: int | None = None,
) -> Violation:
    shown = str(t) if resume_at is not None else f"lrs[{t}]"
    code = snippet(ctx.target, case, shown, resume_at)
    return evidence_of(message, t=t, expected=expected, got=got, tol=tol, code=code)


def plateau_spec(ctx: Context) -> ScheduleSpec:
    spec = schedule_spec(ctx)
    if not spec.metric_driven:
        raise NotApplicable(f"{spec.name} is not metric-driven")
    return spec


def floors(case: PlateauCase) -> list[float]:
    m = full(case.params)["min_lr"]
    return (
        [float(x) for x in m] if isinstance(m, (list, tuple)) else [float(m)] * len(case.base_lrs)
    )


def fmt(x: float) -> str:
    return f"{x:.17g}" if math.isfinite(x) else str(x)
