"""Schedules against their closed forms (torch, long horizons) and the resume contract.

torch passes every check here or has a documented finding (FINDINGS, reproduced by its
trigger); each check fails on a deliberately broken scheduler from tests/zoo/schedules.py.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from sampling import every_nth

from optcheck.checks import profiles
from optcheck.checks.catalog import SCHEDULES, stepped_schedules
from optcheck.checks.findings import reproduced_by
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Context, Settings, execute
from optcheck.checks.kit.schedules import reference_schedule_target, torch_schedule_target
from optcheck.checks.result import CheckResult
from optcheck.checks.schedule_crossval_checks import LONG_HORIZON, drift_table
from optcheck.checks.target import ScheduleTarget

CHECKS = registry.load_all()
NAMES = list(stepped_schedules())  # ReduceLROnPlateau: tests/test_plateau.py
GROUPS, EPOCHS = "crossval.schedule_groups", "crossval.schedule_epochs"
CROSSVAL, RESUME, LAST_EPOCH = (
    "crossval.schedule",
    "contract.schedule_resume",
    "contract.schedule_last_epoch",
)

FINDINGS = reproduced_by("tests/test_schedule_crossval.py::test_torch_finding_reproduces")


def settings(**fixed: object) -> Settings:
    return Settings(max_examples=profiles.EXAMPLES[profiles.default_profile()], fixed_hp=fixed)


def run(
    target: ScheduleTarget, like: str, check_id: str, variant: str | None = None, **fixed: object
) -> CheckResult:
    spec = SCHEDULES[like]
    v = next((x for x in spec.variants if x.name == variant), None) if variant else None
    return execute(CHECKS[check_id], Context(target, spec, v, settings(**fixed)))


def zoo_target(name: str) -> ScheduleTarget:
    from zoo import schedules as zoo

    return ScheduleTarget(f"zoo {name}", getattr(zoo, name), import_path=f"zoo.schedules:{name}")


TORCH_CASES = [
    (name, check_id)
    for name in NAMES
    for check_id in (CROSSVAL, RESUME, LAST_EPOCH)
    if (name, check_id) not in FINDINGS
]


@pytest.mark.parametrize(("name", "check_id"), every_nth(TORCH_CASES, 2))
def test_torch_passes(name, check_id):
    result = run(torch_schedule_target(name), name, check_id)
    if name == "ChainedScheduler" and check_id == LAST_EPOCH:
        assert result.verdict == "skip"  # ChainedScheduler takes no last_epoch
    else:
        assert result.verdict == "pass", (result.detail, result.evidence)


def _sampled(keys):
    # The groups check's findings are crossval.schedule's, on the same input, and so is
    # step(epoch)'s total_iters=0 (torch's closed form divides by it): --thorough.
    def heavy(k):
        return k[1] == GROUPS or (k[1] == EPOCHS and FINDINGS[k].trigger.get("total_iters") == 0)

    return [pytest.param(*k, marks=pytest.mark.thorough) if heavy(k) else k for k in keys]


@pytest.mark.parametrize(("name", "check_id"), _sampled(FINDINGS))
def test_torch_finding_reproduces(name, check_id):
    finding = FINDINGS[name, check_id]
    result = run(torch_schedule_target(name), name, check_id, **finding.trigger)
    assert result.verdict == "violation", (finding.why, result.detail)
    assert result.evidence.case is not None and result.evidence.step is not None


@pytest.mark.parametrize(
    ("name", "check_id"), _sampled([key for key, f in FINDINGS.items() if f.outside is not None])
)
def test_torch_passes_outside_the_finding(name, check_id):
    """Restricted to the part of the space the finding leaves out, torch passes the check."""
    spec = SCHEDULES[name]
    outside = FINDINGS[name, check_id].outside
    space = tuple(outside.get(d.name, d) for d in spec.space)
    accepted = {k: outside.get(k, d) for k, d in spec.accepted.items()}
    within = replace(spec, space=space, accepted=accepted)
    context = Context(torch_schedule_target(name), within, settings=settings())
    result = execute(CHECKS[check_id], context)
    assert result.verdict == "pass", (result.detail, result.evidence)


# The records with per-group keyword lists first: the default run keeps those. Those with a
# finding pass outside its input in test_torch_passes_outside_the_finding.
GROUP_NAMES = sorted(
    (n for n in NAMES if (n, GROUPS) not in FINDINGS), key=lambda n: not SCHEDULES[n].per_group
)


@pytest.mark.parametrize("name", every_nth(GROUP_NAMES, 4))
def test_torch_passes_every_group(name):
    result = run(torch_schedule_target(name), name, GROUPS)
    assert result.verdict == "pass", (result.detail, result.evidence)


def test_torch_sgdr_float_epoch_finding_by_hand():
    """The crossval.schedule_epochs finding with torch alone: step(121.0) with T_0=1,
    T_mult=3 is a restart (cycle 5 starts at (3^5 - 1) / 2 = 121), torch gives eta_min."""
    import math
    import warnings

    import torch

    assert math.log(243, 3) < 5
    p = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step(epoch) is deprecated
        opt.step()
        sched.step(121.0)
        assert opt.param_groups[0]["lr"] == 0.0
        opt.step()
        sched.step(122.0)  # one past the restart: the cycle of length 3^5 = 243 is found
    assert opt.param_groups[0]["lr"] == pytest.approx((1 + math.cos(math.pi / 243)) / 2)


EPOCH_NAMES = [n for n in NAMES if SCHEDULES[n].float_epochs and (n, EPOCHS) not in FINDINGS]


@pytest.mark.parametrize(
    "name",
    [n if n == "CyclicLR" else pytest.param(n, marks=pytest.mark.thorough) for n in EPOCH_NAMES],
)
def test_torch_passes_float_epochs(name):
    """step(epoch) at fractional epochs: torch's closed forms (and get_lr where it has none:
    LambdaLR, CyclicLR, OneCycleLR) give the closed form there. The default run keeps
    CyclicLR, the one that locates the epoch in floating point (t / total_size)."""
    result = run(torch_schedule_target(name), name, EPOCHS)
    assert result.verdict == "pass", (result.detail, result.evidence)


@pytest.mark.thorough
@pytest.mark.parametrize("name", [n for n in NAMES if SCHEDULES[n].float_epochs])
def test_closed_form_passes_float_epochs(name):
    result = run(reference_schedule_target(name), name, EPOCHS)
    assert result.verdict == "pass", (result.detail, result.evidence)


@pytest.mark.thorough
@pytest.mark.parametrize("name", NAMES)
def test_closed_form_passes_every_group(name):
    result = run(reference_schedule_target(name), name, GROUPS)
    assert result.verdict == "pass", (result.detail, result.evidence)


@pytest.mark.parametrize("name", ["ConstantLR", "LinearLR", "PolynomialLR"])
def test_total_iters_zero_is_the_only_crossval_finding(name):
    """The failure names torch's variant, and against that variant torch passes everywhere."""
    bad = run(torch_schedule_target(name), name, CROSSVAL, **FINDINGS[name, CROSSVAL].trigger)
    assert f"{name}:torch" in bad.detail
    # Everywhere but ConstantLR's other finding (a subnormal factor overflows 1/factor).
    tiny = FINDINGS.get((name, "schedule.bounded"))
    spec = SCHEDULES[name]
    if tiny is not None:
        spec = replace(spec, space=tuple(tiny.outside.get(d.name, d) for d in spec.space))
    context = Context(torch_schedule_target(name), spec, spec.variant("torch"), settings=settings())
    ok = execute(CHECKS[CROSSVAL], context)
    assert ok.verdict == "pass", ok.detail


