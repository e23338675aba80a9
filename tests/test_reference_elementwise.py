"""Adagrad, RMSprop, Adadelta and Adamax references against torch.optim (float64) and the papers.

What a tolerance model must know about torch 2.13's arrangement on CPU (AVX512 build here),
found while writing these (pinned by the tests below or stated in the reference modules):
* ``add(alpha=)``, ``addcmul`` and ``lerp`` round once: they are fused multiply-adds
  (s + v·t1·t2 is fma(v·t1, t2, s)); ``addcdiv`` is s + (v·t1)/t2 with ordinary rounding.
  The references use plain numpy products (two roundings), so they differ by ulps per step.
* foreach on CPU falls back to the per-tensor ops: bit-identical to forloop. Fused Adagrad
  (one pass of explicit vector mul/add, no FMA) differs from forloop by an ulp here and there.
* Scalars (1-α, 1-ρ, 1-β1, η/(1+(t-1)d), η/(1-β1^t)) are Python doubles, rounded to the
  tensor dtype only when an op takes them; the step count lives in a float32 tensor.
* Moving averages are ``mul_(β).addcmul_(g, g, value=1-β)`` except RMSprop's grad_avg and
  Adamax's exp_avg: ``lerp_(g, 1-β)`` = m + (1-β)(g - m), not βm + (1-β)g.
Worst reference-vs-torch error over all cases is 1.6e-13 of the displacement (Adamax,
Adadelta; Adagrad and RMSprop ~1e-14), under the 1e-12 bound. Those are absolute errors of
at most an ulp of |θ| (≤ 2.2e-16 at |θ| ≈ 2), divided by the displacement at a step where
the 0-d parameter's random walk has come back near θ0; nothing accumulates.
"""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest
import torch
from sampling import every_nth

from optcheck.checks.kit.harness import run_torch
from optcheck.reference import adadelta, adagrad, adamax, rmsprop
from optcheck.reference.space import defaults
from optcheck.reference.trajectory import run

STEPS = 40
# Same formulas, different association order (lerp vs products, where the lr multiplies):
# a few ulps per step; over 40 steps the difference stays far below 1e-12 of the displacement.
REL_TOL = 1e-12
SHAPES = [(), (7,), (3, 4)]

