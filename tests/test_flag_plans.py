"""The fixed flag-plan cases every algorithm check runs before its random draws
(strategies.flag_plans): each flag of the record both ways with weight decay on, on non-empty
tensors. Without them radam.sgd_phase caught a RAdam port that ignores
decoupled_weight_decay on 9 seeds of 12 at 10 examples (seeds 8, 9 and 10 missed it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from zoo import mutants_invariants_b as ZB

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.target import OptimizerTarget
from optcheck.reference.space import Flag

load_all()
FLAGGED = ("RAdam", "NAdam", "Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Lion", "Adan")
RADAM = OPTIMIZERS["RAdam"]


@pytest.mark.parametrize("name", FLAGGED)
def test_each_flag_is_planned_both_ways_with_decay_on(name):
    spec = OPTIMIZERS[name]
    plans = S.flag_plans(spec)
    for flag in (d.name for d in spec.space if isinstance(d, Flag)):
        assert {p[flag] for p in plans} == {False, True}, flag
    for plan in plans:
        assert spec.check_hp({**spec.defaults, **plan}) is None, plan
        assert {**spec.defaults, **plan}["weight_decay"] > 0, plan


def test_a_checks_premise_is_not_planned_over():
    plans = S.flag_plans(RADAM, fixed={"weight_decay": 0.0}, overrides={"maximize": st.just(True)})
    assert plans and all("weight_decay" not in p and "maximize" not in p for p in plans)
    assert {p["decoupled_weight_decay"] for p in plans} == {False, True}


def test_sgd_nesterov_is_planned_with_momentum():
    nesterov = [p for p in S.flag_plans(OPTIMIZERS["SGD"]) if p["nesterov"]]
    assert nesterov and all(p["momentum"] > 0 for p in nesterov)


def test_planned_cases_are_nonempty_and_run_first():
    target = OptimizerTarget("RAdam", torch.optim.RAdam, "torch.optim:RAdam")
    cases = S.target_cases(RADAM, target, {}, steps=(1, 8))
    explicit = cases.explicit()
    plans = S.flag_plans(RADAM)
    assert [{k: c.hp[k] for k in p} for c, p in zip(explicit, plans, strict=True)] == plans
    for case in explicit:
        assert case.steps == 8 and len(case.groups) <= 1 and case.hp["betas"] == (0.9, 0.999)
        assert all(p.size > 0 and np.any(p != 0) for p in case.params0)
        assert all(np.any(g != 0) for gs in case.grads for g in gs)
    recipes = [(c.hp, c.recipe) for c in explicit]
    built = S.builds(lambda c, k: (c, k), cases, st.integers(1, 5))
    assert [(c.hp, c.recipe) for c, _ in built.explicit()] == recipes
    either = S.one_of(cases, cases).explicit()
    assert [(c.hp, c.recipe) for c in either] == recipes * 2
    # One branch (NAdam's checks on a target without decoupled_weight_decay, timm's
    # NAdamLegacy): st.one_of(x) is x, which must keep its own cases, not recurse into itself.
    assert [(c.hp, c.recipe) for c in S.one_of(cases).explicit()] == recipes


def _caught(mutant: type, seed: int, examples: int) -> bool:
    target = OptimizerTarget(mutant.__name__, mutant, f"{ZB.__name__}:{mutant.__name__}")
    settings = Settings(max_examples=examples, seed=seed)
    result = execute(CHECKS["radam.sgd_phase"], Context(target, RADAM, settings=settings))
    return result.verdict == "violation"


# The seeds the random draws alone missed; --thorough: all 12 at 10 and 25 (validate's
# default) examples.
@pytest.mark.parametrize(
    ("mutant", "seed", "examples"),
    [
        *[(ZB.RAdamDecoupledIgnored, s, 10) for s in (8, 9, 10)],
        *[
            pytest.param(m, s, n, marks=pytest.mark.thorough)
            for m in (ZB.RAdamDecoupledIgnored, ZB.RAdamDecayWithoutLr)
            for n in (10, 25)
            for s in range(12)
        ],
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_radam_decay_mutants_are_caught_on_every_seed(mutant, seed, examples):
    assert _caught(mutant, seed, examples)


def test_torch_radam_still_passes_the_planned_cases():
    target = OptimizerTarget("RAdam", torch.optim.RAdam, "torch.optim:RAdam")
    settings = Settings(max_examples=len(S.flag_plans(RADAM)))  # the plans and one draw
    result = execute(CHECKS["radam.sgd_phase"], Context(target, RADAM, settings=settings))
    assert result.verdict == "pass", result.detail
