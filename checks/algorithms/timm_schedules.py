"""Schedulers outside torch's LRScheduler API: timm's (``timm.scheduler``), which set the lr
from the count their train loop passes in — ``step(epoch)`` once per epoch, or
``step_update(num_updates)`` once per optimizer update when ``t_in_epochs=False`` — instead
of counting ``step()`` calls. ``steps_by_index`` has the checks drive them through the kit's
adapter (``checks/kit/schedules.py: IndexStepped``), so ``optcheck validate
timm.scheduler:CosineLRScheduler --like TimmCosine`` draws timm's own keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optcheck.checks.plateau_checks import plateau_crossval
from optcheck.checks.records import ScheduleSpec
from optcheck.checks.schedule_checks import (
    bounded,
    monotone_nonincreasing,
    nondecreasing_warmup,
    nonnegative,
)
from optcheck.reference import plateau as P
from optcheck.reference import timm_schedules as T
from optcheck.reference.space import Choice, Flag, Int, Real

_DOCS = "timm docs, timm.scheduler."


def _bounds(lr: float, p: Mapping[str, Any]) -> tuple[float, float]:
    floor = min(p.get("lr_min", 0.0), p.get("warmup_lr_init", 0.0))
    return (floor, max(lr, p.get("lr_min", 0.0), p.get("warmup_lr_init", 0.0)))


def _after_warm_up(p: Mapping[str, Any]) -> tuple[int, None]:
    return (int(p.get("warmup_t", 0)), None)


def _first_cycle(p: Mapping[str, Any]) -> tuple[int, int | None]:
    # From the end of the warm-up to the end of the first cycle (lr_min for good after the
    # last one).
    w, length = int(p.get("warmup_t", 0)), int(p.get("t_initial", 100))
    end = w + length if p.get("warmup_prefix", False) else length
    return (w, None if p.get("cycle_limit", 1) == 1 else end - 1)


def _warm_up(p: Mapping[str, Any]) -> tuple[int, int] | None:
    w = int(p.get("warmup_t", 0))
    return (0, w - 1) if w > 0 else None


def _prefix_warm_up(p: Mapping[str, Any]) -> tuple[int, int] | None:
    # tanh's joined warm-up rises to the curve's value at warmup_t, which may lie below
    # warmup_lr_init (past the last cycle: lr_min): rising is promised only up to base_lr.
    return _warm_up(p) if p.get("warmup_prefix", False) else None


def _warming(prefix: bool) -> tuple[Any, ...]:
    return (
        Int("warmup_t", 0, 50, 0),
        Real("warmup_lr_init", 0.0, 1e-5, 0.0, special=(0.0,)),
        Flag("warmup_prefix", prefix),
        Flag("t_in_epochs", True),
    )


CYCLES = (
    Int("t_initial", 1, 1000, 100),
    Real("lr_min", 0.0, 1e-5, 0.0, special=(0.0,)),
    Real("cycle_mul", 1.0, 3.0, 1.0, special=(1.0, 2.0)),
    Real("cycle_decay", 0.1, 1.0, 1.0, special=(1.0, 0.5)),
    Int("cycle_limit", 1, 5, 1),
)
K_DECAY = Real("k_decay", 0.5, 2.0, 1.0, special=(1.0,))
_ADAPTER = (
    "Driven through the index adapter: step(t) per epoch, or step_update(t) when "
    "t_in_epochs=False. Validate the class itself: timm.scheduler:"
)


def _timm(
    name: str,
    cls: str,
    closed_form: Any,
    space: tuple[Any, ...],
    source: str,
    *,
    monotone: Any = _after_warm_up,
    warm_up: Any = _warm_up,
    notes: str = "",
) -> ScheduleSpec:
    cyclic = any(d.name == "t_initial" for d in space)
    return ScheduleSpec(
        name=name,
        closed_form=closed_form,
        torch_class=None,
        space=space,
        invariants=(bounded, nonnegative, nondecreasing_warmup, monotone_nonincreasing),
        source=_DOCS + cls + "; " + source,
        constraint=T.constraint_cycles if cyclic else None,
        notes=(notes + " " if notes else "") + _ADAPTER + cls + ".",
        bounds=_bounds,
        scope={nondecreasing_warmup: warm_up, monotone_nonincreasing: monotone},
        steps_by_index=True,
    )


RECORDS = (
    _timm(
        "TimmCosine",
        "CosineLRScheduler",
        T.cosine,
        (*CYCLES, *_warming(False), K_DECAY),
        "SGDR (Loshchilov & Hutter 2017) eq. (5) with cycle_mul = T_mult; k-decay (Zhang & Li "
        "2020)",
        monotone=_first_cycle,
    ),
    _timm(
        "TimmPoly",
        "PolyLRScheduler",
        T.poly,
        (*CYCLES, Real("power", 0.1, 3.0, 0.5, special=(0.5, 1.0)), *_warming(False), K_DECAY),
        "polynomial decay (1 - x)^power in SGDR's cycles; k-decay (Zhang & Li 2020)",
        monotone=_first_cycle,
    ),
    _timm(
        "TimmTanh",
        "TanhLRScheduler",
        T.tanh,
        (
            *CYCLES,
            Real("lb", -8.0, -1.0, -7.0, special=(-7.0,)),
            Real("ub", 1.0, 5.0, 3.0, special=(3.0,)),
            *_warming(False),
        ),
        "tanh decay (Hsueh et al. 2019) in SGDR's cycles",
        monotone=_first_cycle,
        warm_up=_prefix_warm_up,
        notes="Without warmup_prefix the warm-up rises to the curve's lr at warmup_t (timm's "
        "docs), not to the base lr.",
    ),
    _timm(
        "TimmStep",
        "StepLRScheduler",
        T.step,
        (
            Real("decay_t", 1.0, 100.0, 30.0, special=(1.0, 10.0)),
            Real("decay_rate", 0.1, 1.0, 1.0, special=(0.1, 1.0)),
            *_warming(True),
        ),
        "base * decay_rate^floor(t / decay_t), as torch's StepLR",
    ),
    _timm(
        "TimmMultiStep",
        "MultiStepLRScheduler",
        T.multistep,
        (
            Choice(
                "decay_t",
                ((30, 60), (2,), (1, 30), (), (5, 5, 20), (2, 3, 4, 500), (100, 300)),
                (30, 60),
            ),
            Real("decay_rate", 0.1, 1.0, 1.0, special=(0.1, 1.0)),
            *_warming(True),
        ),
        "one decay per milestone, a milestone m applying from t = m - 1 (timm's docstring: "
        "compared against t + 1; torch's MultiStepLR applies it from t = m)",
    ),
)

# Metric-driven: timm's PlateauLRScheduler wraps torch's ReduceLROnPlateau (threshold_mode
# 'rel', eps 1e-8) behind step(t, metric), with a linear warm-up that ignores the metrics.
# Noise (noise_range_t) is off: drawn cases never pass it, so timm's default None holds.
TIMM_PLATEAU = ScheduleSpec(
    name="TimmPlateau",
    closed_form=P.timm_plateau_lr,
    torch_class=None,
    space=(
        Choice("mode", ("min", "max"), "max"),
        Real("decay_rate", 0.0, 0.99, 0.1, special=(0.0, 0.5)),
        Int("patience_t", 0, 20, 10),
        Real("threshold", 0.0, 0.5, 1e-4, special=(0.0, 1e-4)),
        Int("cooldown_t", 0, 10, 0),
        Real("lr_min", 0.0, 1e-2, 0.0, special=(0.0,)),
        Int("warmup_t", 0, 10, 0),
        Real("warmup_lr_init", 0.0, 1e-5, 0.0, special=(0.0,)),
    ),
    invariants=(plateau_crossval,),
    source=_DOCS + "PlateauLRScheduler; torch docs, ReduceLROnPlateau (the rule it wraps)",
    constraint=P.constraint_timm_plateau,
    notes="Metric-driven, driven through the index adapter: the t-th call is step(t, metric). "
    "Checked with noise off (noise_range_t=None, timm's default): crossval.plateau bit for "
    "bit. With noise on, timm multiplies the lr by 1 + n_t (|n_t| < noise_pct, drawn from a "
    "torch.Generator seeded noise_seed + t) and restores it before the next decision: not "
    "checked. Not checked either: resume (timm documents that its state_dict keeps only best "
    "and last_epoch, and that a resumed run restarts the plateau logic) and the torch "
    "invariants (plateau.*), which read torch's keyword names. Validate the class itself: "
    "timm.scheduler:PlateauLRScheduler.",
    per_group=("lr_min",),
    metric_driven=True,
    steps_by_index=True,
    metric_run=P.timm_plateau,
)
RECORDS = (*RECORDS, TIMM_PLATEAU)
