"""Invariants of Adagrad, RMSprop, Adadelta, Adamax and Rprop (issue 15, part a): each passes on
torch.optim (every implementation the record lists) and on the float64 reference, and fails
on the broken ones in tests/zoo.

The default run keeps torch's forloop path per invariant and a sample of the mutant table
(every_nth); --thorough runs every implementation, the reference and every pair."""

from __future__ import annotations

import hypothesis
import pytest
import torch
from sampling import every_nth
from zoo import mutants_invariants_a as M
from zoo import optimizers_numeric as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.target import OptimizerTarget

load_all()
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
ALGORITHMS = ("Adagrad", "RMSprop", "Adadelta", "Adamax", "Rprop")
# check id -> the mutants it must catch (the record is the id's prefix).
CAUGHT = {
    "adagrad.first_step": [
        Z.AdagradLrDecayOffByOne,
        Z.AdagradEpsInsideSqrt,
        M.AdagradLeakyAccumulator,
        M.AdagradAccumulateAfterStep,
    ],
    "adagrad.accumulator_monotone": [
        M.AdagradLeakyAccumulator,
        M.AdagradLrDecayIgnored,
        Z.AdagradLrDecayOffByOne,
    ],
    "adagrad.step_bound": [
        M.AdagradLrDecayIgnored,
        M.AdagradAccumulateAfterStep,
        M.AdagradLeakyAccumulator,
        Z.AdagradEpsInsideSqrt,
    ],
    "rmsprop.first_step": [
        Z.RMSpropKeras,
        M.RMSpropCenteredPlusMean,
        M.RMSpropCenteredStaleMean,
    ],
    "rmsprop.constant_gradient": [
        Z.RMSpropKeras,
        Z.RMSpropMomentumBeforeScaling,
        M.RMSpropCenteredPlusMean,
        M.RMSpropCenteredStaleMean,
    ],
    "rmsprop.centered_dominates": [M.RMSpropCenteredPlusMean],
    "adadelta.first_step": [Z.AdadeltaZeiler, Z.AdadeltaDeltaAccumulatedFirst],
    "adadelta.step_bound": [Z.AdadeltaZeiler, Z.AdadeltaDeltaAccumulatedFirst],
    "adadelta.lr_scale": [Z.AdadeltaZeiler, M.AdadeltaLrInAccumulator],
    "adamax.first_step": [Z.AdamaxNoBiasCorrection, M.AdamaxMaxWithoutAbs],
    "adamax.step_bound": [M.AdamaxMaxWithoutAbs],
    "adamax.impulse_response": [
        Z.AdamaxNoBiasCorrection,
        Z.AdamaxEpsOutsideMax,
        M.AdamaxMaxWithoutAbs,
    ],
    "rprop.step_sizes": [M.RpropNoClamp, M.RpropGradientTimesStep],
    "rprop.sign_only": [M.RpropGradientTimesStep],
    "rprop.flip_skips": [Z.RpropNoGradZeroing],
}
SPEC_OF = {name.lower(): name for name in ALGORITHMS}


def verdict(check_id: str, target: OptimizerTarget):
    spec = OPTIMIZERS[SPEC_OF[check_id.split(".")[0]]]
    settings = Settings(max_examples=hypothesis.settings.default.max_examples)
    return execute(CHECKS[check_id], Context(target, spec, settings=settings))


def _passing() -> list[tuple[str, str]]:
    """(check id, source): torch's forloop first, so the default run keeps one per check."""
    out = []
    for name in ALGORITHMS:
        record = OPTIMIZERS[name]
        sources = [*record.implementations, "reference"]
        out += [(cid, src) for cid in sorted(record.invariant_ids) for src in sources]
    return out


PASSING = _passing()


@pytest.mark.parametrize(
    ("check_id", "source"),
    [
        pytest.param(c, s, marks=() if s == "forloop" else pytest.mark.thorough, id=f"{c}-{s}")
        for c, s in PASSING
    ],
)
def test_passes_on_torch_and_the_reference(check_id, source):
    spec = OPTIMIZERS[SPEC_OF[check_id.split(".")[0]]]
    if source == "reference":
        target = OptimizerTarget("reference", reference_factory(spec))
    else:
        cls = getattr(torch.optim, spec.name)
        target = OptimizerTarget(f"{spec.name}[{source}]", cls, "", IMPLS[source])
    result = verdict(check_id, target)
    assert result.verdict == "pass", result.detail


def test_every_invariant_is_listed_and_has_a_mutant():
    ids = {cid for name in ALGORITHMS for cid in OPTIMIZERS[name].invariant_ids}
    assert ids == set(CAUGHT) and all(CAUGHT.values())


@pytest.mark.parametrize(
    ("check_id", "mutant"),
    every_nth(
        [(c, m) for c, ms in CAUGHT.items() for m in ms],
        3,
        ids=lambda v: f"{v[0]}-{v[1].__name__}",
    ),
)
def test_fails_on_mutant(check_id, mutant):
    target = OptimizerTarget(mutant.__name__, mutant, f"zoo:{mutant.__name__}")
    result = verdict(check_id, target)
    assert result.verdict == "violation", result.detail
    ev = result.evidence
    assert ev.step >= 1 and ev.case and ev.snippet
    # A target's inf makes the tolerance (scaled by |θ|) inf too: the ratio is then NaN.
    assert not ev.error_in_tol <= 1 and ev.expected is not None and ev.got is not None
