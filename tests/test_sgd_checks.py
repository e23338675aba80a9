"""SGD-family invariants: pass on torch.optim.SGD (every implementation), on the float64
reference and on a correct third-party-style SGD; fail on the broken ones in tests/zoo."""

from __future__ import annotations

import hypothesis
import numpy as np
import pytest
import torch
from zoo import optimizers_numeric as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import sgd
from optcheck.reference.trajectory import run

load_all()
SGD = OPTIMIZERS["SGD"]
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
IDS = ["sgd.linearity", "sgd.buffer_closed_form", "sgd.classic_equivalence", "nesterov.relation"]
# Which check catches which mutant (each check: at least one; see the closing note's table).
CAUGHT = {
    "sgd.linearity": [Z.SGDGradClipped, Z.SGDFloat32Internal],
    "sgd.buffer_closed_form": [
        Z.SGDDampenedStart,
        Z.SGDDampeningIgnored,
        Z.SGDLrInsideBuffer,
        Z.SGDMaximizeIgnored,
        Z.SGDLrCached,
    ],
    "sgd.classic_equivalence": [
        Z.SGDLrInsideBuffer,
        Z.SGDWeightDecayIgnored,
        Z.SGDDecayAfterMomentum,
    ],
    "nesterov.relation": [Z.SGDNesterovIgnored, Z.SGDNesterovOldBuffer, Z.SGDLrInsideBuffer],
}


def verdict(check_id, target):
    settings = Settings(max_examples=hypothesis.settings.default.max_examples)
    return execute(CHECKS[check_id], Context(target, SGD, settings=settings))


def zoo_target(cls):
    return OptimizerTarget(cls.__name__, cls, f"zoo.optimizers_numeric:{cls.__name__}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("check_id", IDS)
def test_passes_on_torch(check_id, impl):
    target = OptimizerTarget(f"SGD[{impl}]", torch.optim.SGD, "torch.optim:SGD", IMPLS[impl])
    result = verdict(check_id, target)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize("check_id", IDS)
def test_passes_on_the_reference_and_a_correct_third_party_sgd(check_id):
    for target in (OptimizerTarget("reference", reference_factory(SGD)), zoo_target(Z.ZooSGD)):
        result = verdict(check_id, target)
        assert result.verdict == "pass", (target.label, result.detail)


@pytest.mark.parametrize(
    ("check_id", "mutant"),
    [(c, m) for c, ms in CAUGHT.items() for m in ms],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_fails_on_mutant(check_id, mutant):
    result = verdict(check_id, zoo_target(mutant))
    assert result.verdict == "violation", result.detail
    ev = result.evidence
    assert ev.step >= 1 and ev.error_in_tol > 1 and ev.case and ev.snippet


@pytest.mark.parametrize("impl", IMPLS)
def test_buffer_closed_form_at_momentum_zero_is_minus_lr_g(impl):
    """--hp momentum=0: torch keeps no buffer and steps −η·g; dampening (still drawn) applies to
    a buffer only, so the closed form must not apply it (it used to fail torch's own SGD)."""
    target = OptimizerTarget(f"SGD[{impl}]", torch.optim.SGD, "torch.optim:SGD", IMPLS[impl])
    settings = Settings(max_examples=10, fixed_hp={"momentum": 0.0})
    result = execute(CHECKS["sgd.buffer_closed_form"], Context(target, SGD, settings=settings))
    assert result.verdict == "pass", result.detail


def test_momentum_checks_skip_a_target_without_momentum():
    class PlainSGD(torch.optim.SGD):
        def __init__(self, params, lr=1e-3, weight_decay=0.0, maximize=False):
            super().__init__(params, lr=lr, weight_decay=weight_decay, maximize=maximize)

    for check_id in ("sgd.buffer_closed_form", "nesterov.relation"):
        result = verdict(check_id, OptimizerTarget("plain", PlainSGD))
        assert result.verdict == "skip" and "momentum" in result.detail
    assert verdict("sgd.linearity", OptimizerTarget("plain", PlainSGD)).verdict == "pass"


def test_linearity_evidence_names_the_combination():
    result = verdict("sgd.linearity", zoo_target(Z.SGDGradClipped))
    case = result.evidence.case
    assert {"a", "b", "runs"} <= set(case) and len(case["runs"]) == 3


def test_classic_form_differs_from_torch_by_the_predicted_amount():
    """The relation classic_equivalence relies on: with a changing lr, classic momentum's
    direction is off by μ(η_{t−1}/η_t − 1)·d_{t−1} from the lr-free recursion."""
    rng = np.random.default_rng(0)
    hp, mu = {"lr": 0.1, "momentum": 0.9}, 0.9
    grads = [[rng.normal(size=5)] for _ in range(6)]
    lrs = [0.1, 0.05, 0.2, 0.2, 0.01, 0.07]
    traj = [np.zeros(5)] + [
        p[0] for p in run(sgd.classic_momentum_step, [np.zeros(5)], grads, hp, lrs)
    ]
    d = [-(traj[k + 1] - traj[k]) / lrs[k] for k in range(6)]
    for k in range(1, 6):
        off = d[k] - (mu * d[k - 1] + grads[k][0])
        np.testing.assert_allclose(off, mu * (lrs[k - 1] / lrs[k] - 1) * d[k - 1], atol=1e-12)