@pytest.mark.parametrize("check_id", [RESUME, LAST_EPOCH])  # crossval would compare it to itself
@pytest.mark.parametrize("name", every_nth(NAMES, 2))
def test_closed_form_passes(name, check_id):
    result = run(reference_schedule_target(name), name, check_id)
    assert result.verdict == "pass", (result.detail, result.evidence)


MUTANTS = [
    ("StepLRGammaOff", "StepLR", CROSSVAL),
    ("ExponentialLRGammaOff", "ExponentialLR", CROSSVAL),
    ("CosineWrongPeriod", "CosineAnnealingLR", CROSSVAL),
    ("CosinePreStep", "CosineAnnealingLR", CROSSVAL),
    ("WarmupFromZero", "LinearLR", CROSSVAL),
    ("CyclicPeriodOff", "CyclicLR", CROSSVAL),
    ("RestartOffByOne", "CosineAnnealingWarmRestarts", CROSSVAL),
    ("SWALRLinearAlways", "SWALR", CROSSVAL),
    ("CosineForgetfulStateDict", "CosineAnnealingLR", RESUME),
    ("CosineIgnoresLastEpoch", "CosineAnnealingLR", LAST_EPOCH),
    # Broken only with several param groups (one group's checks pass them).
    ("StepLRFirstGroupOnly", "StepLR", GROUPS),
    pytest.param("OneCycleFirstMaxLR", "OneCycleLR", GROUPS, marks=pytest.mark.thorough),
    pytest.param("CyclicFirstBounds", "CyclicLR", GROUPS, marks=pytest.mark.thorough),
    # Broken only at a boundary value the space draws (gamma = 0).
    ("ExponentialLRViaLog", "ExponentialLR", CROSSVAL),
    ("CosineGapRatio", "CosineAnnealingLR", CROSSVAL),  # eta_min = base lr only
    # Broken only for fractional epochs given to step(epoch).
    ("RestartsFloorEpoch", "CosineAnnealingWarmRestarts", EPOCHS),
    pytest.param("StepLRRoundsEpoch", "StepLR", EPOCHS, marks=pytest.mark.thorough),
    # Broken only where torch accepts more than the invariants draw (records' ``accepted``).
    pytest.param(  # eta_min above the base lr
        "CosineAnnealsDown", "CosineAnnealingLR", CROSSVAL, marks=pytest.mark.thorough
    ),
    ("ExponentialLRCapsGamma", "ExponentialLR", CROSSVAL),  # gamma > 1
    pytest.param("OneCycleCapsStart", "OneCycleLR", CROSSVAL, marks=pytest.mark.thorough),
    pytest.param("CyclicWholeStepSizes", "CyclicLR", CROSSVAL, marks=pytest.mark.thorough),
    pytest.param("LambdaCapsAtOne", "LambdaLR", CROSSVAL, marks=pytest.mark.thorough),  # factor > 1
    # Composites with drawn children: a lone child, a MultiplicativeLR in a chain.
    pytest.param(
        "sequential_needs_a_milestone", "SequentialLR", CROSSVAL, marks=pytest.mark.thorough
    ),
    pytest.param(
        "chained_skips_multiplicative", "ChainedScheduler", CROSSVAL, marks=pytest.mark.thorough
    ),
    # Adam: a cycled momentum is betas[0].
    pytest.param("OneCycleMomentumOnly", "OneCycleLR", GROUPS, marks=pytest.mark.thorough),
]


