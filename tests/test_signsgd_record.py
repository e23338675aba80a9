"""signSGD / Signum as a catalog record: correct ports pass every check, each invariant and the
cross-validation fail on broken ports (tests/zoo/signsgd.py), variants are named, and the real
package's verdicts are the ones its code earns, each finding reproduced by hand below.

Real package (pinned in the test extra): pytorch-optimizer 4.1.0's SignSGD computes Signum and
signSGD correctly (cross-validation and invariants pass), its default weight_decouple=True is
the record's decoupled decay, and weight_decouple=False is the coupled-decay variant. It writes
into p.grad (maximize: −g; coupled decay: g + λθ) and loses maximize through copy.deepcopy.
"""

from __future__ import annotations

import hypothesis
import pytest
import torch
from real_findings import assert_deepcopy_loses, grad_after_step
from sampling import first_mutant_each
from zoo import signsgd as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
from optcheck.checks.target import OptimizerTarget
from optcheck.suites.prepare import prepare

registry.load_all()
SIGNSGD = OPTIMIZERS["SignSGD"]
CAUGHT = {
    "sign.update": [Z.SignumNoSign],
    "sign.constant_gradient": [Z.SignumMaximizeIgnored, Z.SignumNoSign],
    "signsgd.memoryless": [Z.SignumDefaultBetaAtZero, Z.SignumMaximizeIgnored],
    "decay.decoupled_pure": [Z.SignumCoupledDecay, Z.SignumDecayWithoutLr],
    "crossval.trajectory": [
        Z.SignumMomentumIgnored,
        Z.SignumDefaultBetaAtZero,
        Z.SignumCoupledDecay,
        Z.SignumDecayWithoutLr,
        Z.SignumNoSign,
        Z.SignumMaximizeIgnored,
    ],
}
NAMED = {
    Z.SignumCoupledDecay: ["coupled-decay"],
    Z.SignumDecayWithoutLr: ["decay-without-lr"],
}
CORRECT = [Z.ZooSignum, Z.ZooSignumTorchBuffer]
# A falsy-0 slip shows only in cases drawn at momentum 0 with varying gradients: crossval
# draws momentum from the whole space, so it takes more cases to meet one.
HARD = {Z.SignumDefaultBetaAtZero: 50}


def target(cls: type, path: str | None = None) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, path or f"zoo.signsgd:{cls.__name__}")


def verdict(check_id: str, tgt: OptimizerTarget, examples: int = 0):
    examples = examples or hypothesis.settings.default.max_examples
    settings = Settings(max_examples=examples, dtype="float64")
    return execute(CHECKS[check_id], Context(tgt, SIGNSGD, settings=settings))


def prepared(path: str, check_id: str, hp: dict | None = None):
    """The check as ``optcheck validate PATH --like SignSGD`` runs it."""
    ctx = prepare(
        path, "SignSGD", hp=hp, max_examples=hypothesis.settings.default.max_examples
    ).context
    return execute(CHECKS[check_id], ctx)


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == SIGNSGD.invariant_ids | {"crossval.trajectory"}


@pytest.mark.parametrize("port", CORRECT, ids=lambda c: c.__name__)
@pytest.mark.parametrize("check_id", sorted(CAUGHT))
def test_correct_port_passes(check_id, port):
    result = verdict(check_id, target(port))
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(("check_id", "mutant"), first_mutant_each(CAUGHT))
def test_mutant_is_caught(check_id, mutant):
    result = verdict(check_id, target(mutant), examples=HARD.get(mutant, 0))
    assert result.verdict == "violation", result.detail


@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    result = verdict("crossval.trajectory", target(mutant))
    ctx = Context(target(mutant), SIGNSGD, settings=Settings())
    assert behaves_like(ctx, evidence_case(result)) == NAMED[mutant]


# --- the real package ------------------------------------------------------------------------

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
PATH = "pytorch_optimizer:SignSGD"


@pytest.mark.parametrize("check_id", ["crossval.trajectory", "sign.update"])
def test_real_package_computes_signum(check_id):
    result = prepared(PATH, check_id)
    assert result.verdict == "pass", result.detail


def test_real_package_applies_decoupled_decay_by_hand():
    """By hand: 4.1 applies weight_decay, by default as θ(1−ηλ) before the step, and the
    validator agrees (decay.decoupled_pure passes)."""
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    p.grad = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    pytorch_optimizer.SignSGD([p], lr=1e-3, weight_decay=0.5).step()
    expected = 1.0 * (1 - 1e-3 * 0.5) - 1e-3 * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    assert torch.equal(p.detach(), expected)
    assert prepared(PATH, "decay.decoupled_pure").verdict == "pass"


def test_real_package_coupled_decay_is_the_coupled_variant():
    """weight_decouple=False is g + λθ into the momentum: the coupled-decay variant, named."""
    result = prepared(PATH, "crossval.trajectory", hp={"weight_decouple": False})
    assert result.verdict == "violation", result.detail
    ctx = prepare(PATH, "SignSGD", hp={"weight_decouple": False}).context
    assert behaves_like(ctx, evidence_case(result)) == ["coupled-decay"]


@pytest.mark.parametrize(
    ("hp", "left"),
    [
        ({"maximize": True}, lambda g, p: -g),
        ({"weight_decay": 0.5, "weight_decouple": False}, lambda g, p: g + 0.5 * p),
    ],
    ids=["maximize", "coupled-decay"],
)
def test_real_package_finding_writes_into_the_gradient(hp, left):
    """By hand: maximize negates p.grad in place, coupled decay adds λθ to it in place (both
    code paths: foreach and per parameter); the validator's contract says so."""
    g = torch.tensor([1.0, -2.0, 3.0])
    for foreach in (None, False):
        got = grad_after_step(pytorch_optimizer.SignSGD, g, lr=1e-3, foreach=foreach, **hp)
        assert torch.equal(got, left(g, torch.ones(3)))
    result = prepared(PATH, "contract.grad_unchanged", hp=hp)
    assert result.verdict == "violation", result.detail


def test_real_package_finding_deepcopy_loses_maximize():
    assert_deepcopy_loses(pytorch_optimizer.SignSGD, PATH, "SignSGD", "maximize")
