"""AdaBelief as a catalog record: a correct port passes every check, each invariant and the
cross-validation fail on broken ports (tests/zoo/adabelief.py), variants are named, and the
real package's verdicts are the ones its code earns, each finding reproduced by hand below.

pytorch-optimizer 4.1.0 (pinned in the test extra) computes AdaBelief as Alg. 2 with the
authors' decoupled decay (cross-validation and invariants pass in float64); its flags are the
named variants (weight_decouple=False: coupled-decay, fixed_decay=True: decay-without-lr,
adam_debias=True: no-first-moment-correction). Its findings: a deep copy loses attributes set
in __init__, and maximize=True, or coupled decay, writes into p.grad.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from real_findings import assert_deepcopy_loses, grad_after_step
from recordcheck import context, named, prepared, run, target
from sampling import first_mutant_each
from zoo import adabelief as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.reference import adabelief

ADABELIEF = OPTIMIZERS["AdaBelief"]
CAUGHT = {
    "adabelief.first_step": [
        Z.AdaBeliefOldMomentum,
        Z.AdaBeliefAdamSecondMoment,
        Z.AdaBeliefNoSecondCorrection,
        Z.AdaBeliefNoFirstCorrection,
        Z.AdaBeliefEpsOutsideS,
        Z.AdaBeliefMaximizeIgnored,
    ],
    "adabelief.constant_gradient": [
        Z.AdaBeliefAdamSecondMoment,
        Z.AdaBeliefOldMomentum,
        Z.AdaBeliefNoSecondCorrection,
        Z.AdaBeliefNoFirstCorrection,
        Z.AdaBeliefEpsOutsideS,
    ],
    "decay.decoupled_pure": [Z.AdaBeliefCoupledDecay, Z.AdaBeliefDecayWithoutLr],
    "crossval.trajectory": [
        Z.AdaBeliefNoSecondCorrection,
        Z.AdaBeliefAdamSecondMoment,
        Z.AdaBeliefOldMomentum,
        Z.AdaBeliefEpsOutsideS,
        Z.AdaBeliefNoFirstCorrection,
        Z.AdaBeliefCoupledDecay,
        Z.AdaBeliefDecayWithoutLr,
        Z.AdaBeliefMaximizeIgnored,
    ],
}
NAMED = {
    Z.AdaBeliefCoupledDecay: ["coupled-decay"],
    Z.AdaBeliefDecayWithoutLr: ["decay-without-lr"],
    Z.AdaBeliefEpsOutsideS: ["eps-outside-s"],
    Z.AdaBeliefNoFirstCorrection: ["no-first-moment-correction"],
}


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == ADABELIEF.invariant_ids | {"crossval.trajectory"}


def test_first_step_is_one_over_beta1_of_adams():
    """Alg. 2 by hand at t = 1, β = (0.9, 0.999), ε = 1e-16, g = 2: m_1 = 0.2, g − m_1 = 1.8,
    s_1 = 0.001·3.24 + ε, ŝ_1 = 3.24 + 1e-13, so Δθ = −η·2/1.8 = −η/0.9 (Adam: −η)."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    p.grad = torch.full((1,), 2.0, dtype=torch.float64)
    Z.ZooAdaBelief([p], lr=0.1).step()
    assert p.item() == pytest.approx(-0.1 / 0.9, rel=1e-12)
    theta, _ = adabelief.adabelief_step(np.zeros(1), np.full(1, 2.0), {}, {"lr": 0.1}, 1)
    assert theta[0] == pytest.approx(-0.1 / 0.9, rel=1e-12)


@pytest.mark.parametrize("check_id", sorted(CAUGHT))
def test_correct_port_passes(check_id):
    result = run(context(ADABELIEF, target(Z.ZooAdaBelief)), check_id)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(("check_id", "mutant"), first_mutant_each(CAUGHT))
def test_mutant_is_caught(check_id, mutant):
    result = run(context(ADABELIEF, target(mutant)), check_id)
    assert result.verdict == "violation", result.detail


@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    assert named(context(ADABELIEF, target(mutant))) == NAMED[mutant]


# --- the real package ------------------------------------------------------------------------

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
PATH = "pytorch_optimizer:AdaBelief"


@pytest.mark.parametrize(
    "check_id", ["crossval.trajectory", "adabelief.first_step", "adabelief.constant_gradient"]
)
def test_real_package_computes_adabelief(check_id):
    result = run(prepared(PATH, "AdaBelief"), check_id)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    "dtype",
    ["float32", pytest.param("bfloat16", marks=pytest.mark.thorough), "float16"],
)
def test_real_package_cross_validates_below_float64(dtype):
    result = run(prepared(PATH, "AdaBelief", dtype=dtype), "crossval.trajectory")
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    ("flag", "variant"),
    [
        ({"weight_decouple": False}, "coupled-decay"),
        pytest.param({"fixed_decay": True}, "decay-without-lr", marks=pytest.mark.thorough),
        pytest.param(
            {"adam_debias": True}, "no-first-moment-correction", marks=pytest.mark.thorough
        ),
    ],
)
def test_real_package_flags_are_the_named_variants(flag, variant):
    """As the flags' code reads (pytorch_optimizer/base/optimizer.py: weight_decouple=False
    adds λθ to the gradient, fixed_decay=True multiplies θ by 1−λ, adam_debias=True drops the
    1/(1−β1^t) of the step size), the validator names the variant."""
    ctx = prepared(PATH, "AdaBelief", flag)
    assert run(ctx, "crossval.trajectory").verdict == "violation"
    assert named(ctx) == [variant]


def test_real_package_finding_deepcopy_loses_init_attributes():
    """A deep-copied AdaBelief has lost n_sma_threshold (and degenerated_to_sgd, maximize),
    set on self in __init__."""
    assert_deepcopy_loses(pytorch_optimizer.AdaBelief, PATH, "AdaBelief", "n_sma_threshold")


@pytest.mark.parametrize("foreach", [None, False], ids=["foreach", "forloop"])
@pytest.mark.parametrize(
    ("hp", "written"),
    [
        ({"maximize": True}, lambda g: -g),
        ({"weight_decay": 0.1, "weight_decouple": False}, lambda g: g + 0.1),
    ],
    ids=["maximize", "coupled-decay"],
)
def test_real_package_finding_step_writes_into_the_gradient(foreach, hp, written):
    """By hand (θ = 1): maximize=True negates p.grad in place (maximize_gradient:
    grad.neg_()) and weight_decouple=False adds λθ to it (apply_weight_decay: grad.add_(p)),
    in both code paths; contract.grad_unchanged finds each."""
    g = torch.tensor([1.0, -2.0, 3.0])
    after = grad_after_step(pytorch_optimizer.AdaBelief, g, lr=1e-3, foreach=foreach, **hp)
    assert torch.equal(after, written(g))
    result = run(prepared(PATH, "AdaBelief", {"maximize": False, **hp}), "contract.grad_unchanged")
    assert result.verdict == "violation"