MODULES = {"Adagrad": adagrad, "RMSprop": rmsprop, "Adadelta": adadelta, "Adamax": adamax}
STEP = {
    "Adagrad": adagrad.adagrad_step,
    "RMSprop": rmsprop.rmsprop_step,
    "Adadelta": adadelta.adadelta_step,
    "Adamax": adamax.adamax_step,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Steps on ≤ 12 elements gain nothing from threads, and on a shared 2-core machine the
    OpenMP hand-off dominates (fused Adagrad's parallel_for has grain 0): 10-20x faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def problem(seed: int, steps: int = STEPS, lo: float = -3.0, hi: float = 2.0):
    """Random θ0 and gradients whose scale changes every step, 10^lo .. 10^hi."""
    rng = np.random.default_rng(seed)
    params0 = [rng.normal(size=s) for s in SHAPES]
    scales = 10.0 ** rng.uniform(lo, hi, size=steps)
    grads = [[scales[k] * rng.normal(size=s) for s in SHAPES] for k in range(steps)]
    return params0, grads


def displacement_error(params0, ref, got) -> float:
    """max |ref - got| over the run, relative to the largest displacement |ref - θ0|."""
    worst = 0.0
    for r_step, g_step in zip(ref, got, strict=True):
        for p0, r, g in zip(params0, r_step, g_step, strict=True):
            scale = max(np.max(np.abs(r - p0), initial=0.0), np.finfo(float).tiny)
            worst = max(worst, float(np.max(np.abs(r - g), initial=0.0)) / scale)
    return worst


def impl_kwargs(impl: str) -> dict:
    return {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[
        impl
    ]


def base_hp(name: str) -> dict:
    return {**defaults(MODULES[name].SPACE), "lr": 1.0 if name == "Adadelta" else 0.01}


# Every flag combination and the special values where the formulas change.
GRIDS = {
    "Adagrad": dict(
        lr_decay=(0.0, 0.1),
        weight_decay=(0.0, 0.05),
        initial_accumulator_value=(0.0, 0.5),
        eps=(1e-10, 1e-3),
        maximize=(False, True),
    ),
    "RMSprop": dict(
        centered=(False, True),
        momentum=(0.0, 0.9),
        alpha=(0.99, 0.5),
        weight_decay=(0.0, 0.05),
        maximize=(False, True),
    ),
    "Adadelta": dict(
        lr=(1.0, 0.3),
        rho=(0.9, 0.0, 1.0),
        eps=(1e-6, 1e-3),
        weight_decay=(0.0, 0.05),
        maximize=(False, True),
    ),
    "Adamax": dict(
        betas=((0.9, 0.999), (0.0, 0.5)),
        eps=(1e-8, 1e-3),
        weight_decay=(0.0, 0.05),
        maximize=(False, True),
    ),
}
CASES = [
    (name, impl, seed, dict(zip(grid, values, strict=True)))
    for name, grid in GRIDS.items()
    for seed, values in enumerate(itertools.product(*grid.values()))
    for impl in MODULES[name].IMPLEMENTATIONS
]
MAX_ERROR: dict[tuple[str, str], float] = {}


def _case_id(case) -> str:
    name, impl, _, flags = case
    return "-".join([name, impl, *(f"{k}={v}" for k, v in flags.items())])


def _record(name: str, impl: str, err: float) -> None:
    MAX_ERROR[(name, impl)] = max(MAX_ERROR.get((name, impl), 0.0), err)


# The catalog's corners run by default in test_reference_optimizers; here a sample of this
# exhaustive sweep, all of it with --thorough.
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=_case_id(c), marks=m.marks)
        for c, m in zip(CASES, every_nth(CASES, 8), strict=True)
    ],
)
def test_reference_matches_torch_float64(case):
    name, impl, seed, flags = case
    hp = {**base_hp(name), **flags}
    cls = getattr(torch.optim, name)
    params0, grads = problem(seed)
    ref = run(STEP[name], params0, grads, hp)
    got = run_torch(lambda ps: cls(ps, **hp, **impl_kwargs(impl)), params0, grads)
    err = displacement_error(params0, ref, got)
    _record(name, impl, err)
    assert err <= REL_TOL, f"{name} {impl} {flags}: relative error {err:.3g}"


