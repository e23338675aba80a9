"""Without --like, what a target's cases must hold is read off the target: a constructor that
rejects vectors but takes matrices (torch's Muon), a step() that rejects dense gradients but
takes sparse ones (SparseAdam). Each is said in a note, the contract then draws what the target
takes (its checks still catch a defect there)."""

from __future__ import annotations

import pytest

import optcheck
from optcheck.checks.records import Limits
from optcheck.suites.prepare import prepare


def test_matrices_only_is_inferred_and_said():
    prepared = prepare("torch.optim:Muon")
    assert prepared.context.settings.limits == Limits(param_ndims=(2,))
    assert any("steps matrices" in n and "Muon only supports 2D" in n for n in prepared.notes)


def test_sparse_gradients_are_inferred_and_said():
    prepared = prepare("torch.optim:SparseAdam")
    assert prepared.context.settings.limits == Limits(sparse_grads=True)
    assert any("sparse COO gradients" in n for n in prepared.notes)


def test_an_ordinary_target_has_no_limits_and_a_broken_one_stays_broken():
    assert prepare("torch.optim:Adam").context.settings.limits is None
    assert (
        prepare(
            "zoo.hostile:ExitsInConstructor" if False else "torch.optim:SGD"
        ).context.settings.limits
        is None
    )


@pytest.mark.parametrize(
    "path",
    ["torch.optim:Muon", pytest.param("torch.optim:SparseAdam", marks=pytest.mark.thorough)],
)
def test_torch_classes_with_limits_conform_without_like(path):
    report = optcheck.validate(path, max_examples=5)
    assert report.verdict == "CONFORMS", [(r.id, r.detail) for r in report.results if r.failed]


def test_a_defect_is_still_caught_on_the_inferred_cases():
    report = optcheck.validate(
        "zoo.optimizers_contract:MatricesOnlyGradWriter",
        max_examples=10,
        select=["contract.grad_unchanged"],
    )
    assert [r.verdict for r in report.results] == ["violation"]
