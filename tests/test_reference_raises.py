"""A reference that raises is optcheck's error (verdict "error", naming the reference), never
a violation by the target: in the open-loop comparison, in a contract check that asks the
reference where a property holds, and where the reference is itself the target."""

from __future__ import annotations

import torch
from zoo.references import REFUSAL, adam_refusing_step_2

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget
from optcheck.reference.spec import Variant

load_all()
ADAM = OPTIMIZERS["Adam"]
REFUSING = Variant("refusing", adam_refusing_step_2, "raises from step 2", "tests/zoo")


def _run(check_id: str, target: OptimizerTarget, variant: Variant | None = REFUSING):
    ctx = Context(target, spec=ADAM, variant=variant, settings=Settings(max_examples=5))
    return execute(CHECKS[check_id], ctx)


def _says_optcheck_erred(result) -> None:
    assert result.verdict == "error", (result.verdict, result.detail)
    assert "reference (optcheck's) raised ValueError" in result.detail, result.detail
    assert REFUSAL in result.detail and "target raised" not in result.detail
    assert "not of the target" in result.detail


def test_crossval_says_the_reference_raised():
    """torch's Adam steps fine; the comparison's reference refuses step 2. The case it refused
    is kept (not shrunk: an error is not a counterexample)."""
    result = _run("crossval.trajectory", OptimizerTarget("Adam", torch.optim.Adam))
    _says_optcheck_erred(result)
    assert result.evidence is not None and result.evidence.case is not None


def test_contract_check_asking_the_reference_says_it_raised():
    """contract.zero_lr runs the reference to decide which tensors must stay fixed."""
    result = _run("contract.zero_lr", OptimizerTarget("Adam", torch.optim.Adam))
    _says_optcheck_erred(result)


def test_the_reference_as_target_raising_is_optchecks_error():
    """The oracle wrapped as a torch optimizer (how a variant's invariants are probed): its
    raise is not 'the target raised', even under a check that catches the target's raises."""
    target = OptimizerTarget("Adam:refusing", reference_factory(ADAM, adam_refusing_step_2))
    _says_optcheck_erred(_run("contract.grad_none", target, variant=None))


def test_variant_matching_passes_over_a_formula_that_raises():
    """After a failed comparison the runner names the variants the target matches: a formula
    that raises on the probe matches nothing (not a crash of the run), and a crossval error
    (the reference raised) compared nothing, so no variant is looked for."""
    from optcheck.checks.crossval_checks import _agrees, evidence_case
    from optcheck.checks.result import CheckResult
    from optcheck.suites.runner import identify_variants

    ctx = Context(OptimizerTarget("Adam", torch.optim.Adam), spec=ADAM, settings=Settings())
    result = _run("crossval.trajectory", OptimizerTarget("Adam", torch.optim.Adam))
    case = evidence_case(result)
    assert case is not None and case.steps >= 2
    assert _agrees(ctx, ADAM.error_model, adam_refusing_step_2, case, "float64") is None
    assert _agrees(ctx, ADAM.error_model, ADAM.step, case, "float64") is True
    assert identify_variants(ctx, [result]) == []
    crashed = CheckResult("crossval.trajectory", "t", "error", "check crashed: …")
    assert identify_variants(ctx, [crashed]) == []
