"""ReduceLROnPlateau: the float64 reference against torch and hand-worked sequences, torch's
class through every plateau check, each check failing on a broken copy (tests/zoo), and the
t-driven schedule checks stepping aside for a metric-driven scheduler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optcheck.checks import profiles
from optcheck.checks.catalog import SCHEDULES
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Context, Settings, execute
from optcheck.checks.kit.schedules import torch_schedule_target
from optcheck.checks.result import CheckResult
from optcheck.checks.target import ScheduleTarget
from optcheck.reference.plateau import reduce_on_plateau

CHECKS = registry.load_all()
SPEC = SCHEDULES["ReduceLROnPlateau"]
PLATEAU_CHECKS = sorted(SPEC.invariant_ids)  # crossval.plateau among them


def run(target: ScheduleTarget, check_id: str, **fixed: object) -> CheckResult:
    examples = profiles.EXAMPLES[profiles.default_profile()]
    ctx = Context(target, SPEC, settings=Settings(max_examples=examples, fixed_hp=fixed))
    return execute(CHECKS[check_id], ctx)


def zoo_target(name: str) -> ScheduleTarget:
    from zoo import schedules as zoo

    return ScheduleTarget(f"zoo {name}", getattr(zoo, name), import_path=f"zoo.schedules:{name}")


def test_reference_by_hand():
    # patience 1: the third non-improving metric in a row... no: more than one bad epoch.
    # metrics 5, 4 (better), 4, 4 (two bad: reduce), 4 (cooldown 1: ignored), 4, 4 (reduce).
    run_ = reduce_on_plateau(
        [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0],
        [1.0, 0.3],
        patience=1,
        cooldown=1,
        factor=0.5,
        min_lr=[0.0, 0.2],
        threshold=0.0,
    )
    assert run_.reductions == (4, 7)
    np.testing.assert_array_equal(run_.lrs[:, 0], [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    # Group 1's floor: 0.3 -> max(0.15, 0.2) = 0.2, then 0.2 - max(0.1, 0.2) = 0 <= eps.
    np.testing.assert_array_equal(run_.lrs[:, 1], [0.3] * 4 + [0.2] * 4)


def test_reference_thresholds_and_eps_by_hand():
    # 'max' with an absolute threshold 0.5: 1.4 is not better than 1.0, 1.6 is.
    got = reduce_on_plateau(
        [1.0, 1.4, 1.6],
        [1.0],
        mode="max",
        threshold=0.5,
        threshold_mode="abs",
        patience=0,
        factor=0.5,
    )
    assert got.reductions == (2,)
    # eps larger than the reduction: counted as a reduction, the lr kept.
    kept = reduce_on_plateau([1.0, 1.0], [1.0], patience=0, factor=0.9, eps=0.2)
    assert kept.reductions == (2,) and kept.lrs[-1, 0] == 1.0


def test_reference_is_torch_bit_for_bit_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(15):
        p = {
            "mode": str(rng.choice(["min", "max"])),
            "factor": float(rng.choice([0.0, 0.1, 0.5, 0.9])),
            "patience": int(rng.integers(0, 4)),
            "threshold": float(rng.choice([0.0, 1e-4, 0.1])),
            "threshold_mode": str(rng.choice(["rel", "abs"])),
            "cooldown": int(rng.integers(0, 3)),
            "eps": float(rng.choice([0.0, 1e-8, 1e-2])),
            "min_lr": [0.0, 1e-3],
        }
        metrics = [float(x) for x in rng.choice([1.0, 0.5, 2.0, -1.0, 0.3], size=30)]
        groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in (0.1, 1.0)]
        opt = torch.optim.SGD(groups)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **p)
        lrs = [[g["lr"] for g in opt.param_groups]]
        for m in metrics:
            sched.step(m)
            lrs.append([g["lr"] for g in opt.param_groups])
        np.testing.assert_array_equal(lrs, reduce_on_plateau(metrics, [0.1, 1.0], **p).lrs)


@pytest.mark.parametrize("check_id", PLATEAU_CHECKS)
def test_torch_conforms(check_id):
    result = run(torch_schedule_target("ReduceLROnPlateau"), check_id)
    assert result.verdict == "pass", (result.detail, result.evidence)


MUTANTS = [
    ("PlateauRestoresLr", "plateau.monotone_floor"),
    ("PlateauNoFloor", "plateau.monotone_floor"),
    ("PlateauNoFloor", "plateau.reduction_size"),
    ("PlateauImpatient", "plateau.patience_cooldown"),
    ("PlateauNoCooldown", "plateau.patience_cooldown"),
    ("PlateauNoEps", "plateau.reduction_size"),
    ("PlateauAbsAsRel", "crossval.plateau"),
    ("PlateauForgetsBest", "plateau.resume"),
]


# Keywords pinned where the slip does not need them drawn: fewer to shrink (each shrink
# replays the run), so a mutant costs under a second; the drawn space finds them unaided.
PINNED = {"mode": "min", "threshold": 0.0, "factor": 0.5}
OWN = {
    "PlateauNoCooldown": {"cooldown": 2},
    "PlateauAbsAsRel": {"threshold_mode": "abs"},
    "PlateauNoFloor": {"patience": 0},
    "PlateauForgetsBest": {"patience": 0},
}


@pytest.mark.parametrize(
    ("mutant", "check_id"),
    [
        m if m[0] == "PlateauImpatient" else pytest.param(*m, marks=pytest.mark.thorough)
        for m in MUTANTS
    ],
)
def test_mutant_is_caught(mutant, check_id):
    pinned = {**PINNED, **OWN.get(mutant, {})}
    if mutant == "PlateauAbsAsRel":
        pinned["threshold"] = 0.1
    result = run(zoo_target(mutant), check_id, **pinned)
    assert result.verdict == "violation", (result.verdict, result.detail)
    ev = result.evidence
    assert ev.case is not None and ev.step is not None
    assert ev.snippet and f"zoo.schedules import {mutant}" in ev.snippet


def test_every_plateau_check_has_a_mutant():
    assert set(PLATEAU_CHECKS) == {check_id for _, check_id in MUTANTS}


def test_t_driven_checks_step_aside():
    """crossval.schedule, the resume contract and the interplay check step without a metric:
    skipped with the reason for a metric-driven scheduler, with --like or without."""
    for check_id in (
        "crossval.schedule",
        "crossval.schedule_groups",
        "contract.schedule_resume",
        "interplay.schedule_applied_lr",
    ):
        result = run(torch_schedule_target("ReduceLROnPlateau"), check_id)
        assert result.verdict == "skip" and "metric" in result.detail, result.detail
    bare = Context(torch_schedule_target("ReduceLROnPlateau"), None, settings=Settings())
    result = execute(CHECKS["contract.schedule_resume"], bare)
    assert result.verdict == "skip" and "--like ReduceLROnPlateau" in result.detail


@pytest.mark.thorough  # a subprocess (3 s)
def test_resume_evidence_reproduces_with_torch_alone():
    import os
    import subprocess
    import sys
    from pathlib import Path

    pinned = {**PINNED, **OWN["PlateauForgetsBest"]}
    ev = run(zoo_target("PlateauForgetsBest"), "plateau.resume", **pinned).evidence
    out = subprocess.run(
        [sys.executable, "-c", ev.snippet],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        timeout=120,
    ).stdout
    assert f"uninterrupted: {ev.expected!r} resumed: {ev.got!r}" in out