ALL_ON = {
    "Adagrad": dict(lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": dict(momentum=0.9, centered=True, weight_decay=0.01),
    "Adadelta": dict(weight_decay=0.01),
    "Adamax": dict(weight_decay=0.01),
}


@pytest.mark.parametrize(
    ("name", "impl"), [(n, i) for n, m in MODULES.items() for i in m.IMPLEMENTATIONS]
)
def test_reference_follows_changing_lr_like_torch(name, impl):
    """A scheduler writes group['lr'] between steps; the reference takes the same lrs."""
    hp = {**base_hp(name), **ALL_ON[name]}
    peak = 1.0 if name == "Adadelta" else 0.05
    lrs = peak * 0.5 * (1 + np.cos(np.pi * np.arange(STEPS) / STEPS))
    params0, grads = problem(100)
    cls = getattr(torch.optim, name)
    ref = run(STEP[name], params0, grads, hp, lrs=lrs)
    got = run_torch(lambda ps: cls(ps, **hp, **impl_kwargs(impl)), params0, grads, lrs=lrs)
    err = displacement_error(params0, ref, got)
    _record(name, impl, err)
    assert err <= REL_TOL


@pytest.mark.parametrize("name", ["Adagrad", "Adamax"])
def test_step_count_is_per_tensor(name):
    """lr_decay (Adagrad) and 1-β1^t (Adamax) use each tensor's own count: grad None skips."""
    hp = {**base_hp(name), **ALL_ON[name], "lr": 0.1}
    params0, grads = problem(7, steps=12)
    for k, gs in enumerate(grads):
        if k % 3 == 0:
            gs[1] = None
    ref = run(STEP[name], params0, grads, hp)
    got = run_torch(lambda ps: getattr(torch.optim, name)(ps, **hp), params0, grads)
    assert displacement_error(params0, ref, got) <= REL_TOL


@pytest.mark.parametrize("name", list(MODULES))
def test_reference_state_matches_torch_state(name):
    """State keys are torch's, and after 10 steps the values agree (all flags on)."""
    hp = {**base_hp(name), **ALL_ON[name]}
    rng = np.random.default_rng(11)
    p0 = rng.normal(size=5)
    param = torch.nn.Parameter(torch.tensor(p0))
    opt = getattr(torch.optim, name)([param], **hp)
    p, state = p0.copy(), {}
    for t in range(1, 11):
        g = 10.0 ** rng.uniform(-3, 2) * rng.normal(size=5)
        param.grad = torch.tensor(g)
        opt.step()
        p, state = STEP[name](p, g, state, hp, t)
    torch_state = opt.state[param]
    assert set(torch_state) == set(state) | {"step"}
    assert set(torch_state) <= set(MODULES[name].STATE_KEYS)
    assert float(torch_state["step"]) == 10
    for key, value in state.items():
        np.testing.assert_allclose(torch_state[key].numpy(), value, rtol=1e-12, atol=0)


# --- the module-level constants the catalog will wire in ------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_space_defaults_are_torchs(name):
    sig = inspect.signature(getattr(torch.optim, name).__init__).parameters
    space_defaults = defaults(MODULES[name].SPACE)
    for key, value in space_defaults.items():
        assert sig[key].default == value, (name, key)
    assert MODULES[name].constraint(space_defaults) is None


@pytest.mark.parametrize("name", list(MODULES))
def test_implementations_are_the_ones_torch_offers(name):
    """fused is listed exactly when the constructor takes fused=True and steps with it."""
    mod = MODULES[name]
    param = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    param.grad = torch.ones(3, dtype=torch.float64)
    for impl in ("forloop", "foreach", "fused"):
        try:
            getattr(torch.optim, name)([param], **impl_kwargs(impl)).step()
            offered = True
        except TypeError:
            offered = False
        assert offered == (impl in mod.IMPLEMENTATIONS), (name, impl)


CONSTRAINT_PROBES = {
    "Adagrad": [
        {"lr": -1e-3},
        {"lr_decay": -0.1},
        {"weight_decay": -0.1},
        {"initial_accumulator_value": -0.1},
        {"eps": -1e-10},
        {"lr_decay": 5.0, "initial_accumulator_value": 3.0, "eps": 0.0},
    ],
    "RMSprop": [
        {"lr": -1e-3},
        {"alpha": -0.1},
        {"alpha": 0.0},
        {"alpha": 1.5},  # accepted by torch: it checks alpha >= 0 only
        {"eps": -1e-8},
        {"momentum": -0.1},
        {"momentum": 1.5},  # accepted by torch too
        {"weight_decay": -0.1},
    ],
    "Adadelta": [
        {"lr": -1.0},
        {"rho": -0.1},
        {"rho": 1.0},
        {"rho": 1.0 + 1e-9},
        {"eps": -1e-6},
        {"weight_decay": -0.1},
    ],
    "Adamax": [
        {"lr": -1e-3},
        {"betas": (-0.1, 0.999)},
        {"betas": (1.0, 0.999)},
        {"betas": (0.9, 1.0)},
        {"betas": (0.0, 0.0)},
        {"eps": -1e-8},
        {"weight_decay": -0.1},
    ],
}


@pytest.mark.parametrize("name", list(MODULES))
def test_constraint_mirrors_torch_value_errors(name):
    for probe in CONSTRAINT_PROBES[name]:
        hp = {**defaults(MODULES[name].SPACE), **probe}
        try:
            getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))], **hp)
            torch_ok = True
        except ValueError:
            torch_ok = False
        assert (MODULES[name].constraint(hp) is None) == torch_ok, (name, probe)


