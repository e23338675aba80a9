"""The schedule invariants: they pass on torch.optim.lr_scheduler and on the closed forms, and
each one fails on a deliberately broken scheduler (tests/zoo/schedules.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sampling import every_nth

from optcheck.checks import profiles
from optcheck.checks.catalog import SCHEDULES, stepped_schedules
from optcheck.checks.findings import TORCH_FINDINGS
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Context, Settings, execute
from optcheck.checks.kit.schedules import (
    CAP,
    reference_schedule_target,
    torch_schedule_target,
)
from optcheck.checks.result import CheckResult
from optcheck.checks.target import ScheduleTarget
from optcheck.reference.space import Int, Real

CHECKS = registry.load_all()
INVARIANT_CHECK = {
    c.id.removeprefix("schedule."): c
    for c in CHECKS.values()
    if c.kind == "schedule" and c.invariant and c.id.startswith("schedule.")
}
TESTS = Path(__file__).parent


def settings(**fixed: object) -> Settings:
    examples = profiles.EXAMPLES[profiles.default_profile()]
    return Settings(max_examples=examples, fixed_hp=dict(fixed))


def run(target: ScheduleTarget, like: str, check_id: str, **fixed: object) -> CheckResult:
    return execute(CHECKS[check_id], Context(target, SCHEDULES[like], settings=settings(**fixed)))


def zoo_target(name: str) -> ScheduleTarget:
    from zoo import schedules as zoo

    return ScheduleTarget(f"zoo {name}", getattr(zoo, name), import_path=f"zoo.schedules:{name}")


# Metric-driven schedules have their own checks and tests (tests/test_plateau.py).
SPEC_INVARIANTS = [
    (name, fn.check_id.removeprefix("schedule."))
    for name, spec in stepped_schedules().items()
    for fn in spec.invariants
]
# torch's findings (checks.findings) are reproduced by the test each names.
TORCH_INVARIANTS = [
    (name, inv)
    for name, inv in SPEC_INVARIANTS
    if (name, INVARIANT_CHECK[inv].id) not in TORCH_FINDINGS
]


def test_every_spec_invariant_has_a_check():
    for spec in SCHEDULES.values():
        assert registry.unknown_invariants(spec) == set(), spec.name


def test_a_spec_listing_a_function_that_is_no_check_fails_at_construction():
    with pytest.raises(TypeError, match="not a registered check"):
        replace(SCHEDULES["StepLR"], invariants=(len,))


def test_every_invariant_check_has_a_mutant():
    caught = {check_id for _, _, check_id in MUTANTS}
    assert {c.id for c in INVARIANT_CHECK.values()} <= caught


@pytest.mark.parametrize(("name", "invariant"), every_nth(TORCH_INVARIANTS, 2))
def test_torch_keeps_the_invariant(name, invariant):
    result = execute(
        INVARIANT_CHECK[invariant],
        Context(torch_schedule_target(name), SCHEDULES[name], settings=settings()),
    )
    assert result.verdict == "pass", (result.detail, result.evidence)


# torch keeps each invariant in test_torch_keeps_the_invariant; the closed forms (the oracle
# against its own checks) are sampled by default and all run with --thorough.
@pytest.mark.parametrize(("name", "invariant"), every_nth(SPEC_INVARIANTS, 2))
def test_closed_form_keeps_the_invariant(name, invariant):
    result = execute(
        INVARIANT_CHECK[invariant],
        Context(reference_schedule_target(name), SCHEDULES[name], settings=settings()),
    )
    assert result.verdict == "pass", (result.detail, result.evidence)


# (zoo scheduler, --like, the check that must catch it)
MUTANTS = [
    ("StepLROffByOne", "StepLR", "schedule.step_drops"),
    ("StepLRGammaOff", "StepLR", "schedule.step_drops"),
    ("MultiStepIgnoresRepeats", "MultiStepLR", "schedule.step_drops"),
    ("MultiStepAssumesSorted", "MultiStepLR", "schedule.step_drops"),
    ("ExponentialLRGammaOff", "ExponentialLR", "schedule.monotone_nonincreasing"),
    ("PolynomialAbs", "PolynomialLR", "schedule.monotone_nonincreasing"),
    ("PolynomialSigned", "PolynomialLR", "schedule.nonnegative"),
    ("WarmupModulo", "LinearLR", "schedule.nondecreasing_warmup"),
    ("WarmupFromZero", "LinearLR", "schedule.bounded"),
    ("CosineIgnoresEtaMin", "CosineAnnealingLR", "schedule.bounded"),
    ("CosineIgnoresEtaMin", "CosineAnnealingLR", "schedule.cosine_landmarks"),
    ("CosineWrongPeriod", "CosineAnnealingLR", "schedule.cosine_landmarks"),
    ("CosineWrongPeriod", "CosineAnnealingLR", "schedule.periodic"),
    ("RestartNeverResets", "CosineAnnealingWarmRestarts", "schedule.restart_points"),
    ("RestartNeverResets", "CosineAnnealingWarmRestarts", "schedule.periodic"),
    ("RestartOffByOne", "CosineAnnealingWarmRestarts", "schedule.restart_points"),
    ("OneCycleLatePeak", "OneCycleLR", "schedule.one_cycle_landmarks"),
    ("OneCycleNoDivFactor", "OneCycleLR", "schedule.one_cycle_landmarks"),
    ("CyclicPeriodOff", "CyclicLR", "schedule.periodic"),
    ("warmup_cosine_late_switch", "WarmupCosine", "schedule.sequential_continuity"),
    ("warmup_cosine_short_ramp", "WarmupCosine", "schedule.sequential_continuity"),
    ("SWALRLateArrival", "SWALR", "schedule.swa_anneal"),
    ("SWALRFromZero", "SWALR", "schedule.bounded"),
]


# The slip shows only for some parameters; pinned here so the dev profile's few examples see
# it (the drawn space holds them, ci's 25 examples find them unaided).
PINNED = {
    "MultiStepIgnoresRepeats": {"milestones": (5, 5, 20)},
    "MultiStepAssumesSorted": {"milestones": (20, 5, 0, 5)},
}


@pytest.mark.parametrize(("mutant", "like", "check_id"), MUTANTS)
def test_mutant_is_caught(mutant, like, check_id):
    result = run(zoo_target(mutant), like, check_id, **PINNED.get(mutant, {}))
    assert result.verdict == "violation", (result.verdict, result.detail)
    ev = result.evidence
    assert ev is not None and ev.case is not None and ev.step is not None
    assert ev.snippet and f"zoo.schedules import {mutant}" in ev.snippet


@pytest.mark.thorough  # shrinking a drawn milestone list: 1-2 s each
@pytest.mark.parametrize("mutant", sorted(PINNED))
def test_drawn_milestones_catch_the_mutant_unpinned(mutant):
    """Milestones are drawn (repeats, any order), not picked from fixed cases: step_drops
    finds each slip without the pinned milestones."""
    result = run(zoo_target(mutant), "MultiStepLR", "schedule.step_drops")
    assert result.verdict == "violation", result.detail


def test_mutant_evidence_reproduces_with_torch_alone():
    """The snippet prints the offending lr; run standalone, it prints what the check saw."""
    result = run(zoo_target("StepLROffByOne"), "StepLR", "schedule.step_drops")
    ev = result.evidence
    out = subprocess.run(
        [sys.executable, "-c", ev.snippet],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        timeout=120,
    ).stdout
    assert repr(ev.got) in out


def test_minimal_case_is_shrunk():
    # An off-by-one drop shows at the first drop: hypothesis shrinks step_size towards 1.
    result = run(zoo_target("StepLROffByOne"), "StepLR", "schedule.step_drops")
    case = result.evidence.case
    assert (
        case["params"]["step_size"] <= 2 and result.evidence.step <= 2 * case["params"]["step_size"]
    )


def test_invariants_reach_degenerate_sizes():
    """T_max = 1, total_iters = 0 and a milestone at 0 are in the drawn space (CAP keeps the
    low ends) and torch keeps the invariants there."""
    for name, fixed, inv in [
        ("CosineAnnealingLR", {"T_max": 1}, "cosine_landmarks"),
        ("LinearLR", {"total_iters": 0}, "bounded"),
        ("PolynomialLR", {"total_iters": 0}, "monotone_nonincreasing"),
        ("MultiStepLR", {"milestones": (0,)}, "step_drops"),
        ("StepLR", {"step_size": 1}, "step_drops"),
        ("OneCycleLR", {"total_steps": 2, "pct_start": 0.0}, "one_cycle_landmarks"),
    ]:
        assert SCHEDULES[name].space and CAP >= 1
        result = run(torch_schedule_target(name), name, INVARIANT_CHECK[inv].id, **fixed)
        assert result.verdict == "pass", (name, fixed, result.detail)


def test_invariant_outside_its_scope_is_skipped_not_failed():
    # LinearLR's decay invariant only holds when start_factor >= end_factor.
    result = run(
        torch_schedule_target("LinearLR"),
        "LinearLR",
        "schedule.monotone_nonincreasing",
        start_factor=0.1,
        end_factor=1.0,
    )
    assert result.verdict == "skip", result.detail


def test_constant_lr_total_iters_zero_never_restores_base():
    """torch finding: ConstantLR(total_iters=0) keeps base*factor for ever (its own closed form
    says base from t = 0); pytorch/pytorch PR #192655. step_drops is not among ConstantLR's
    spec invariants, so it runs here by hand: it passes once total_iters >= 1."""
    target, check_ = torch_schedule_target("ConstantLR"), CHECKS["schedule.step_drops"]
    spec = SCHEDULES["ConstantLR"]
    bad = execute(check_, Context(target, spec, settings=settings(factor=0.5, total_iters=0)))
    assert bad.verdict == "violation"
    assert bad.evidence.step == 0
    assert bad.evidence.got == pytest.approx(0.5 * bad.evidence.case["base_lr"], rel=1e-15)
    # total_iters >= 1 (and factors from 1 %: below ~1e-308, 1/factor overflows to inf).
    space = {
        "total_iters": Int("total_iters", 1, 1000, 5),
        "factor": Real("factor", 0.01, 1.0, 0.5),
    }
    positive = replace(spec, space=tuple(space.get(d.name, d) for d in spec.space))
    ok = execute(check_, Context(target, positive, settings=settings()))
    assert ok.verdict == "pass", ok.detail
