"""Adahessian as a catalog record (checks/algorithms/adahessian.py): gradients carry the graph
of a loss with a known diagonal Hessian (reference.hessian), so Hutchinson's estimate is exact;
a port written from Alg. 1 passes, ports broken one way fail (tests/zoo/adahessian.py), and
torch-optimizer 0.3.0's Adahessian matches the reference on every rank it handles."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from recordcheck import context, run, target
from zoo import adahessian as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit.harness import graph_gradients, make_params, set_grads
from optcheck.reference import adahessian
from optcheck.reference.hessian import hessian_diagonal

ADAHESSIAN = OPTIMIZERS["Adahessian"]


def test_first_step_by_hand():
    """t = 1: m̂ = g, v̂ = h², so Δθ = −η·g/(|h|^k + ε) after θ(1 − ηλ); h = (0.5, −1, 1.5)."""
    g, theta0 = np.array([1.0, -2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    hp = {"lr": 0.1, "eps": 1e-4, "weight_decay": 0.5, "hessian_power": 1.0}
    theta, _ = adahessian.adahessian_step(theta0, g, {}, hp, 1)
    h = np.abs(hessian_diagonal((3,)))
    assert np.allclose(theta, theta0 * (1 - 0.05) - 0.1 * g / (h + 1e-4), rtol=1e-15)
    theta, _ = adahessian.adahessian_step(theta0, g, {}, {**hp, "hessian_power": 0.5}, 1)
    assert np.allclose(theta, theta0 * (1 - 0.05) - 0.1 * g / (np.sqrt(h) + 1e-4), rtol=1e-15)


def _port_against_reference(cls: type, shape: tuple[int, ...]) -> float:
    """The largest gap between a zoo port and the reference over four steps (k = 1/2)."""
    rng = np.random.default_rng(1)
    theta, state = rng.standard_normal(shape), {}
    hp = {"lr": 0.1, "betas": (0.9, 0.99), "eps": 1e-4, "weight_decay": 0.1}
    (p,) = make_params([theta])
    opt, gap = cls([p], **hp), 0.0
    for t in range(1, 5):
        g = rng.standard_normal(shape)
        with graph_gradients():
            set_grads([p], [g])
        opt.step()
        theta, state = adahessian.adahessian_step(theta, g, state, hp, t)
        gap = max(gap, float(np.max(np.abs(p.detach().numpy() - theta))))
    return gap


def test_a_port_matches_the_reference_and_a_port_ignoring_curvature_does_not():
    """Default-run stand-in for the cross-validation below (thorough: 10 s): the same
    comparison, by hand, on a 4-D weight (spatial averaging) and a vector."""
    for shape in ((2, 2, 3, 3), (5,)):
        assert _port_against_reference(Z.ZooAdahessian, shape) < 1e-14
        assert _port_against_reference(Z.AdahessianGradientSquared, shape) > 1e-3


@pytest.mark.thorough
def test_a_port_of_algorithm_1_cross_validates():
    result = run(context(ADAHESSIAN, target(Z.ZooAdahessian), examples=4), "crossval.trajectory")
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    "mutant",
    [
        pytest.param(Z.AdahessianGradientSquared, marks=pytest.mark.thorough),
        pytest.param(Z.AdahessianNoSecondCorrection, marks=pytest.mark.thorough),
    ],
    ids=lambda m: m.__name__,
)
def test_a_broken_port_is_caught(mutant):
    result = run(context(ADAHESSIAN, target(mutant), examples=4), "crossval.trajectory")
    assert result.verdict == "violation", result.detail


@pytest.mark.thorough
def test_a_port_of_algorithm_1_passes_the_decay_invariant():
    result = run(context(ADAHESSIAN, target(Z.ZooAdahessian)), "decay.decoupled_pure")
    assert result.verdict == "pass", result.detail


@pytest.mark.realworld
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 2, 3, 3)], ids=str)
def test_real_package_matches_the_reference_on_the_ranks_it_handles(shape):
    """torch-optimizer's Adahessian against the reference, five steps, two Hessian powers:
    within a few float64 roundings. (3-D weights raise or borrow another tensor's trace:
    tests/test_realworld_repros.py.)"""
    cls = pytest.importorskip("torch_optimizer").Adahessian
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(5)]
    for k in adahessian.POWERS:
        hp = {"lr": 0.1, "betas": (0.9, 0.99), "eps": 1e-4, "weight_decay": 0.1, "hessian_power": k}
        (p,) = make_params([theta0])
        opt = cls([p], **hp)
        theta, state = theta0, {}
        for t, g in enumerate(grads, start=1):
            with graph_gradients(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                set_grads([p], [g])
                opt.step()
            theta, state = adahessian.adahessian_step(theta, g, state, hp, t)
            assert np.allclose(p.detach().numpy(), theta, rtol=1e-13, atol=1e-15), (k, t)
    assert torch.is_tensor(p)


@pytest.mark.thorough
def test_identify_names_a_port_under_graph_gradients():
    """``optcheck identify --create-graph``: the port is named Adahessian (5 s)."""
    from optcheck.suites.identify import identify_here

    found = identify_here("zoo.adahessian:ZooAdahessian", cases=2, create_graph=True)
    assert found.asdict()["matches"][:1] == ["Adahessian"], found.asdict()
