"""contract.zero_lr against the records, as --like runs it.

The Lion, Adan and SignSGD records said lr > 0, so under --like every case of contract.zero_lr
(lr = 0) was filtered out and the check skipped as "no valid case could be drawn": a port
whose decay ignores lr (it moves θ at lr = 0) went unseen. Their authors' code takes lr = 0
(google/automl lion_pytorch.py, sail-sg/Adan adan.py: ``0.0 <= lr``) and each step is the
identity there, so the records now hold it. SparseAdam's and Prodigy's records keep lr > 0
(torch's and prodigyopt's ValueError): there the check is a skip that says so.
"""

from __future__ import annotations

import pytest
import torch
from zoo import adan, lion, signsgd

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, premise_excluded
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget

ZERO_LR = CHECKS["contract.zero_lr"]
# (record, a correct port, the same port with its decay not scaled by lr)
PORTS = [
    pytest.param("Lion", lion.ZooLion, lion.LionDecayWithoutLr, id="Lion"),
    pytest.param(
        "SignSGD",
        signsgd.ZooSignum,
        signsgd.SignumDecayWithoutLr,
        id="SignSGD",
        marks=pytest.mark.thorough,
    ),
    pytest.param(
        "Adan", adan.ZooAdan, adan.AdanDecayWithoutLr, id="Adan", marks=pytest.mark.thorough
    ),
]


def _zero_lr(record: str, target: OptimizerTarget, **fixed_hp: float):
    settings = Settings(max_examples=5, fixed_hp=fixed_hp)
    return execute(ZERO_LR, Context(target, OPTIMIZERS[record], settings=settings))


def _port(cls: type) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.{cls.__module__.split('.')[-1]}:{cls.__name__}")


@pytest.mark.parametrize(("record", "correct", "mutant"), PORTS)
def test_a_port_whose_decay_ignores_lr_is_caught(record, correct, mutant):
    """The mutant's θ(1 - λ) (Adan's θ/(1 + λ)) moves θ at lr = 0; the correct port, at the
    same decay, does not. The snippet (torch and the port alone) fails on it. The decay is
    pinned as --hp would (drawn, 10 cases find it in 1.2 s rather than 0.45 s)."""
    assert premise_excluded(ZERO_LR, OPTIMIZERS[record]) is None
    passed = _zero_lr(record, _port(correct), weight_decay=0.1)
    assert passed.verdict == "pass" and passed.examples > 0, passed.detail
    caught = _zero_lr(record, _port(mutant), weight_decay=0.1)
    assert caught.verdict == "violation", caught.detail
    assert "lr is 0, yet step" in caught.detail
    with pytest.raises(AssertionError, match="contract.zero_lr"):
        exec(compile(caught.evidence.snippet, "<snippet>", "exec"), {"__name__": "snippet"})


@pytest.mark.parametrize(
    ("record", "why"),
    [("SparseAdam", "lr must be > 0"), ("Prodigy", "lr, d0 and eps must be positive")],
)
def test_a_premise_outside_the_record_is_a_skip_that_says_why(record, why):
    """SparseAdam's record keeps torch's lr > 0, Prodigy's prodigyopt's (its d estimate grows
    by lr): the reference (and torch's SparseAdam) get the record's reason, not "no valid case
    could be drawn"; Adam's record holds lr = 0."""
    targets = [OptimizerTarget(f"reference-{record}", reference_factory(OPTIMIZERS[record]))]
    if record == "SparseAdam":
        targets.append(OptimizerTarget("torch", torch.optim.SparseAdam, "torch.optim:SparseAdam"))
    for target in targets:
        result = _zero_lr(record, target)
        assert result.verdict == "skip"
        assert result.detail == (
            f"{record}'s hyper-parameter space excludes this check's premise lr = 0.0 ({why})"
        )
    assert premise_excluded(ZERO_LR, OPTIMIZERS["Adam"]) is None
    assert premise_excluded(ZERO_LR, None) is None  # without --like the target decides
