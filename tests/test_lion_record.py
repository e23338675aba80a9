"""Lion as a catalog record: a correct port passes every check, each invariant and the
cross-validation fail on broken ports (tests/zoo/lion.py), variants are named, and the real
packages' verdicts are the ones their code earns, each finding reproduced by hand below.

Real packages (pinned in the test extra): lion-pytorch 0.2.5 and pytorch-optimizer 4.1.0
compute Lion correctly (cross-validation and invariants pass in float64, float32 and
bfloat16); both lose attributes set in __init__ through copy.deepcopy, and
pytorch-optimizer's maximize negates p.grad in place.
"""

from __future__ import annotations

import hypothesis
import pytest
import torch
from real_findings import assert_deepcopy_loses, grad_after_step
from sampling import first_mutant_each
from zoo import lion as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
from optcheck.checks.target import OptimizerTarget
from optcheck.suites.prepare import prepare

registry.load_all()
LION = OPTIMIZERS["Lion"]
CAUGHT = {
    "sign.update": [Z.LionNoSign],
    "sign.constant_gradient": [Z.LionMaximizeIgnored, Z.LionNoSign],
    "decay.decoupled_pure": [Z.LionCoupledDecay, Z.LionDecayWithoutLr],
    "crossval.trajectory": [
        Z.LionBetasSwapped,
        Z.LionNewMomentum,
        Z.LionCoupledDecay,
        Z.LionDecayWithoutLr,
        Z.LionNoSign,
        Z.LionMaximizeIgnored,
    ],
}
NAMED = {
    Z.LionNewMomentum: ["new-momentum"],
    Z.LionCoupledDecay: ["coupled-decay"],
    Z.LionDecayWithoutLr: ["decay-without-lr"],
}


def target(cls: type, path: str | None = None) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, path or f"zoo.lion:{cls.__name__}")


# Lion's signs part from the new-momentum variant's only where β1(1−β2)|m| and (1−β1)|g| of
# opposite signs nearly cancel (a window of b ∈ (0.082a, 0.09a) at the defaults): it takes
# more cases to meet one.
HARD = {Z.LionNewMomentum: 100}


def verdict(check_id: str, tgt: OptimizerTarget, dtype: str = "float64", examples: int = 0):
    examples = examples or hypothesis.settings.default.max_examples
    settings = Settings(max_examples=examples, dtype=dtype)
    return execute(CHECKS[check_id], Context(tgt, LION, settings=settings))


def prepared(path: str, check_id: str):
    """The check as ``optcheck validate PATH --like Lion`` runs it (keywords the target keeps
    per group learned by prepare)."""
    ctx = prepare(path, "Lion", max_examples=hypothesis.settings.default.max_examples).context
    return execute(CHECKS[check_id], ctx)


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == LION.invariant_ids | {"crossval.trajectory"}


@pytest.mark.parametrize("check_id", sorted(CAUGHT))
def test_correct_port_passes(check_id):
    result = verdict(check_id, target(Z.ZooLion))
    assert result.verdict == "pass", result.detail


MUTANT_CASES = first_mutant_each(CAUGHT)


@pytest.mark.parametrize(("check_id", "mutant"), MUTANT_CASES)
def test_mutant_is_caught(check_id, mutant):
    result = verdict(check_id, target(mutant), examples=HARD.get(mutant, 0))
    assert result.verdict == "violation", result.detail


@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    result = verdict("crossval.trajectory", target(mutant), examples=HARD.get(mutant, 0))
    ctx = Context(target(mutant), LION, settings=Settings())
    assert behaves_like(ctx, evidence_case(result)) == NAMED[mutant]


# --- real packages ---------------------------------------------------------------------------

lion_pytorch = pytest.importorskip("lion_pytorch")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
REAL = {
    "lion_pytorch:Lion": lion_pytorch.Lion,
    "pytorch_optimizer:Lion": pytorch_optimizer.Lion,
}


@pytest.mark.parametrize("path", sorted(REAL))
@pytest.mark.parametrize("check_id", ["crossval.trajectory", "sign.update"])
def test_real_package_computes_lion(path, check_id):
    result = prepared(path, check_id)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    ("path", "attribute"),
    [("lion_pytorch:Lion", "decoupled_wd"), ("pytorch_optimizer:Lion", "maximize")],
)
def test_real_package_finding_deepcopy_loses_init_attributes(path, attribute):
    assert_deepcopy_loses(REAL[path], path, "Lion", attribute)


def test_real_package_finding_maximize_negates_the_gradient_in_place():
    """By hand: pytorch-optimizer 4.1's Lion(maximize=True) leaves -g in p.grad."""
    g = torch.tensor([1.0, -2.0, 3.0])
    got = grad_after_step(pytorch_optimizer.Lion, g, lr=1e-3, maximize=True)
    assert torch.equal(got, -g)
    result = verdict(
        "contract.grad_unchanged", target(pytorch_optimizer.Lion, "pytorch_optimizer:Lion")
    )
    assert result.verdict == "violation"
