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

from optcheck.checks.records import ScheduleSpec
from optcheck.checks.schedule_checks import (
    bounded,
    monotone_nonincreasing,
    nondecreasing_warmup,
    nonnegative,
)
from optcheck.reference import timm_schedules as T
from optcheck.reference.space import Flag, Int, Real

_DOCS = "timm docs, timm.scheduler."


def _cosine_bounds(lr: float, p: Mapping[str, Any]) -> tuple[float, float]:
    floor = min(p.get("lr_min", 0.0), p.get("warmup_lr_init", 0.0))
    return (floor, max(lr, p.get("lr_min", 0.0), p.get("warmup_lr_init", 0.0)))


def _first_cycle(p: Mapping[str, Any]) -> tuple[int, int | None]:
    # From the end of the warm-up to the end of the first cycle (lr_min for good after the
    # last one).
    w, length = int(p.get("warmup_t", 0)), int(p.get("t_initial", 100))
    end = w + length if p.get("warmup_prefix", False) else length
    return (w, None if p.get("cycle_limit", 1) == 1 else end - 1)


def _warm_up(p: Mapping[str, Any]) -> tuple[int, int] | None:
    w = int(p.get("warmup_t", 0))
    return (0, w - 1) if w > 0 else None


RECORDS = (
    ScheduleSpec(
        name="TimmCosine",
        closed_form=T.cosine,
        torch_class=None,
        space=(
            Int("t_initial", 1, 1000, 100),
            Real("lr_min", 0.0, 1e-5, 0.0, special=(0.0,)),
            Real("cycle_mul", 1.0, 3.0, 1.0, special=(1.0, 2.0)),
            Real("cycle_decay", 0.1, 1.0, 1.0, special=(1.0, 0.5)),
            Int("cycle_limit", 1, 5, 1),
            Int("warmup_t", 0, 50, 0),
            Real("warmup_lr_init", 0.0, 1e-5, 0.0, special=(0.0,)),
            Flag("warmup_prefix"),
            Real("k_decay", 0.5, 2.0, 1.0, special=(1.0,)),
            Flag("t_in_epochs", True),
        ),
        invariants=(bounded, nonnegative, nondecreasing_warmup, monotone_nonincreasing),
        source=_DOCS + "CosineLRScheduler; SGDR (Loshchilov & Hutter 2017) eq. (5) with "
        "cycle_mul = T_mult; k-decay (Zhang & Li 2020)",
        constraint=T.constraint_cosine,
        notes="Driven through the index adapter: step(t) per epoch, or step_update(t) when "
        "t_in_epochs=False. Validate the class itself: timm.scheduler:CosineLRScheduler.",
        bounds=_cosine_bounds,
        scope={nondecreasing_warmup: _warm_up, monotone_nonincreasing: _first_cycle},
        steps_by_index=True,
    ),
)