@pytest.mark.parametrize("name", list(MODULES))
def test_bytes_per_element_counts_torchs_state_tensors(name):
    """param r+w, grad r, and r+w of each full-size state tensor torch keeps (step excluded)."""
    for flags in ({}, ALL_ON[name]):
        hp = {**base_hp(name), **flags}
        param = torch.nn.Parameter(torch.zeros(6))
        param.grad = torch.ones(6)
        opt = getattr(torch.optim, name)([param], **hp)
        opt.step()
        n_state = sum(1 for k, v in opt.state[param].items() if k != "step" and v.numel() == 6)
        expected = (3 + 2 * n_state) * 4
        assert MODULES[name].bytes_per_element(hp, 4) == expected, (name, flags)
        assert MODULES[name].bytes_per_element(hp, 8) == 2 * expected


# --- values derived by hand from the papers -------------------------------------------------

GS = [1e-9, 1e-3, 1.0, -250.0]


@pytest.mark.parametrize("g", GS)
def test_adagrad_first_step(g):
    """Duchi et al. Fig. 1 with s_0 = τ: Δθ_1 = -η g/(√(τ+g²)+ε); τ = 0 gives -η g/(|g|+ε)."""
    lr, eps = 0.01, 1e-10
    p1, _ = adagrad.adagrad_step(np.array(2.0), np.array(g), {}, {"lr": lr, "eps": eps}, 1)
    assert p1 - 2.0 == pytest.approx(-lr * g / (abs(g) + eps), rel=1e-14)
    hp = {"lr": lr, "eps": eps, "initial_accumulator_value": 0.3, "lr_decay": 0.7}
    p1, _ = adagrad.adagrad_step(np.array(2.0), np.array(g), {}, hp, 1)
    assert p1 - 2.0 == pytest.approx(-lr * g / (math.sqrt(0.3 + g * g) + eps), rel=1e-14)


def test_adagrad_constant_gradient_closed_form():
    """s_t = τ + t g², η̃_t = η/(1+(t-1)d): Δθ_t = -η̃_t g/(√(τ + t g²) + ε)."""
    lr, d, tau, eps, g = 0.1, 0.2, 0.25, 1e-10, np.array([0.3, -4.0])
    hp = {"lr": lr, "lr_decay": d, "initial_accumulator_value": tau, "eps": eps}
    p, state = np.zeros(2), {}
    for t in range(1, 60):
        p_new, state = adagrad.adagrad_step(p, g, state, hp, t)
        expected = -lr / (1 + (t - 1) * d) * g / (np.sqrt(tau + t * g * g) + eps)
        np.testing.assert_allclose(p_new - p, expected, rtol=1e-13)
        p = p_new


@pytest.mark.parametrize("g", GS)
def test_rmsprop_first_step(g):
    """v_1 = (1-α)g² so Δθ_1 = -η g/(√(1-α)|g| + ε), momentum or not (b_1 = g/d);
    centred: ḡ_1 = (1-α)g, ṽ = α(1-α)g², Δθ_1 = -η g/(√(α(1-α))|g| + ε)."""
    lr, alpha, eps = 0.01, 0.9, 1e-8
    for mu in (0.0, 0.9):
        hp = {"lr": lr, "alpha": alpha, "eps": eps, "momentum": mu}
        p1, _ = rmsprop.rmsprop_step(np.array(2.0), np.array(g), {}, hp, 1)
        assert p1 - 2.0 == pytest.approx(-lr * g / (math.sqrt(1 - alpha) * abs(g) + eps), rel=1e-14)
        p1, _ = rmsprop.rmsprop_step(np.array(2.0), np.array(g), {}, {**hp, "centered": True}, 1)
        expected = -lr * g / (math.sqrt(alpha * (1 - alpha)) * abs(g) + eps)
        assert p1 - 2.0 == pytest.approx(expected, rel=1e-14)