@pytest.mark.parametrize(("mutant", "like", "check_id"), MUTANTS)
def test_mutant_is_caught(mutant, like, check_id):
    result = run(zoo_target(mutant), like, check_id)
    assert result.verdict == "violation", (result.verdict, result.detail)
    assert result.evidence.step is not None and result.evidence.case is not None


def test_resume_finding_reproduces_with_torch_alone():
    """The evidence snippet replays both runs with torch and prints the two lrs that differ."""
    result = run(
        torch_schedule_target("StepLR"),
        "StepLR",
        LAST_EPOCH,
        **FINDINGS["StepLR", LAST_EPOCH].trigger,
    )
    ev = result.evidence
    out = subprocess.run(
        [sys.executable, "-c", ev.snippet],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert f"uninterrupted: {ev.expected!r} resumed: {ev.got!r}" in out


def test_resume_mutants_keep_the_other_resume():
    # Each resume mutant breaks one route only, so the two checks are told apart.
    assert run(zoo_target("CosineIgnoresLastEpoch"), "CosineAnnealingLR", RESUME).verdict == "pass"


def test_gamma_off_by_a_tenth_of_a_percent_is_seen_at_once():
    result = run(zoo_target("ExponentialLRGammaOff"), "ExponentialLR", CROSSVAL)
    assert result.evidence.step == 1  # one step of 0.1 % is ~4.5e12 round-off units


@pytest.mark.thorough  # a long horizon by nature (6 s)
def test_drift_over_long_horizons_stays_within_the_error_model():
    """Every torch scheduler over >= 10,000 steps against its closed form: the chainable
    (recursive) forms drift, but never beyond the round-off model (kit.schedules.RoundOff).
    The table is the closing note's; run with -s to see it."""
    table = drift_table()
    assert {d.name for d in table} == set(stepped_schedules())
    print("\nscheduler                    form        max rel drift          vs model")
    for d in table:
        print(d.row())
        assert d.steps >= LONG_HORIZON, d
        assert d.max_in_roundoff <= 1.0, d
    worst = max(table, key=lambda d: d.max_rel)
    assert worst.chainable  # the largest drift is a recursion's, not a closed form's


def test_torch_swalr_last_epoch_rebuild_reanneals_by_hand():
    """The SWALR finding with torch alone: two linear steps of five from 1.0 to 0.5, then
    rebuilt with last_epoch=1 on the restored optimizer. The uninterrupted run's next lr is
    1 - 0.5 * 3/5 = 0.7; the rebuilt one anneals again from 0.8 over five steps: 0.8 - 0.3/5."""
    import torch
    from torch.optim.swa_utils import SWALR

    p = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = SWALR(opt, swa_lr=0.5, anneal_epochs=5, anneal_strategy="linear")
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.8, rel=1e-12)
    saved = opt.state_dict()
    fresh = torch.optim.SGD([torch.nn.Parameter(torch.zeros(()))], lr=1.0)
    fresh.load_state_dict(saved)
    rebuilt = SWALR(fresh, swa_lr=0.5, anneal_epochs=5, anneal_strategy="linear", last_epoch=1)
    fresh.step()
    rebuilt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.7, rel=1e-12)
    assert fresh.param_groups[0]["lr"] == pytest.approx(0.8 - 0.3 / 5, rel=1e-12)


