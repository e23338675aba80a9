"""Optimizer-scheduler interplay: the lr applied at step t is the schedule's eta_t.

torch's schedulers and optimizers pass (ASGD and Rprop excepted, with their reasons), the
closed forms and the reference optimizers pass, and each check fails on the zoo's slips.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from sampling import every_nth

from optcheck.checks import profiles
from optcheck.checks.catalog import OPTIMIZERS, SCHEDULES, stepped_schedules, torch_optimizers
from optcheck.checks.findings import TORCH_FINDINGS, lookup
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Context, Settings, execute
from optcheck.checks.kit.schedules import reference_schedule_target, torch_schedule_target
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.result import CheckResult
from optcheck.checks.target import OptimizerTarget, ScheduleTarget

CHECKS = registry.load_all()
# The findings this module reproduces (torch optimizers under a scheduler).
INTERPLAY = {k: f for k, f in TORCH_FINDINGS.items() if f.test.startswith("tests/test_interplay")}
SCHEDULE, OPT, OPT_REF = (
    "interplay.schedule_applied_lr",
    "interplay.optimizer_lr",
    "interplay.optimizer_lr_reference",
)
# Plain SGD for the zoo's SGD subclasses, which implement only that (their slip is the lr).
PLAIN_SGD = {
    "momentum": 0.0,
    "dampening": 0.0,
    "weight_decay": 0.0,
    "nesterov": False,
    "maximize": False,
}


def settings(**fixed: object) -> Settings:
    return Settings(max_examples=profiles.EXAMPLES[profiles.default_profile()], fixed_hp=fixed)


def run(
    target, like: str | None, check_id: str, variant: str | None = None, **fixed: object
) -> CheckResult:
    spec = None
    if like in SCHEDULES:
        spec = SCHEDULES[like]
    elif like is not None:
        spec = OPTIMIZERS[like]
    v = next(x for x in spec.variants if x.name == variant) if variant else None
    s = settings(**fixed)
    # torch's Adafactor raises on zero-size parameters (a finding).
    finding = lookup(getattr(target.factory, "__name__", ""), "forloop", check_id)
    if (
        finding is not None
        and finding.empty_tensor
        and target.factory.__module__.startswith("torch.optim")
    ):
        s = dataclasses.replace(s, skip_kinds=("zero-size",))
    return execute(CHECKS[check_id], Context(target, spec, v, s))


def torch_optimizer(name: str) -> OptimizerTarget:
    return OptimizerTarget(
        f"torch.optim:{name}", getattr(torch.optim, name), import_path=f"torch.optim:{name}"
    )


def zoo(name: str, kind: str = "schedule"):
    from zoo import schedules

    cls = ScheduleTarget if kind == "schedule" else OptimizerTarget
    return cls(f"zoo {name}", getattr(schedules, name), import_path=f"zoo.schedules:{name}")


# --- schedule targets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(stepped_schedules()))
def test_torch_schedule_is_applied_as_published(name):
    # Against torch's own variant where the spec has one (total_iters = 0 quirks: the
    # crossval findings, tests/test_schedule_crossval.py).
    variant = "torch" if any(v.name == "torch" for v in SCHEDULES[name].variants) else None
    result = run(torch_schedule_target(name), name, SCHEDULE, variant)
    assert result.verdict == "pass", (result.detail, result.evidence)


@pytest.mark.parametrize("name", list(stepped_schedules()))
def test_closed_form_is_applied_as_published(name):
    result = run(reference_schedule_target(name), name, SCHEDULE)
    assert result.verdict == "pass", (result.detail, result.evidence)


def test_without_a_spec_the_published_lr_is_still_checked():
    target = torch_schedule_target("StepLR")
    ok = run(target, None, SCHEDULE, step_size=3, gamma=0.5)
    assert ok.verdict == "pass", ok.detail
    bad = run(zoo("CosineHookedScale"), None, SCHEDULE, T_max=10)
    assert bad.verdict == "violation" and "group['lr'] before it was" in bad.detail
    skipped = run(target, None, SCHEDULE)  # nothing says what step_size is
    assert skipped.verdict == "skip" and "cannot construct" in skipped.detail


def test_lr_changed_behind_the_optimizers_back_is_caught():
    # group['lr'] read between steps is right, so only the applied lr shows it.
    result = run(zoo("CosineHookedScale"), "CosineAnnealingLR", SCHEDULE)
    assert result.verdict == "violation"
    assert result.evidence.got == pytest.approx(result.evidence.expected / 2, rel=1e-15)
    crossval = execute(
        CHECKS["crossval.schedule"],
        Context(zoo("CosineHookedScale"), SCHEDULES["CosineAnnealingLR"], settings=settings()),
    )
    assert crossval.verdict == "pass"


def test_scheduler_one_step_ahead_is_caught_and_named():
    result = run(zoo("CosinePreStep"), "CosineAnnealingLR", SCHEDULE)
    assert result.verdict == "violation" and "one step ahead" in result.detail


# --- optimizer targets ------------------------------------------------------------------------

CONFORMING = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "NAdam", "RAdam", "Adadelta", "Adamax"]


@pytest.mark.parametrize("name", CONFORMING)
def test_torch_optimizer_applies_the_scheduled_lr(name):
    result = run(torch_optimizer(name), name if name in OPTIMIZERS else None, OPT)
    assert result.verdict == "pass", (result.detail, result.evidence)


# Records that fixed gradients drive (LBFGS's closure checks drive it), and those of them with
# a torch.optim class (Lion, SignSGD, Adan meet their packages in tests/test_*_record.py).
FIXED_GRADIENTS = [n for n, r in OPTIMIZERS.items() if not r.closure_driven]
TORCH_RECORDS = [r.name for r in torch_optimizers() if r.name in FIXED_GRADIENTS]


@pytest.mark.parametrize("name", every_nth(TORCH_RECORDS, 2))
def test_torch_optimizer_matches_the_reference_under_a_scheduler(name):
    default = torch.get_default_dtype()
    if (name, OPT_REF) in INTERPLAY:
        # ASGD keeps η in the default dtype (finding below): float64 there, the algorithm
        # itself is compared.
        torch.set_default_dtype(torch.float64)
    try:
        result = run(torch_optimizer(name), name, OPT_REF)
    finally:
        torch.set_default_dtype(default)
    assert result.verdict == "pass", (result.detail, result.evidence)


@pytest.mark.parametrize("name", every_nth(FIXED_GRADIENTS, 2))
def test_reference_optimizer_passes(name):
    target = OptimizerTarget(f"reference {name}", reference_factory(OPTIMIZERS[name]))
    for check_id in (OPT, OPT_REF):
        result = run(target, name, check_id)
        if check_id == OPT and (name, OPT) in INTERPLAY:
            # The reference is torch's algorithm: lr read one step late (ASGD's η) or only
            # as the initial step size (Rprop), as the finding says.
            assert result.verdict == "violation" and "ignores group['lr']" in result.detail
            continue
        if OPTIMIZERS[name].not_applicable(check_id):  # a record coupling tensors (Prodigy)
            assert result.verdict == "skip", (check_id, result.detail)
            continue
        assert result.verdict == "pass", (check_id, result.detail, result.evidence)


@pytest.mark.parametrize(("name", "check_id"), [k for k in INTERPLAY if k[1] == OPT])
def test_torch_optimizer_finding_reproduces(name, check_id):
    """ASGD (finding, pytorch/pytorch#74884) and Rprop (documented: lr is only the initial
    step size) ignore a scheduler from their second step on."""
    result = run(torch_optimizer(name), None, check_id)
    assert result.verdict == "violation", INTERPLAY[name, check_id]
    assert result.evidence.step == 2 and "ignores group['lr']" in result.detail


def test_line_search_optimizer_is_skipped():
    result = run(torch_optimizer("LBFGS"), None, OPT)
    assert result.verdict == "skip" and "closure" in result.detail


@pytest.mark.parametrize(
    ("mutant", "check_id"),
    [
        ("SGDCachedLr", OPT),
        ("SGDCachedLr", OPT_REF),
        ("SGDFirstStepLr", OPT),
        ("SGDFirstStepLr", OPT_REF),
        ("SGDLaggingLr", OPT),
        ("SGDLaggingLr", OPT_REF),
        ("SGDScaledLr", OPT_REF),
    ],
)
def test_optimizer_mutant_is_caught(mutant, check_id):
    result = run(zoo(mutant, "optimizer"), "SGD", check_id, **PLAIN_SGD)
    assert result.verdict == "violation", (result.verdict, result.detail)
    assert result.evidence.step is not None and result.evidence.snippet


def test_scaled_lr_still_responds_at_once():
    # 1.001 * lr is applied at the right step: only the reference can tell it is wrong.
    assert run(zoo("SGDScaledLr", "optimizer"), "SGD", OPT, **PLAIN_SGD).verdict == "pass"


def test_heavy_ball_is_told_apart_by_the_variant():
    """lr inside the momentum buffer (v = mu v + lr g) applies each lr at its own step but is
    not torch's SGD when the lr changes: a violation as SGD, a pass as SGD:classic-momentum."""
    spec = OPTIMIZERS["SGD"]
    target = OptimizerTarget(
        "heavy ball", reference_factory(spec, spec.variant("classic-momentum").fn)
    )
    fixed = {"momentum": 0.9, "dampening": 0.0, "nesterov": False}
    assert run(target, "SGD", OPT, **fixed).verdict == "pass"
    assert run(target, "SGD", OPT_REF, **fixed).verdict == "violation"
    assert run(target, "SGD", OPT_REF, "classic-momentum", **fixed).verdict == "pass"


def test_torch_asgd_finding_float32_eta_parts_from_the_reference_under_a_scheduler():
    """ASGD's η in float32 (the default dtype): the scheduled float64 run parts from the
    float64 reference with the same lrs; validate reports it as known."""
    assert ("ASGD", OPT_REF) in INTERPLAY
    result = run(torch_optimizer("ASGD"), "ASGD", OPT_REF)
    assert result.verdict == "violation" and "the reference run with the same lrs" in result.detail


def test_an_lr_cap_is_probed_below_the_cap():
    # torch's Adafactor steps by min(lr, 1/sqrt(t)) * RMS(theta): at lr 8 (scheduled 1.6-40)
    # step 2's probes lr/2 and 2 lr are both above 1/sqrt(2), the update the same. The realworld
    # run drew such a case and called the cap "ignores group['lr']".
    s = Settings(max_examples=5, fixed_hp={"lr": 8.0}, skip_kinds=("zero-size",))
    ctx = Context(torch_optimizer("Adafactor"), None, None, s)
    assert execute(CHECKS[OPT], ctx).verdict == "pass"
