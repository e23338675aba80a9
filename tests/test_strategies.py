"""The drawn cases: regenerable from their recipe, JSON-able, covering the magnitudes, shapes,
groups and lr changes the issue asks for."""

from __future__ import annotations

import json

import hypothesis
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit import strategies as S
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget

ADAM = OPTIMIZERS["Adam"]
HP = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}


def recipe(**kw):
    base = {"seed": 7, "steps": 6, "shapes": [[8]], "kinds": ["random"], "exponent": 0}
    return {**base, "param_exponent": 0, **kw}


def test_hyperparams_keeps_its_api():
    strategy = S.hyperparams(
        ADAM,
        fixed={"amsgrad": True},
        accepts=lambda k: k != "maximize",
        overrides={"lr": st.just(0.5)},
    )
    hp = hypothesis.find(strategy, lambda hp: True)
    assert hp["amsgrad"] is True and hp["lr"] == 0.5 and "maximize" not in hp


def test_case_is_regenerated_exactly_from_its_recipe():
    a = S.build_case(HP, recipe(kinds=["mixed"], shapes=[[3, 4]]))
    b = S.build_case(HP, recipe(kinds=["mixed"], shapes=[[3, 4]]))
    c = S.reseeded(a, 8)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a.grads, b.grads, strict=True))
    assert not np.array_equal(a.grads[0][0], c.grads[0][0])
    assert c.shapes == a.shapes and c.hp == a.hp


@hypothesis.settings(max_examples=20)
@given(S.cases(ADAM, max_groups=3, max_tensors=3, schedules=S.SCHEDULES))
def test_describe_round_trips_through_json(case):
    back = S.Case.from_description(json.loads(json.dumps(case.describe())))
    assert back.hp == case.hp and back.lrs == case.lrs and back.groups == case.groups
    assert back.group_hp == case.group_hp and back.shapes == case.shapes
    for gs, hs in zip(case.grads, back.grads, strict=True):
        assert all(np.array_equal(g, h) for g, h in zip(gs, hs, strict=True))
    assert all(np.array_equal(p, q) for p, q in zip(case.params0, back.params0, strict=True))


@pytest.mark.parametrize("kind", S.GRAD_KINDS)
def test_gradient_kinds_do_what_they_say(kind):
    eps = 1e-8
    seq = S.gradient_sequence(kind, (64,), 8, 2, seed=1, eps=eps)
    mags = np.abs(np.stack(seq))
    if kind in ("constant", "near_eps", "near_sqrt_eps"):
        assert all(np.array_equal(g, seq[0]) for g in seq)
    if kind == "zeros":
        assert not mags.any()
    if kind == "sign_flip":
        assert np.array_equal(seq[1], -seq[0])
    if kind == "sparse":
        assert 0.4 < np.mean(mags == 0) < 0.95
    if kind == "spike":
        assert mags[1:].max() <= 1e-3 * mags[0].min() * 10  # v must decay after it
    if kind == "ramp":
        assert np.allclose(mags[-1] / mags[0], 1e3)
    if kind == "near_eps":
        assert np.all((mags > eps / 4) & (mags < eps * 4))
    if kind == "near_sqrt_eps":
        assert np.all((mags > 1e-4 / 4) & (mags < 1e-4 * 4))
    if kind == "mixed":
        assert mags.min() < 1e-9 and mags.max() > 1e3


def test_magnitudes_span_1e_minus_12_to_1e6():
    lo = S.gradient_sequence("constant", (256,), 1, -12, seed=0)[0]
    hi = S.gradient_sequence("constant", (256,), 1, 6, seed=0)[0]
    assert np.abs(lo).min() < 1e-12 * 3 and np.abs(hi).max() > 1e6 / 3
    assert np.abs(lo).min() > 0  # magnitudes never collapse to exact zero


@pytest.mark.parametrize(
    ("predicate", "what"),
    [
        (lambda c: () in c.shapes, "0-d"),
        (lambda c: any(0 in s for s in c.shapes), "empty"),
        (lambda c: any(int(np.prod(s)) >= 8 for s in c.shapes), "≥ 8 elements"),
        (lambda c: len(c.params0) >= 3, "several params"),
        (lambda c: len(c.groups) >= 2 and c.group_hp[1] != {}, "several groups"),
        (lambda c: c.lrs is not None and len(set(c.lrs)) > 1, "lr changed between steps"),
        (lambda c: c.steps >= 10, "long sequences"),
    ],
)
def test_cases_reach(predicate, what):
    strategy = S.cases(ADAM, max_groups=3, schedules=S.SCHEDULES)
    quick = hypothesis.settings(max_examples=500, database=None, phases=[hypothesis.Phase.generate])
    case = hypothesis.find(strategy, predicate, settings=quick)
    assert predicate(case), what


@pytest.mark.parametrize("kind", S.SCHEDULES)
def test_lr_schedules_are_positive_and_as_long_as_the_run(kind):
    lrs = S.lr_schedule(kind, 0.1, 9, seed=3)
    if kind == "constant":
        assert lrs is None
    else:
        assert len(lrs) == 9 and min(lrs) > 0 and len(set(lrs)) > 1


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_rounded_inputs_are_exactly_representable(dtype):
    case = S.build_case(HP, recipe(kinds=["mixed"], exponents=[-3, 3]))
    r = case.rounded(dtype)
    tdt = getattr(torch, dtype)
    for g in (r.grads[0][0], r.params0[0]):
        assert np.array_equal(torch.as_tensor(g).to(tdt).double().numpy(), g)
    assert not np.array_equal(r.grads[0][0], case.grads[0][0])
    assert case.rounded("float64") is case


def test_param_groups_reach_the_target_with_their_own_hyper_parameters():
    case = S.build_case(
        HP,
        recipe(shapes=[[3], [4]], kinds=["random", "random"]),
        groups=[[0], [1]],
        group_hp=[{}, {"betas": (0.0, 0.5), "amsgrad": True, "lr": 0.2}],
    )
    target = OptimizerTarget("ref", reference_factory(ADAM))
    got, ref = case.run_target(target), case.run_reference(ADAM.step)
    for gk, rk in zip(got, ref, strict=True):
        for g, r in zip(gk, rk, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-13, atol=0)
    plain = case.replace(groups=(), group_hp=())
    assert not np.allclose(plain.run_reference(ADAM.step)[-1][1], ref[-1][1])


def test_dyadic_scalars_are_powers_of_two():
    x = hypothesis.find(S.dyadic(), lambda v: v < 0 and abs(v) != 1)
    assert np.log2(abs(x)) == round(np.log2(abs(x)))