def _torch_lrs(make, steps: int, lr: float = 1.0) -> list[float]:
    """lr after construction and after each of ``steps`` scheduler steps, with torch alone."""
    import torch

    p = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def test_accepted_input_findings_by_hand():
    """The findings of the inputs torch accepts beyond its documented types, with torch alone
    (each against the documented formula, which torch's own step(epoch) computes)."""
    import torch.optim.lr_scheduler as L

    # step_size=1.5: gamma^floor(t/1.5) drops at t = 2, 3, 5, 6; get_lr only where t % 1.5 == 0.
    assert _torch_lrs(lambda o: L.StepLR(o, step_size=1.5, gamma=0.5), 4) == [1, 1, 1, 0.5, 0.5]
    # milestones=[-1, 3]: the count of milestones <= t (torch's closed form) is 1 from t = 0,
    # 0.5 then 0.25 at t = 3; get_lr never meets -1.
    multi = _torch_lrs(lambda o: L.MultiStepLR(o, milestones=[-1, 3], gamma=0.5), 3)
    assert multi == [1, 1, 1, 0.5]
    # total_iters=2.5: LinearLR stops at t = 2 (0.9), ConstantLR never restores, PolynomialLR
    # stops at 1 - 2/2.5 = 0.2 (the documented forms reach 1.0, 1.0 and 0 at t = 3).
    linear = _torch_lrs(lambda o: L.LinearLR(o, start_factor=0.5, total_iters=2.5), 4)
    assert linear[3:] == pytest.approx([0.9, 0.9], rel=1e-15)
    assert _torch_lrs(lambda o: L.ConstantLR(o, factor=0.5, total_iters=2.5), 4) == [0.5] * 5
    poly = _torch_lrs(lambda o: L.PolynomialLR(o, total_iters=2.5, power=1.0), 4)
    assert poly[3:] == pytest.approx([0.2, 0.2], rel=1e-15)
    # T_max=4/3: t = 4 is the trough (3 T_max); the next step divides by 1 + cos(3 pi) = 0.
    with pytest.raises(ZeroDivisionError):
        _torch_lrs(lambda o: L.CosineAnnealingLR(o, T_max=4 / 3), 5)
    assert _torch_lrs(lambda o: L.CosineAnnealingLR(o, T_max=4 / 3), 4)[4] == 0.0


def test_step_epoch_total_iters_zero_raises_by_hand():
    import warnings

    import torch
    import torch.optim.lr_scheduler as L

    for make in (lambda o: L.LinearLR(o, total_iters=0), lambda o: L.PolynomialLR(o, 0)):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(()))], lr=1.0)
        sched = make(opt)
        opt.step()
        with warnings.catch_warnings(), pytest.raises(ZeroDivisionError):
            warnings.simplefilter("ignore")  # step(epoch) is deprecated
            sched.step(0.5)


def test_eta_min_above_base_rises_in_torch_as_documented():
    """Not a finding: torch's cosine rises from the base lr to an eta_min above it (the
    documented formula), so crossval draws it and torch conforms."""
    import torch.optim.lr_scheduler as L

    lrs = _torch_lrs(lambda o: L.CosineAnnealingLR(o, T_max=4, eta_min=2.0), 4)
    assert lrs == pytest.approx([1.0, 1 + (1 - 2**-0.5) / 2, 1.5, 1 + (1 + 2**-0.5) / 2, 2.0])
