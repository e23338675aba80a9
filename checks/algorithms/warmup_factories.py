"""Warm-up schedule factories (transformers' ``optimization`` module and the like): records
under the factories' own keyword names, so ``optcheck validate
transformers.optimization:get_cosine_schedule_with_warmup --like CosineWithWarmup`` draws
num_warmup_steps, num_training_steps, num_cycles, ... and hands them to the function as it is
called. torch ships none of them (torch_class None): each returns torch's LambdaLR.
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
from optcheck.reference import warmup_factories as W
from optcheck.reference.space import Choice, Int, Real

_HF = "transformers.optimization."
WARMUP = Int("num_warmup_steps", 0, 1000, 10)
TRAINING = Int("num_training_steps", 0, 10000, 100)
_DOCS = "transformers docs, optimization: "


def _warming(p: Mapping[str, Any]) -> tuple[int, int]:
    # Up to t = w (the top) unless nothing is left to train: then t = w is already the end
    # (linear decay's 0).
    w, total = int(p["num_warmup_steps"]), p.get("num_training_steps")
    return (0, w if total is None or total > w else max(w - 1, 0))


def _decaying(p: Mapping[str, Any]) -> tuple[int, None]:
    return (int(p["num_warmup_steps"]), None)


def _zero_to_base(lr: float, _p: Mapping[str, Any]) -> tuple[float, float]:
    return (0.0, lr)


def _wsd_bounds(lr: float, p: Mapping[str, Any]) -> tuple[float, float]:
    return (lr * p.get("min_lr_ratio", 0.0), lr)


def _wsd_warming(p: Mapping[str, Any]) -> tuple[int, int]:
    # Up to the top at t = w, unless no stable or decay step follows (then t = w is the end).
    w = int(p["num_warmup_steps"])
    return (
        0,
        w if p.get("num_stable_steps", 50) or p.get("num_decay_steps", 20) else max(w - 1, 0),
    )


def _wsd_decaying(p: Mapping[str, Any]) -> tuple[int, None] | None:
    # From the top on: stable, then the decay (monotone unless the cosine runs past its
    # half cycle), then min_lr_ratio.
    if p.get("decay_type", "cosine") == "cosine" and p.get("num_cycles", 0.5) > 0.5:
        return None
    return (int(p["num_warmup_steps"]), None)


def _factory(
    name: str,
    fn_name: str,
    closed_form: Any,
    space: tuple[Any, ...],
    *,
    decays: bool = True,
    scope_decay: Any = _decaying,
    notes: str = "",
    constraint: Any = W.constraint_warmup,
    bounds: Any = _zero_to_base,
    start: str = "linear warm-up from 0",
    scope_warm: Any = _warming,
    one_multiplier: bool = False,
) -> ScheduleSpec:
    invariants: tuple[Any, ...] = (nondecreasing_warmup, bounded, nonnegative)
    scope: dict[Any, Any] = {nondecreasing_warmup: scope_warm if decays else (lambda p: (0, None))}
    if decays:
        invariants += (monotone_nonincreasing,)
        scope[monotone_nonincreasing] = scope_decay
    return ScheduleSpec(
        name=name,
        closed_form=closed_form,
        torch_class=None,
        space=space,
        invariants=invariants,
        source=_DOCS + _HF + fn_name + f" (a LambdaLR; {start})",
        constraint=constraint,
        notes=notes or f"Validate the factory itself: {_HF.rstrip('.')}:{fn_name}.",
        bounds=bounds,
        scope=scope,
        one_multiplier=one_multiplier,
    )


RECORDS = (
    _factory(
        "ConstantWithWarmup",
        "get_constant_schedule_with_warmup",
        W.constant_with_warmup,
        (WARMUP,),
        decays=False,
    ),
    _factory(
        "LinearWithWarmup",
        "get_linear_schedule_with_warmup",
        W.linear_with_warmup,
        (WARMUP, TRAINING),
    ),
    _factory(
        "CosineWithWarmup",
        "get_cosine_schedule_with_warmup",
        W.cosine_with_warmup,
        (WARMUP, TRAINING, Real("num_cycles", 0.0, 2.0, 0.5, special=(0.5, 1.0))),
        # Monotone only within a half cycle (num_cycles <= 0.5) and up to the end.
        scope_decay=lambda p: (
            (int(p["num_warmup_steps"]), int(p["num_training_steps"]))
            if p.get("num_cycles", 0.5) <= 0.5
            else None
        ),
    ),
    _factory(
        "CosineHardRestartsWithWarmup",
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        W.cosine_with_hard_restarts,
        (WARMUP, TRAINING, Int("num_cycles", 1, 5, 1)),
        scope_decay=lambda p: None if p.get("num_cycles", 1) > 1 else _decaying(p),
    ),
    _factory(
        "PolynomialDecayWithWarmup",
        "get_polynomial_decay_schedule_with_warmup",
        W.polynomial_decay_with_warmup,
        (
            WARMUP,
            TRAINING,
            Real("lr_end", 0.0, 1e-5, 1e-7, special=(0.0,)),
            Real("power", 0.0, 4.0, 1.0, special=(1.0, 2.0)),
        ),
        notes="The factory reads lr_init from optimizer.defaults['lr'] (the optimizer's "
        "constructor lr), which must exceed lr_end; every param group is scaled by that one "
        "multiplier, so a group reaches lr_end * its lr / lr_init. transformers 5.23.0 raises "
        "ZeroDivisionError when num_training_steps == num_warmup_steps (at t = w; at "
        "construction when both are 0): not drawn, reproduced by hand.",
        constraint=W.constraint_polynomial_decay,
        one_multiplier=True,
    ),
    _factory(
        "InverseSqrtWithWarmup",
        "get_inverse_sqrt_schedule",
        W.inverse_sqrt_with_warmup,
        (WARMUP, Choice("timescale", (None, 1, 100, 10_000), None)),
    ),
    _factory(
        "WarmupStableDecay",
        "get_wsd_schedule",
        W.warmup_stable_decay,
        (
            WARMUP,
            Int("num_decay_steps", 0, 1000, 20),
            Int("num_stable_steps", 0, 1000, 50),
            Choice("warmup_type", W.WSD_SHAPES, "linear"),
            Choice("decay_type", W.WSD_SHAPES, "cosine"),
            Real("min_lr_ratio", 0.0, 1.0, 0.0, special=(0.0, 1.0)),
            Real("num_cycles", 0.0, 2.0, 0.5, special=(0.5, 1.0)),
        ),
        scope_decay=_wsd_decaying,
        scope_warm=_wsd_warming,
        notes="Validate the factory itself: transformers.optimization:get_wsd_schedule. "
        "The stable phase is drawn as num_stable_steps; the factory's other form "
        "(num_training_steps, stable = T - w - d) is the same closed form, checked by hand.",
        constraint=W.constraint_warmup_stable_decay,
        bounds=_wsd_bounds,
        start="warm-up from min_lr_ratio",
    ),
)
