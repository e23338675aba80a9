"""Without --like, what a target's cases must hold is read off the target: a constructor that
rejects vectors but takes matrices (torch's Muon), a step() that rejects dense gradients but
takes sparse ones (SparseAdam). Each is said in a note, the contract then draws what the target
takes (its checks still catch a defect there)."""

from __future__ import annotations

import pytest

import optcheck
from optcheck.checks.records import Limits
from optcheck.suites.prepare import prepare


def test_matrices_only_is_inferred_from_the_constructor_and_said():
    prepared = prepare("torch.optim:Muon")
    assert prepared.context.settings.limits == Limits(param_ndims=(2,))
    assert any("matrices only" in n and "Muon only supports 2D" in n for n in prepared.notes)


def test_sparse_gradients_are_inferred_by_the_first_check_and_said():
    """step() is not run by prepare (a hanging step must hang a check, inside its limit)."""
    report = optcheck.validate("torch.optim:SparseAdam", max_examples=3, select=["contract.finite"])
    assert report.verdict == "CONFORMS"
    assert "sparse COO gradients: step() rejects a dense one" in report.results[0].detail


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
    [pytest.param("torch.optim:Muon", marks=pytest.mark.thorough), "torch.optim:SparseAdam"],
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
