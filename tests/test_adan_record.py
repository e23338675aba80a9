"""Adan as a catalog record: a correct port passes every check, each invariant and the
cross-validation fail on broken ports (tests/zoo/adan.py), variants are named, and the real
package's verdicts are the ones its code earns, each finding reproduced by hand below.

Real package (pinned in the test extra): pytorch-optimizer 4.1.0's Adan computes Adan as the
authors' code does (bias correction, first difference 0, proximal decay by default;
weight_decouple=True is the no-prox variant) when maximize is off: cross-validation and
invariants pass in float64, float32, bfloat16 and float16. With maximize=True its first
gradient difference is −2g instead of 0 (the stored previous gradient is taken before the
negation), and it negates p.grad in place; its per-parameter path (foreach=False) leaves −g in
p.grad without maximize; a deep copy loses maximize.
"""

from __future__ import annotations

import hypothesis
import pytest
import torch
from real_findings import assert_deepcopy_loses, grad_after_step
from sampling import first_mutant_each
from zoo import adan as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
from optcheck.checks.target import OptimizerTarget
from optcheck.suites.prepare import prepare

registry.load_all()
ADAN = OPTIMIZERS["Adan"]
CAUGHT = {
    "adan.first_step": [
        Z.AdanDiffFromZero,
        Z.AdanNoBiasCorrection,
        Z.AdanMaximizeIgnored,
        Z.AdanNoProx,
        Z.AdanCoupledDecay,
    ],
    "adan.constant_gradient": [Z.AdanNoBiasCorrection, Z.AdanDiffFromZero, Z.AdanMaximizeIgnored],
    "adan.prox_decay": [Z.AdanNoProx, Z.AdanCoupledDecay],
    "crossval.trajectory": [
        Z.AdanPlainSecondMoment,
        Z.AdanPaperInit,
        Z.AdanNoProx,
        Z.AdanDiffFromZero,
        Z.AdanNoBiasCorrection,
        Z.AdanMaximizeIgnored,
        Z.AdanCoupledDecay,
    ],
}
NAMED = {Z.AdanNoProx: ["no-prox"], Z.AdanPaperInit: ["paper-init"]}


def target(cls: type, path: str | None = None) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, path or f"zoo.adan:{cls.__name__}")


def verdict(check_id: str, tgt: OptimizerTarget):
    settings = Settings(max_examples=hypothesis.settings.default.max_examples, dtype="float64")
    return execute(CHECKS[check_id], Context(tgt, ADAN, settings=settings))


def prepared(path: str, check_id: str, hp: dict | None = None):
    """The check as ``optcheck validate PATH --like Adan`` runs it."""
    ctx = prepare(path, "Adan", hp=hp, max_examples=hypothesis.settings.default.max_examples)
    return execute(CHECKS[check_id], ctx.context)


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == ADAN.invariant_ids | {"crossval.trajectory"}


@pytest.mark.parametrize("check_id", sorted(CAUGHT))
def test_correct_port_passes(check_id):
    result = verdict(check_id, target(Z.ZooAdan))
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(("check_id", "mutant"), first_mutant_each(CAUGHT))
def test_mutant_is_caught(check_id, mutant):
    result = verdict(check_id, target(mutant))
    assert result.verdict == "violation", result.detail


@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    result = verdict("crossval.trajectory", target(mutant))
    ctx = Context(target(mutant), ADAN, settings=Settings())
    assert behaves_like(ctx, evidence_case(result)) == NAMED[mutant]


def test_the_first_step_by_hand():
    """Alg. 1 with d_1 = 0 and corrected moments: θ_1 = (θ_0 − η·g/(|g|+ε))/(1+ηλ)."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    p.grad = torch.ones(1, dtype=torch.float64)
    Z.ZooAdan([p], lr=1.0, eps=0.01, weight_decay=0.5).step()
    assert p.item() == pytest.approx((0 - 1 / 1.01) / 1.5, rel=1e-15)


# --- the real package ------------------------------------------------------------------------

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
PATH = "pytorch_optimizer:Adan"
NO_MAXIMIZE = {"maximize": False}


@pytest.mark.parametrize("check_id", ["crossval.trajectory", "adan.prox_decay"])
def test_real_package_computes_adan_without_maximize(check_id):
    result = prepared(PATH, check_id, hp=NO_MAXIMIZE)
    assert result.verdict == "pass", result.detail


def test_real_package_weight_decouple_is_the_no_prox_variant():
    """weight_decouple=True decays θ(1−ηλ) before the step: the no-prox variant, named."""
    hp = {**NO_MAXIMIZE, "weight_decouple": True}
    result = prepared(PATH, "crossval.trajectory", hp=hp)
    assert result.verdict == "violation", result.detail
    ctx = prepare(PATH, "Adan", hp=hp).context
    assert behaves_like(ctx, evidence_case(result)) == ["no-prox"]


@pytest.mark.parametrize("foreach", [None, False], ids=["foreach", "per-param"])
def test_real_package_finding_maximize_first_difference(foreach):
    """By hand: maximize=True on g must step as maximize=False on −g (both: d_1 = 0, so
    θ_1 = η·g/(|g|+ε) = 1/1.01 from 0 at lr 1, ε 0.01). 4.1 stores the previous gradient −g
    before negating g, so d_1 = −2g and θ_1 = 2.84/2.85; the validator's first step fails."""
    steps = []
    for maximize, g in ((False, -1.0), (True, 1.0)):
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        p.grad = torch.full((1,), g, dtype=torch.float64)
        pytorch_optimizer.Adan([p], lr=1.0, eps=0.01, maximize=maximize, foreach=foreach).step()
        steps.append(p.item())
    assert steps[0] == pytest.approx(1 / 1.01, rel=1e-15)
    assert steps[1] == pytest.approx((1 + 0.92 * 2) / (2.84 + 0.01), rel=1e-15)
    result = prepared(PATH, "adan.first_step", hp={"maximize": True, "foreach": foreach})
    assert result.verdict == "violation", result.detail


@pytest.mark.parametrize(
    ("hp", "left"),
    [({"maximize": True}, -1.0), ({"maximize": False, "foreach": False}, -1.0)],
    ids=["maximize", "per-param"],
)
def test_real_package_finding_writes_into_the_gradient(hp, left):
    """By hand: maximize negates p.grad in place (foreach path), and the per-parameter path
    (foreach=False) ends with grad.neg_() on p.grad itself, leaving −g without maximize."""
    g = torch.tensor([1.0, -2.0, 3.0])
    assert torch.equal(grad_after_step(pytorch_optimizer.Adan, g, lr=1e-3, **hp), left * g)
    result = prepared(PATH, "contract.grad_unchanged", hp=hp)
    assert result.verdict == "violation", result.detail


def test_real_package_finding_deepcopy_loses_maximize():
    assert_deepcopy_loses(pytorch_optimizer.Adan, PATH, "Adan", "maximize")
