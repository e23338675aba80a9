"""The optimizer references against torch.optim (float64 round-off) and against the papers."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
import torch
from sampling import every_nth

from optcheck.checks import catalog
from optcheck.checks import tolerance as T
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.harness import run_torch
from optcheck.reference import adam, sgd
from optcheck.reference.trajectory import run

STEPS = 40
# Same formulas, different association order: each step adds a few ulps; over 40 steps of
# displacement the difference stays far below 1e-12 of it (the bound), except at
# corners that amplify rounding, where the error model's derived bound applies (within_model).
REL_TOL = 1e-12
SHAPES = [(), (7,), (3, 4)]


def torch_class(spec):
    module, _, name = spec.torch_class.rpartition(".")
    return getattr(importlib.import_module(module), name)


def problem(seed: int, steps: int = STEPS):
    rng = np.random.default_rng(seed)
    params0 = [rng.normal(size=s) for s in SHAPES]
    scales = 10.0 ** rng.uniform(-3, 2, size=steps)
    grads = [[scales[k] * rng.normal(size=s) for s in SHAPES] for k in range(steps)]
    return params0, grads


def displacement_error(params0, ref, got) -> float:
    """max |ref - got| over the run, relative to the largest displacement |ref - θ0| over the
    run, per tensor. (Per step, a trajectory passing back near θ0 would turn one ulp of |θ|
    into a large "relative" error: seen, AdamW 1.3e-12 from an absolute 2e-16.)"""
    worst = 0.0
    for i, p0 in enumerate(params0):
        scale = max(max(float(np.max(np.abs(r[i] - p0), initial=0.0)) for r in ref), 1e-300)
        for r_step, g_step in zip(ref, got, strict=True):
            worst = max(worst, float(np.max(np.abs(r_step[i] - g_step[i]), initial=0.0)) / scale)
    return worst


def within_model(spec, params0, grads, hp, ref, got) -> None:
    """Every element within the record's derived float64 tolerance. Corners where rounding is
    amplified (Adamax with β2 = 0 and decay: u = |g + λθ| + ε with g + λθ cancelling, 2.4e-11
    of the displacement) exceed the fixed 1e-12, which holds for the well-conditioned rest."""
    tol = T.tolerance(
        spec.error_model, params0, grads, [hp] * len(params0), None, "float64", observed=got
    )
    assert tol.outside is None, tol.outside
    for k, (r_step, g_step) in enumerate(zip(ref, got, strict=True)):
        for i, (r, g) in enumerate(zip(r_step, g_step, strict=True)):
            excess = np.abs(r - g) - tol.theta[k][i]
            assert np.all(excess <= 0), f"{spec.name}: step {k + 1}, tensor {i} beyond the model"


def impl_kwargs(impl: str) -> dict:
    return {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[
        impl
    ]


# Every combination of each record's distinguished hyper-parameter values (flags both ways,
# special values, one interior value), for every catalogued optimizer torch also ships.
# Structured records (matrices only, sparse gradients) need their own problems: they are
# cross-validated against torch in test_reference_structural.py and test_structural_records.py.
DENSE = [r for r in catalog.torch_optimizers() if not r.structured]
CASES = [(record.name, hp) for record in DENSE for hp in S.corners(record.space, record.constraint)]


@pytest.fixture
def float64_scalars():
    """torch keeps some scalar state in the default dtype (NAdam's mu_product, ASGD's eta and
    mu: float32, a known finding tested in test_reference_adaptive.py); with float64 as the
    default the float64 run is float64 throughout, as the reference is."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


MAX_ERROR: dict[tuple[str, str], float] = {}


