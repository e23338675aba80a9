"""LBFGS as a catalog record: closure-driven checks pass on torch and on a correct port, each
fails on a broken port (tests/zoo/lbfgs.py), and a port that is a named variant is named.

Default run: each invariant on torch and on one mutant it lists; every mutant, the correct
port and float32 with --thorough.
"""

from __future__ import annotations

import hypothesis
import numpy as np
import pytest
import torch
from sampling import every_nth, first_mutant_each
from zoo import lbfgs as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.findings import known_finding
from optcheck.checks.kit import closures as C
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import lbfgs

registry.load_all()
LBFGS = OPTIMIZERS["LBFGS"]
INVARIANTS = sorted(LBFGS.invariant_ids)
CAUGHT = {
    "crossval.closure_trajectory": [
        Z.LBFGSUnscaledFirstStep,
        Z.LBFGSNoLineSearch,
        Z.LBFGSHistoryOffByOne,
        Z.LBFGSExactLineSearch,
    ],
    "lbfgs.first_iteration": [Z.LBFGSUnscaledFirstStep],
    "lbfgs.sufficient_decrease": [Z.LBFGSNoLineSearch],
    "lbfgs.resume": [Z.LBFGSMemoryOutsideState],
}
TORCH = OptimizerTarget("LBFGS", torch.optim.LBFGS, "torch.optim:LBFGS")


def zoo_target(cls: type) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.lbfgs:{cls.__name__}")


def verdict(check_id: str, target: OptimizerTarget, dtype: str = "float64"):
    settings = Settings(max_examples=hypothesis.settings.default.max_examples, dtype=dtype)
    return execute(CHECKS[check_id], Context(target, LBFGS, settings=settings))


def test_every_invariant_has_a_mutant():
    assert sorted(CAUGHT) == INVARIANTS


@pytest.mark.parametrize("check_id", INVARIANTS)
def test_torch_passes(check_id):
    result = verdict(check_id, TORCH)
    assert result.verdict == "pass", result.detail


@pytest.mark.thorough
@pytest.mark.parametrize("check_id", INVARIANTS)
def test_torch_passes_in_float32(check_id):
    result = verdict(check_id, TORCH, "float32")
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize("check_id", every_nth(INVARIANTS, 3))
def test_correct_port_passes(check_id):
    result = verdict(check_id, zoo_target(Z.FlatLBFGS))
    assert result.verdict == "pass", result.detail


MUTANT_CASES = first_mutant_each(CAUGHT)


@pytest.mark.parametrize(("check_id", "mutant"), MUTANT_CASES)
def test_mutant_is_caught(check_id, mutant):
    result = verdict(check_id, zoo_target(mutant))
    assert result.verdict == "violation", result.detail
    assert result.evidence.snippet


@pytest.mark.thorough  # (a subprocess; the open-loop snippets are run by default)
def test_violation_snippet_reproduces_standalone(tmp_path, monkeypatch):
    """The evidence snippet runs with torch, numpy and the target alone, and reproduces."""
    import subprocess
    import sys
    from pathlib import Path

    result = verdict("lbfgs.first_iteration", zoo_target(Z.LBFGSUnscaledFirstStep))
    path = tmp_path / "snippet.py"
    path.write_text(result.evidence.snippet)
    tests_dir = str(Path(__file__).parent)
    out = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": tests_dir, "PATH": "", "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    assert "REPRODUCED" in out.stdout, out.stdout + out.stderr


@pytest.mark.thorough  # 4 s; closure naming shares behaves_like with the open-loop one
def test_a_variant_port_is_named():
    result = verdict("crossval.closure_trajectory", zoo_target(Z.LBFGSUnscaledFirstStep))
    case = evidence_case(result)
    ctx = Context(zoo_target(Z.LBFGSUnscaledFirstStep), LBFGS, settings=Settings())
    assert behaves_like(ctx, case) == ["unscaled-first-step"]


def test_rounding_floor_separates_a_slip_from_round_off():
    """The per-case tolerance is far below a formula slip and above torch's round-off: on a
    κ = 10³ quadratic torch's float64 run is within it, the unscaled first step far outside."""
    case = C.ClosureCase.build("quadratic", 6, 3, 3.0, {**LBFGS.defaults, "max_iter": 8}, 3)
    ref = C.run_reference(lbfgs.lbfgs_step, case)
    got = C.drive(TORCH.make, case, "float64", "cpu")
    setup = C.compare_setup(lbfgs.lbfgs_step, case, ref, got, "float64")
    assert setup.compared == 3 and setup.path_break is None
    errors = [float(np.max(np.abs(got.xs[k] - ref.xs[k]))) for k in (1, 2, 3)]
    assert all(e <= t for e, t in zip(errors, setup.tol, strict=True))
    assert max(setup.tol) < 1e-9 * setup.displacement
    slip = C.run_reference(lbfgs.unscaled_first_step, case)
    assert float(np.max(np.abs(slip.xs[1] - ref.xs[1]))) > 1e6 * setup.tol[0]


def test_closed_loop_checks_replace_the_open_loop_ones():
    """Every check that feeds fixed gradients says why it does not apply; the record's own
    checks run (a pass that checked nothing would not be a pass)."""
    for check_ in registry.applicable("optimizer", LBFGS):
        result = execute(check_, Context(TORCH, LBFGS, settings=Settings(max_examples=2)))
        if check_.id in LBFGS.invariant_ids:
            assert result.verdict == "pass", (check_.id, result.detail)
        else:
            assert result.verdict == "skip", check_.id


def test_torch_finding_zoom_divides_by_zero():
    """Finding: in float16, torch's strong-Wolfe zoom on a 1-D quadratic of curvature 7e-4
    interpolates a bracket whose ends coincide and raises ZeroDivisionError in the first step
    (pytorch/pytorch#42093 proposed the guard). The validator reports it as known."""
    hp = {**LBFGS.defaults, "max_iter": 18, "tolerance_grad": 1e-4, "tolerance_change": 1e-5}
    hp["line_search_fn"] = "strong_wolfe"
    case = C.ClosureCase.build("quadratic", 1, 1, 3.140625, hp, 1).rounded("float16")
    with pytest.raises(Exception) as raised:
        C.drive(TORCH.make, case, "float16", "cpu")
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    detail = f"target raised {C.TargetRaised(1, raised.value.__cause__)} in step 1"
    for check_id in ("lbfgs.sufficient_decrease", "crossval.closure_trajectory"):
        why = known_finding(TORCH, check_id, {}, "cpu", detail, "float16")
        assert why is not None and "42093" in why
        assert known_finding(TORCH, check_id, {}, "cpu", "step() increased f", "float16") is None
        assert known_finding(TORCH, check_id, {}, "cpu", detail, "float32") is None
