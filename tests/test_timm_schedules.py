"""Schedulers outside torch's LRScheduler API (timm's ``step(epoch)`` / ``step_update(n)``):
the TimmCosine closed form by hand, the kit's index adapter, a stand-in written from timm's
documented behaviour (tests/zoo/timm_schedules.py) validated as conforming through the
adapter, and a broken copy caught."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import optcheck
from optcheck.checks import profiles
from optcheck.checks.catalog import SCHEDULES
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Context, Settings, execute
from optcheck.checks.kit.schedules import drive, index_stepped
from optcheck.checks.target import ScheduleTarget
from optcheck.reference import timm_schedules as T

CHECKS = registry.load_all()


def zoo(name: str) -> ScheduleTarget:
    from zoo import timm_schedules

    factory = index_stepped(getattr(timm_schedules, name), f"zoo.timm_schedules:{name}")
    return ScheduleTarget(name, factory, import_path=f"zoo.timm_schedules:{name}")


def test_cosine_by_hand():
    t = np.array([0, 5, 10, 15])
    # One cycle of 10 from 1 to 0, lr_min for good after it (cycle_limit 1).
    np.testing.assert_allclose(T.cosine(t, 1.0, t_initial=10), [1, 0.5, 0, 0], atol=1e-15)
    # cycle_mul 2: restarts at 10 and 30; cycle_decay halves each peak; k_decay 2 puts the
    # middle of the first cycle at cos(pi / 4).
    got = T.cosine([10, 20, 30], 1.0, t_initial=10, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=3)
    np.testing.assert_allclose(got, [0.5, 0.25, 0.25], rtol=1e-15)
    half_k2 = T.cosine(5, 1.0, t_initial=10, k_decay=2.0)
    assert half_k2 == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)), rel=1e-15)
    # Warm-up 0.1 -> 1 over 4 steps; with the prefix the cycle starts after it.
    warm = T.cosine([0, 2, 4], 1.0, t_initial=8, warmup_t=4, warmup_lr_init=0.1)
    np.testing.assert_allclose(warm, [0.1, 0.55, 0.5], rtol=1e-15)
    assert T.cosine(4, 1.0, t_initial=8, warmup_t=4, warmup_prefix=True) == 1.0
    # A restart found exactly: cycle_mul 3 starts cycles at 0, 1, 4, 13, 40, 121, where
    # log_3(243) rounds to 4.999...
    assert T.cosine(121, 1.0, t_initial=1, cycle_mul=3.0, cycle_limit=9) == 1.0
    assert T.constraint_cycles({"cycle_mul": 0.5})


@pytest.mark.parametrize("t_in_epochs", [True, False])
def test_adapter_passes_the_count_to_the_call_the_unit_names(t_in_epochs):
    calls = []

    class Recorder:
        def __init__(self, optimizer, t_initial, t_in_epochs=True):
            pass

        def step(self, epoch):
            calls.append(("step", epoch))

        def step_update(self, num_updates):
            calls.append(("step_update", num_updates))

    sched = index_stepped(Recorder)(
        torch.optim.SGD([torch.zeros(1)]), t_initial=5, t_in_epochs=t_in_epochs
    )
    sched.step()
    sched.step()
    name = "step" if t_in_epochs else "step_update"
    assert calls == [(name, 1), (name, 2)]


def _crossval(target: ScheduleTarget) -> str:
    examples = profiles.EXAMPLES[profiles.default_profile()]
    ctx = Context(target, SCHEDULES["TimmCosine"], settings=Settings(max_examples=examples))
    return execute(CHECKS["crossval.schedule"], ctx).verdict


def test_stand_in_conforms_and_its_broken_copy_is_caught():
    assert _crossval(zoo("CosineLRScheduler")) == "pass"
    assert _crossval(zoo("CosineDecayOneCycleLate")) == "violation"
    # both units: the stand-in moves only on the call its t_in_epochs names
    trace = drive(zoo("CosineLRScheduler"), {"t_initial": 4, "t_in_epochs": False}, 1.0, 4)
    np.testing.assert_allclose(trace.lr, T.cosine(np.arange(5), 1.0, t_initial=4), atol=1e-15)


@pytest.mark.thorough
def test_validate_takes_a_class_outside_torchs_api_with_like():
    from zoo import timm_schedules

    good = optcheck.validate(timm_schedules.CosineLRScheduler, like="TimmCosine")
    assert good.verdict == "CONFORMS", [(r.id, r.verdict) for r in good.results]
    bad = optcheck.validate(timm_schedules.CosineDecayOneCycleLate, like="TimmCosine")
    assert bad.verdict == "DOES NOT CONFORM"


def test_a_scheduler_told_the_count_is_a_usage_error_without_a_record_that_tells_it():
    from optcheck.suites.hp import ConfigError
    from optcheck.suites.prepare import prepare
    from optcheck.suites.target import TargetError

    path = "zoo.timm_schedules:CosineLRScheduler"
    with pytest.raises(ConfigError, match="--like StepLR drives step"):
        prepare(path, like="StepLR")
    with pytest.raises(TargetError, match="told the count"):
        prepare(path)
    with pytest.raises(TargetError, match="neither"):  # a class that steps no schedule at all
        prepare("fractions:Fraction", like="StepLR")


# Each timm record's stand-in (tests/zoo/timm_schedules.py) and a broken copy, on a few cases
# pinned where the copy's bug shows (3 cases each: 0.1-0.3 s a pair; every drawn case with
# --thorough below).
ONE_CYCLE = {"t_initial": 8, "cycle_limit": 1, "warmup_t": 0}
PAIRS = [
    (
        "TimmPoly",
        "PolyLRScheduler",
        "PolyPowerOnPosition",
        {"power": 2.0, "k_decay": 1.0, **ONE_CYCLE},
    ),
    ("TimmTanh", "TanhLRScheduler", "TanhArgumentFromLb", ONE_CYCLE),
    ("TimmStep", "StepLRScheduler", "StepDecaysOneEarly", {"decay_t": 3.0, "decay_rate": 0.5}),
    (
        "TimmMultiStep",
        "MultiStepLRScheduler",
        "MultiStepAtTorchsMilestones",
        {"decay_t": (2,), "decay_rate": 0.1},
    ),
]


def _verdict(record: str, name: str, fixed: dict, examples: int) -> str:
    settings = Settings(max_examples=examples, fixed_hp=fixed)
    ctx = Context(zoo(name), SCHEDULES[record], settings=settings)
    return execute(CHECKS["crossval.schedule"], ctx).verdict


@pytest.mark.parametrize(("record", "good", "broken", "fixed"), PAIRS, ids=[p[0] for p in PAIRS])
def test_each_timm_record_passes_its_stand_in_and_catches_a_broken_copy(
    record, good, broken, fixed
):
    assert _verdict(record, good, fixed, 3) == "pass"
    assert _verdict(record, broken, fixed, 3) == "violation"


@pytest.mark.thorough
@pytest.mark.parametrize(("record", "good", "broken", "fixed"), PAIRS, ids=[p[0] for p in PAIRS])
def test_each_timm_stand_in_conforms_on_every_drawn_case(record, good, broken, fixed):
    examples = profiles.EXAMPLES[profiles.default_profile()]
    assert _verdict(record, good, {}, examples) == "pass"
    assert _verdict(record, broken, {}, examples) == "violation"


@pytest.mark.parametrize(
    ("name", "verdict"),
    [("PlateauLRScheduler", "pass"), ("PlateauWarmupStartsAtBase", "violation")],
)
def test_timm_plateau_passes_its_stand_in_and_catches_a_warm_up_that_starts_late(name, verdict):
    # warm-up pinned on, where the broken copy differs; every drawn case with --thorough
    settings = Settings(max_examples=3, fixed_hp={"warmup_t": 3})
    ctx = Context(zoo(name), SCHEDULES["TimmPlateau"], settings=settings)
    assert execute(CHECKS["crossval.plateau"], ctx).verdict == verdict


@pytest.mark.thorough
@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        ("PlateauLRScheduler", "pass"),
        ("PlateauWarmupStartsAtBase", "violation"),
        ("PlateauFeedsWarmupMetrics", "violation"),
    ],
)
def test_timm_plateau_stand_in_conforms_on_every_drawn_case(name, verdict):
    examples = profiles.EXAMPLES[profiles.default_profile()]
    settings = Settings(max_examples=examples)
    ctx = Context(zoo(name), SCHEDULES["TimmPlateau"], settings=settings)
    assert execute(CHECKS["crossval.plateau"], ctx).verdict == verdict