def _impl_cases() -> list[Any]:
    """By default about 8 corners of each optimizer in forloop and the first in its other
    implementations; every corner in every implementation with --thorough."""
    out, seen = [], {}
    for impl in ("forloop", "foreach", "fused"):
        for name, flags in CASES:
            if impl not in OPTIMIZERS[name].implementations:
                continue
            k = seen[impl, name] = seen.get((impl, name), -1) + 1
            every = max(1, sum(n == name for n, _ in CASES) // 8)
            default = k == 0 or (impl == "forloop" and k % every == 0)
            out.append(
                pytest.param(name, flags, impl, marks=() if default else pytest.mark.thorough)
            )
    return out


@pytest.mark.parametrize(("name", "flags", "impl"), _impl_cases())
def test_reference_matches_torch_float64(name, flags, impl, float64_scalars):
    spec = OPTIMIZERS[name]
    hp = {**spec.defaults, **flags, "lr": 0.01}
    cls = torch_class(spec)
    for seed in range(2):
        params0, grads = problem(seed)
        ref = run(spec.step, params0, grads, hp)
        got = run_torch(lambda ps: cls(ps, **hp, **impl_kwargs(impl)), params0, grads)
        err = displacement_error(params0, ref, got)
        MAX_ERROR[(name, impl)] = max(MAX_ERROR.get((name, impl), 0.0), err)
        if err > REL_TOL:  # an ill-conditioned corner: the error model's own bound rules
            within_model(spec, params0, grads, hp, ref, got)


@pytest.mark.parametrize("name", [r.name for r in DENSE])
def test_reference_follows_changing_lr_like_torch(name, float64_scalars):
    """A scheduler writes group['lr'] between steps; the reference takes the same lrs (with the
    richest corner of the space: the most flags on)."""
    spec = OPTIMIZERS[name]
    corners = S.corners(spec.space, spec.constraint)
    hp = max(corners, key=lambda c: sum(bool(v) for v in c.values()))
    params0, grads = problem(3)
    lrs = 0.05 * 0.5 * (1 + np.cos(np.pi * np.arange(STEPS) / STEPS))
    ref = run(spec.step, params0, grads, hp, lrs=lrs)
    cls = torch_class(spec)
    got = run_torch(lambda ps: cls(ps, **hp), params0, grads, lrs=lrs)
    assert displacement_error(params0, ref, got) <= REL_TOL


def test_skipped_tensor_keeps_its_own_step_count():
    """torch counts steps per tensor: a tensor with grad None is not stepped at all."""
    spec = OPTIMIZERS["Adam"]
    params0, grads = problem(4, steps=10)
    grads = [
        [None if (k % 3 == 0 and i == 1) else g for i, g in enumerate(gs)]
        for k, gs in enumerate(grads)
    ]
    ref = run(spec.step, params0, grads, {**spec.defaults, "lr": 0.1})
    got = run_torch(lambda ps: torch.optim.Adam(ps, lr=0.1), params0, grads)
    assert displacement_error(params0, ref, got) <= REL_TOL


# --- values derived by hand from the papers -------------------------------------------------


@pytest.mark.parametrize("g", [1e-9, 1e-3, 1.0, -250.0])
def test_adam_first_step_is_lr_times_g_over_abs_g_plus_eps(g):
    """Kingma & Ba §3: m̂_1 = g, v̂_1 = g², so Δθ_1 = -η·g/(|g|+ε) whatever β1, β2."""
    lr, eps = 0.01, 1e-8
    for betas in ((0.9, 0.999), (0.0, 0.0), (0.5, 0.99999)):
        hp = {"lr": lr, "betas": betas, "eps": eps}
        p1, _ = adam.adam_step(np.array(2.0), np.array(g), {}, hp, 1)
        assert p1 - 2.0 == pytest.approx(-lr * g / (abs(g) + eps), rel=1e-14)


def test_adam_constant_gradient_has_unit_corrected_moments():
    """Under constant g, m̂_t = g and v̂_t = g² exactly (bias correction, §3)."""
    lr, g, hp = 1e-3, np.array([0.3, -4.0]), {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 0.0}
    p, state = np.zeros(2), {}
    for t in range(1, 200):
        p_new, state = adam.adam_step(p, g, state, hp, t)
        np.testing.assert_allclose(p_new - p, -lr * np.sign(g), rtol=1e-12)
        p = p_new


def test_adamw_decays_by_one_minus_lr_lambda_under_zero_gradients():
    """Loshchilov & Hutter Alg. 2 line 12: with g = 0 only the decay acts, θ_t = (1-ηλ)^t θ_0."""
    hp = {"lr": 0.1, "weight_decay": 0.2, "betas": (0.9, 0.999), "eps": 1e-8}
    p, state = np.array([1.0, -3.0]), {}
    for t in range(1, 51):
        p, state = adam.adamw_step(p, np.zeros(2), state, hp, t)
    np.testing.assert_allclose(p, (1 - 0.02) ** 50 * np.array([1.0, -3.0]), rtol=1e-13)


def test_sgd_buffer_under_constant_gradient_has_closed_form():
    """b_1 = g, b_t = μ b + (1-τ) g  =>  b_t = μ^(t-1) g + (1-τ) g (1-μ^(t-1)) / (1-μ)."""
    mu, tau, g = 0.9, 0.25, np.array([2.0])
    state: dict = {}
    for t in range(1, 60):
        _, state = sgd.sgd_step(
            np.zeros(1), g, state, {"lr": 1.0, "momentum": mu, "dampening": tau}, t
        )
        expected = mu ** (t - 1) * g + (1 - tau) * g * (1 - mu ** (t - 1)) / (1 - mu)
        np.testing.assert_allclose(state["momentum_buffer"], expected, rtol=1e-13)


def test_classic_momentum_equals_torch_form_only_at_constant_lr():
    hp = {"lr": 0.1, "momentum": 0.9}
    params0, grads = problem(5, steps=30)
    torch_form = run(sgd.sgd_step, params0, grads, hp)
    classic = run(sgd.classic_momentum_step, params0, grads, hp)
    assert displacement_error(params0, torch_form, classic) < 1e-13
    lrs = np.linspace(0.1, 0.01, 30)
    torch_form = run(sgd.sgd_step, params0, grads, hp, lrs=lrs)
    classic = run(sgd.classic_momentum_step, params0, grads, hp, lrs=lrs)
    assert displacement_error(params0, torch_form, classic) > 1e-3


@pytest.mark.parametrize(
    "name", every_nth([n for n, r in OPTIMIZERS.items() if not r.structured], 2)
)
def test_every_variant_differs_from_its_spec(name):
    """A named variant that coincides with the record's step on every corner of its space
    could never be told apart by the validator."""
    params0, grads = problem(6, steps=20)
    spec = OPTIMIZERS[name]
    lrs = np.linspace(0.05, 0.01, 20)
    corners = S.corners(spec.space, spec.constraint)
    bases = [run(spec.step, params0, grads, hp, lrs=lrs) for hp in corners]
    for variant in spec.variants:
        apart = max(
            displacement_error(params0, base, run(variant.fn, params0, grads, hp, lrs=lrs))
            for hp, base in zip(corners, bases, strict=True)
        )
        if apart <= 1e-6:  # a floor under a square root shows only on tiny gradients
            tiny = [[g * 1e-8 for g in gs] for gs in grads]
            apart = max(
                displacement_error(
                    params0, run(spec.step, params0, tiny, hp, lrs=lrs),
                    run(variant.fn, params0, tiny, hp, lrs=lrs),
                )
                for hp in corners
            )  # fmt: skip
        assert apart > 1e-6, (spec.name, variant.name)


def test_report_largest_error_per_optimizer(capsys):
    """Prints the table the closing note quotes (runs after the parametrized tests)."""
    if not MAX_ERROR:
        pytest.skip("run with the cross-validation tests to collect errors")
    with capsys.disabled():
        for (name, impl), err in sorted(MAX_ERROR.items()):
            print(f"\n  max relative error {name:6s} {impl:8s} {err:.2e}", end="")