def test_rmsprop_constant_gradient_closed_form():
    """Constant g: v_t = (1-α^t)g², so with μ = 0 Δθ_t = -η g/(√(1-α^t)|g| + ε); with
    momentum b_t = Σ_k μ^(t-k) g/d_k; centred ṽ_t = α^t(1-α^t)g² (checked for small t, where
    the difference v - ḡ² is not yet cancellation-bound)."""
    lr, alpha, eps, mu, g = 0.01, 0.9, 1e-8, 0.5, np.array([0.3, -4.0])
    p, pm, pc = np.zeros(2), np.zeros(2), np.zeros(2)
    s, sm, sc, b = {}, {}, {}, np.zeros(2)
    for t in range(1, 30):
        hp = {"lr": lr, "alpha": alpha, "eps": eps}
        d_t = np.sqrt(1 - alpha**t) * np.abs(g) + eps
        p_new, s = rmsprop.rmsprop_step(p, g, s, hp, t)
        np.testing.assert_allclose(p_new - p, -lr * g / d_t, rtol=1e-13)
        pm_new, sm = rmsprop.rmsprop_step(pm, g, sm, {**hp, "momentum": mu}, t)
        b = mu * b + g / d_t
        np.testing.assert_allclose(pm_new - pm, -lr * b, rtol=1e-13)
        p, pm = p_new, pm_new
        if t <= 8:
            pc_new, sc = rmsprop.rmsprop_step(pc, g, sc, {**hp, "centered": True}, t)
            dc = np.sqrt(alpha**t * (1 - alpha**t)) * np.abs(g) + eps
            np.testing.assert_allclose(pc_new - pc, -lr * g / dc, rtol=1e-12)
            pc = pc_new


@pytest.mark.parametrize("g", GS)
def test_adadelta_first_two_steps(g):
    """Zeiler Alg. 1 with u_0 = 0: δ_1 = √ε/√((1-ρ)g² + ε)·g, u_1 = (1-ρ)δ_1²; constant g:
    v_2 = (1-ρ²)g², δ_2 = √(u_1 + ε)/√(v_2 + ε)·g; torch scales the applied step by η."""
    lr, rho, eps = 0.5, 0.9, 1e-6
    hp = {"lr": lr, "rho": rho, "eps": eps}
    p1, s1 = adadelta.adadelta_step(np.array(2.0), np.array(g), {}, hp, 1)
    d1 = math.sqrt(eps) / math.sqrt((1 - rho) * g * g + eps) * g
    assert p1 - 2.0 == pytest.approx(-lr * d1, rel=1e-14)
    assert float(s1["acc_delta"]) == pytest.approx((1 - rho) * d1 * d1, rel=1e-14)
    p2, _ = adadelta.adadelta_step(p1, np.array(g), s1, hp, 2)
    d2 = math.sqrt((1 - rho) * d1 * d1 + eps) / math.sqrt((1 - rho * rho) * g * g + eps) * g
    assert p2 - p1 == pytest.approx(-lr * d2, rel=1e-13)


def test_adadelta_rho_one_is_sgd_in_torch_and_reference():
    """ρ = 1 (accepted by torch): v = u = 0 forever, δ = (√ε/√ε)·g = g, so θ_t = θ_0 - η Σ g."""
    hp = {"lr": 0.3, "rho": 1.0, "eps": 1e-6}
    params0, grads = problem(12, steps=15)
    ref = run(adadelta.adadelta_step, params0, grads, hp)
    got = run_torch(lambda ps: torch.optim.Adadelta(ps, **hp), params0, grads)
    sgd = [p0 - 0.3 * sum(gs[i] for gs in grads) for i, p0 in enumerate(params0)]
    for r, g_, s in zip(ref[-1], got[-1], sgd, strict=True):
        np.testing.assert_allclose(r, s, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(g_, s, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("g", GS)
def test_adamax_first_step_and_constant_gradient(g):
    """Kingma & Ba Alg. 2, torch's ε: m_1 = (1-β1)g, u_1 = |g| + ε, so Δθ_1 = -η g/(|g|+ε)
    whatever the betas; under constant g, m̂_t = g and u_t = |g| + ε, so every step is that."""
    lr, eps = 0.002, 1e-8
    for betas in ((0.9, 0.999), (0.0, 0.0), (0.5, 0.99999)):
        hp = {"lr": lr, "betas": betas, "eps": eps}
        p, state = np.array(2.0), {}
        for t in range(1, 30):
            p_new, state = adamax.adamax_step(p, np.array(g), state, hp, t)
            assert p_new - p == pytest.approx(-lr * g / (abs(g) + eps), rel=1e-12)
            p = p_new


def test_adamax_infinity_norm_decays_to_eps_in_torch_and_reference():
    """After one gradient G then zeros: u_{1+k} = max(β2^k (|G|+ε), ε), ε inside the max, so
    torch's exp_inf ends at exactly ε (where the ε-outside variant's ends at 0)."""
    b2, eps, big = 0.5, 1e-3, 4.0
    hp = {"lr": 0.01, "betas": (0.9, b2), "eps": eps}
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.Adamax([param], **hp)
    state, other = {}, {}
    for t in range(1, 20):
        g = np.array([big if t == 1 else 0.0])
        param.grad = torch.tensor(g)
        opt.step()
        _, state = adamax.adamax_step(np.zeros(1), g, state, hp, t)
        _, other = adamax.eps_outside_max_step(np.zeros(1), g, other, hp, t)
        expected = max(b2 ** (t - 1) * (big + eps), eps)
        assert float(state["exp_inf"][0]) == pytest.approx(expected, rel=1e-14)
        assert float(opt.state[param]["exp_inf"][0]) == pytest.approx(expected, rel=1e-14)
    assert float(state["exp_inf"][0]) == eps
    assert float(other["exp_inf"][0]) == b2**18 * big


# --- variants -------------------------------------------------------------------------------

# Hyper-parameters where each variant's difference is visible (the reason is in its docstring).
VARIANT_HP = {
    "Adagrad": dict(lr=0.05, eps=1e-4, initial_accumulator_value=0.1, lr_decay=0.05),
    "RMSprop": dict(lr=0.01, eps=1e-4, momentum=0.9),
    "Adadelta": dict(lr=0.5),
    # ε outside the max differs only once a decayed maximum wins, by (1-β2^k)ε: small β2.
    "Adamax": dict(lr=0.01, eps=1e-4, betas=(0.9, 0.5)),
}
VARIANT_CASES = [(n, v) for n, m in MODULES.items() for v in m.VARIANTS]


@pytest.mark.parametrize(
    ("name", "variant"), VARIANT_CASES, ids=[f"{n}:{v.name}" for n, v in VARIANT_CASES]
)
def test_every_variant_differs_from_the_torch_step(name, variant):
    """A variant that coincides with the spec could never be told apart by the validator."""
    hp = {**base_hp(name), **VARIANT_HP[name]}
    params0, grads = problem(6, steps=20)
    lrs = np.linspace(hp["lr"], hp["lr"] / 5, 20)
    base = run(STEP[name], params0, grads, hp, lrs=lrs)
    other = run(variant.fn, params0, grads, hp, lrs=lrs)
    assert displacement_error(params0, base, other) > 1e-6


def test_hinton_lecture_differs_from_torch_momentum_zero_only_by_eps():
    """At μ = 0 the lecture form is torch's minus ε: visible with small gradients at the
    default ε = 1e-8, and identical (to rounding) at eps = 0."""
    hp = {**base_hp("RMSprop"), "lr": 0.01}
    params0, grads = problem(8, steps=20, lo=-4.0, hi=-2.0)
    torch_form = run(rmsprop.rmsprop_step, params0, grads, hp)
    lecture = run(rmsprop.hinton_lecture_step, params0, grads, hp)
    assert displacement_error(params0, torch_form, lecture) > 1e-6
    hp0 = {**hp, "eps": 0.0}
    torch_form = run(rmsprop.rmsprop_step, params0, grads, hp0)
    lecture = run(rmsprop.hinton_lecture_step, params0, grads, hp0)
    assert displacement_error(params0, torch_form, lecture) < 1e-14


def test_documented_coincidences_of_variants():
    """Zeiler's form is torch's at lr = 1; the ε-seeded Adagrad accumulator is ε-inside-√ at
    initial_accumulator_value = 0 (both g/√(ε + Σg²)) and parts from it at τ > 0."""
    params0, grads = problem(9, steps=20)
    hp = {**base_hp("Adadelta"), "lr": 1.0}
    a = run(adadelta.adadelta_step, params0, grads, hp)
    b = run(adadelta.zeiler_step, params0, grads, hp)
    assert displacement_error(params0, a, b) == 0.0
    hp = {**base_hp("Adagrad"), "eps": 1e-4}
    a = run(adagrad.eps_inside_sqrt_step, params0, grads, hp)
    b = run(adagrad.eps_seeded_accumulator_step, params0, grads, hp)
    assert displacement_error(params0, a, b) < 1e-14
    hp["initial_accumulator_value"] = 0.1
    a = run(adagrad.eps_inside_sqrt_step, params0, grads, hp)
    b = run(adagrad.eps_seeded_accumulator_step, params0, grads, hp)
    assert displacement_error(params0, a, b) > 1e-6


# --- torch findings ---------------------------------------------------------------------------


def test_torch_adagrad_ignores_per_group_initial_accumulator_value():
    """torch 2.13 finding: the docs let any constructor keyword be set per param group, but
    Adagrad starts every ``sum`` at the constructor's initial_accumulator_value (state made in
    __init__ from the argument; lazily in _init_group from self.defaults). A group's own value
    is kept in param_groups and never used. Hand reproduction:

        p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        opt = torch.optim.Adagrad([{"params": [p], "initial_accumulator_value": 1.0}], lr=0.1)
        opt.state[p]["sum"]  # tensor([0., 0.]), expected tensor([1., 1.])

    The reference takes τ from hp, i.e. it models the constructor's value; per-group
    cross-validation of Adagrad must keep initial_accumulator_value out of the groups.
    """
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    q = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.Adagrad([{"params": [p], "initial_accumulator_value": 1.0}], lr=0.1)
    opt.add_param_group({"params": [q], "initial_accumulator_value": 2.0})
    assert opt.param_groups[0]["initial_accumulator_value"] == 1.0
    assert torch.equal(opt.state[p]["sum"], torch.zeros(2, dtype=torch.float64))
    p.grad = torch.ones(2, dtype=torch.float64)
    q.grad = torch.ones(2, dtype=torch.float64)
    opt.step()
    for param in (p, q):  # grad² = 1 on top of 0, not of 1.0 / 2.0
        assert torch.equal(opt.state[param]["sum"], torch.ones(2, dtype=torch.float64))


def test_report_largest_error_per_optimizer(capsys):
    """Prints the table the closing note quotes (runs after the parametrized tests)."""
    if not MAX_ERROR:
        pytest.skip("run with the cross-validation tests to collect errors")
    with capsys.disabled():
        for (name, impl), err in sorted(MAX_ERROR.items()):
            print(f"\n  max relative error {name:8s} {impl:8s} {err:.2e}", end="")
