"""NAdam, RAdam, ASGD and Rprop references against torch.optim (float64) and the papers.

torch keeps NAdam's mu_product and ASGD's eta and mu as 0-dim tensors of its *scalar dtype*:
float32 unless torch.get_default_dtype() is float64. With the default, float64 params see
those scalars rounded to float32 each step, ~1e-8 of the displacement (measured and explained
below by float32 emulations of the references). The cross-validation at 1e-12 therefore
runs torch with the default dtype set to float64, where every scalar is a double.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools

import numpy as np
import pytest
import torch
from sampling import every_nth

from optcheck.checks.kit.harness import make_params, run_torch, set_grads, to_numpy
from optcheck.reference import adam, asgd, nadam, radam, rprop
from optcheck.reference.space import defaults
from optcheck.reference.trajectory import run

STEPS = 40
# Same formulas, different association order: a few ulps per step, far below 1e-12 of the
# displacement over 40 steps (the bound of tests/test_reference_optimizers.py).
REL_TOL = 1e-12
SHAPES = [(), (7,), (3, 4)]

ALGOS = {
    "NAdam": (nadam, nadam.nadam_step, torch.optim.NAdam),
    "RAdam": (radam, radam.radam_step, torch.optim.RAdam),
    "ASGD": (asgd, asgd.asgd_step, torch.optim.ASGD),
    "Rprop": (rprop, rprop.rprop_step, torch.optim.Rprop),
}


def problem(seed: int, steps: int = STEPS, shapes=SHAPES, zeros: bool = False):
    """Random params and gradients, one scale per step drawn from 1e-3..1e2; ``zeros`` sets
    a fifth of the gradient entries to exactly 0 from step 2 on (sign ties, Rprop's "no
    information"; step 1 stays nonzero so that v > 0 and ε = 0 is safe)."""
    rng = np.random.default_rng(seed)
    params0 = [rng.normal(size=s) for s in shapes]
    scales = 10.0 ** rng.uniform(-3, 2, size=steps)
    grads = [[scales[k] * rng.normal(size=s) for s in shapes] for k in range(steps)]
    if zeros:
        grads[1:] = [[np.where(rng.random(g.shape) < 0.2, 0.0, g) for g in gs] for gs in grads[1:]]
    return params0, grads


def displacement_error(params0, ref, got) -> float:
    """max |ref - got| over the run, relative to the tensor's largest displacement |ref - θ0|
    over the run; NaN where both are NaN counts as agreement, elsewhere as inf.

    tests/test_reference_optimizers.py divides by the displacement *at each step* instead
    (not what its docstring says): a trajectory passing near θ0 then inflates one ulp of θ
    into a large relative error (RAdam here: 1 ulp of θ ≈ 0.35 at a step where
    |θ - θ0| = 6e-6 reads as 2e-11). The run-wide scale is the one the bound is meant for.
    """
    worst = 0.0
    for i, p0 in enumerate(params0):
        rs = np.array([r_step[i] for r_step in ref])
        gs = np.array([g_step[i] for g_step in got])
        assert rs.shape == gs.shape
        nan_r, nan_g = np.isnan(rs), np.isnan(gs)
        if np.any(nan_r != nan_g):
            return float("inf")
        ok = ~nan_r
        scale = max(np.max(np.abs(rs - p0)[ok], initial=0.0), np.finfo(float).tiny)
        worst = max(worst, float(np.max(np.abs(rs - gs)[ok], initial=0.0)) / scale)
    return worst


def impl_kwargs(impl: str) -> dict:
    return {"forloop": {"foreach": False}, "foreach": {"foreach": True}}[impl]


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """torch's scalar state (mu_product, eta, mu) takes the default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def torch_run(cls, hp, impl, params0, grads, lrs=None, scalar_dtype=torch.float64):
    """run_torch, plus the optimizer's final state per tensor as float64 NumPy / floats."""
    made = []

    def make(ps):
        made.append(cls(ps, **hp, **impl_kwargs(impl)))
        return made[-1]

    with default_dtype(scalar_dtype):
        traj = run_torch(make, params0, grads, lrs=lrs)
    opt = made[0]
    states = [
        {k: (float(v) if v.dim() == 0 else to_numpy(v)) for k, v in opt.state[p].items()}
        for p in opt.param_groups[0]["params"]
    ]
    return traj, states


def ref_run(step, params0, grads, hp, lrs=None):
    """reference.trajectory.run, plus the final reference state per tensor."""
    finals: dict[int, dict] = {}
    shapes = [np.shape(p) for p in params0]
    assert len(set(shapes)) == len(shapes), "tensors are told apart by shape"

    def recording(param, grad, state, hp_k, t):
        new_param, new_state = step(param, grad, state, hp_k, t)
        finals[shapes.index(np.shape(param))] = new_state
        return new_param, new_state

    traj = run(recording, params0, grads, hp, lrs=lrs)
    return traj, [finals[i] for i in range(len(params0))]


def state_error(ref_states, torch_states) -> float:
    """Largest state difference, relative to each state entry's own magnitude."""
    worst = 0.0
    for r, g in zip(ref_states, torch_states, strict=True):
        assert set(r) == set(g) - {"step"}, (set(r), set(g))
        for key, value in r.items():
            scale = max(np.max(np.abs(value), initial=0.0), np.finfo(float).tiny)
            worst = max(worst, float(np.max(np.abs(value - g[key]), initial=0.0)) / scale)
    return worst


# --- every flag combination and the special values, each implementation ---------------------

NADAM_CASES = [
    dict(betas=b, eps=e, weight_decay=w, decoupled_weight_decay=d, maximize=x, momentum_decay=p)
    for (b, e), (w, d), x, p in itertools.product(
        (((0.9, 0.999), 1e-8), ((0.0, 0.5), 1e-3), ((0.99, 0.9), 0.0)),
        ((0.0, False), (0.1, False), (0.1, True)),
        (False, True),
        (4e-3, 0.0, 1.0),
    )
]
RADAM_CASES = [
    dict(betas=b, eps=e, weight_decay=w, decoupled_weight_decay=d, maximize=x)
    for (b, e), (w, d), x in itertools.product(
        # β2 = 0.999: rectified from t = 6; 0.9: from t = 6 with r_t far from 1; 0.5: never.
        (((0.9, 0.999), 1e-8), ((0.5, 0.9), 1e-3), ((0.0, 0.5), 1e-8)),
        ((0.0, False), (0.1, False), (0.1, True)),
        (False, True),
    )
]
ASGD_CASES = [
    dict(lambd=la, alpha=al, t0=t0, weight_decay=w, maximize=x)
    for (la, al), t0, (w, x) in itertools.product(
        ((1e-4, 0.75), (0.5, 0.75), (0.5, 1.0), (0.0, 0.75)),
        # t0 beyond the run (torch's default), from step 2, inside the run, non-integer.
        (1e6, 0.0, 3.0, 10.5),
        ((0.0, False), (0.1, False), (0.0, True), (0.1, True)),
    )
]
RPROP_CASES = [
    dict(lr=lr, etas=e, step_sizes=s, maximize=x)
    for lr, e, s, x in itertools.product(
        (0.01, 0.5),  # 0.5 > Γmax = 0.02 below: the first Δ is clamped
        ((0.5, 1.2), (0.3, 1.9)),
        # defaults; both bounds active within a few steps; Γmin > Γmax (torch.clamp -> Γmax)
        ((1e-6, 50.0), (5e-3, 0.02), (0.05, 0.01)),
        (False, True),
    )
]
LR = {"NAdam": 0.01, "RAdam": 0.01, "ASGD": 0.05}
CASES = [
    (name, flags)
    for name, cases in (
        ("NAdam", NADAM_CASES),
        ("RAdam", RADAM_CASES),
        ("ASGD", ASGD_CASES),
        ("Rprop", RPROP_CASES),
    )
    for flags in cases
]
MAX_ERROR: dict[tuple[str, str], float] = {}


def _record(name: str, impl: str, err: float) -> None:
    MAX_ERROR[(name, impl)] = max(MAX_ERROR.get((name, impl), 0.0), err)


@pytest.mark.parametrize("impl", ["forloop", "foreach"])
# The catalog's corners run by default in test_reference_optimizers; here a sample of this
# exhaustive sweep, all of it with --thorough.
@pytest.mark.parametrize(("name", "flags"), every_nth(CASES, 8))
def test_reference_matches_torch_float64(name, flags, impl):
    module, step, cls = ALGOS[name]
    hp = {**defaults(module.SPACE), "lr": LR.get(name, 0.01), **flags}
    assert module.constraint(hp) is None
    for seed, zeros in ((0, False), (1, True)):
        params0, grads = problem(seed, zeros=zeros)
        ref, ref_states = ref_run(step, params0, grads, hp)
        got, torch_states = torch_run(cls, hp, impl, params0, grads)
        err = displacement_error(params0, ref, got)
        _record(name, impl, err)
        assert err <= REL_TOL, f"{name} {impl} {flags}: relative error {err:.3g}"
        assert state_error(ref_states, torch_states) <= REL_TOL


@pytest.mark.parametrize("impl", ["forloop", "foreach"])
@pytest.mark.parametrize("name", list(ALGOS))
def test_reference_follows_changing_lr_like_torch(name, impl):
    """A scheduler writes group['lr'] between steps; the reference takes the same lrs.
    (ASGD's η for step t+1 is computed from the lr of step t; Rprop reads lr only once.)"""
    module, step, cls = ALGOS[name]
    extra = {
        "NAdam": {"weight_decay": 0.01, "decoupled_weight_decay": True},
        "RAdam": {"weight_decay": 0.01},
        "ASGD": {"lambd": 0.5, "t0": 5.0, "weight_decay": 0.01},
        "Rprop": {},
    }[name]
    hp = {**defaults(module.SPACE), **extra}
    params0, grads = problem(3)
    lrs = 0.05 * 0.5 * (1 + np.cos(np.pi * np.arange(STEPS) / STEPS)) + 1e-3
    ref, ref_states = ref_run(step, params0, grads, hp, lrs=lrs)
    got, torch_states = torch_run(cls, hp, impl, params0, grads, lrs=lrs)
    err = displacement_error(params0, ref, got)
    _record(name, impl, err)
    assert err <= REL_TOL
    assert state_error(ref_states, torch_states) <= REL_TOL


@pytest.mark.parametrize("impl", ["forloop", "foreach"])
@pytest.mark.parametrize("name", ["NAdam", "RAdam"])
def test_long_run_counters_match_torch(name, impl):
    """2,500 steps: ρ_t runs through its whole range (β2^t from 1 to 0.08), μ_t approaches β1
    (ψ = 4e-3: 0.96^(tψ) from 1 to 0.66; ψ = 1 for NAdam's saturated schedule), and Π_t
    underflows nothing in float64."""
    module, step, cls = ALGOS[name]
    shapes = [(), (5,)]
    params0, grads = problem(7, steps=2500, shapes=shapes)
    variants = [{}, {"momentum_decay": 1.0}] if name == "NAdam" else [{}]
    for extra in variants:
        hp = {**defaults(module.SPACE), "lr": 1e-3, "weight_decay": 1e-3, **extra}
        ref, ref_states = ref_run(step, params0, grads, hp)
        got, torch_states = torch_run(cls, hp, impl, params0, grads)
        err = displacement_error(params0, ref, got)
        _record(f"{name}-2500", impl, err)
        assert err <= REL_TOL, f"{name} {impl} {extra}: {err:.3g}"
        assert state_error(ref_states, torch_states) <= REL_TOL


def test_skipped_tensor_keeps_its_own_counters():
    """A tensor with grad None is not stepped: its t, μ-product, η and μ stay where they were."""
    for name, (module, step, cls) in ALGOS.items():
        hp = {**defaults(module.SPACE), "lr": LR.get(name, 0.01)}
        if name == "ASGD":
            hp.update(lambd=0.5, t0=2.0)
        params0, grads = problem(4, steps=12)
        grads = [
            [None if (k % 3 == 0 and i == 1) else g for i, g in enumerate(gs)]
            for k, gs in enumerate(grads)
        ]
        ref = run(step, params0, grads, hp)
        got, _ = torch_run(cls, hp, "forloop", params0, grads)
        assert displacement_error(params0, ref, got) <= REL_TOL, name


def test_implementations_are_what_torch_offers_on_cpu():
    """forloop and foreach step; no class accepts `fused` in torch 2.13 (TypeError)."""
    for name, (module, _, cls) in ALGOS.items():
        offered = []
        for impl, kw in (
            ("forloop", {"foreach": False}),
            ("foreach", {"foreach": True}),
            ("fused", {"fused": True}),
        ):
            p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
            try:
                opt = cls([p], **kw)
            except TypeError:
                continue
            p.grad = torch.ones_like(p)
            opt.step()
            offered.append(impl)
        assert tuple(offered) == module.IMPLEMENTATIONS, name


def test_space_defaults_are_torchs_and_constraint_mirrors_torch():
    invalid = {
        "NAdam": [
            {"lr": -1e-3},
            {"eps": -1.0},
            {"betas": (1.0, 0.9)},
            {"betas": (0.9, -0.1)},
            {"weight_decay": -0.1},
            {"momentum_decay": -1.0},
        ],
        "RAdam": [
            {"lr": -1e-3},
            {"eps": -1.0},
            {"betas": (-0.1, 0.9)},
            {"betas": (0.9, 1.0)},
            {"weight_decay": -0.1},
        ],
        "ASGD": [{"lr": -1.0}, {"weight_decay": -0.1}],
        "Rprop": [{"lr": -1.0}, {"etas": (1.0, 1.2)}, {"etas": (0.5, 1.0)}, {"etas": (0.0, 2.0)}],
    }
    for name, (module, _, cls) in ALGOS.items():
        params = inspect.signature(cls.__init__).parameters
        for dim_name, value in defaults(module.SPACE).items():
            assert params[dim_name].default == value, (name, dim_name)
        assert module.constraint(defaults(module.SPACE)) is None
        for bad in invalid[name]:
            hp = {**defaults(module.SPACE), **bad}
            assert module.constraint(hp) is not None, (name, bad)
            with pytest.raises(ValueError):
                cls([torch.nn.Parameter(torch.ones(2))], **hp)


def test_bytes_per_element_step_counts_arrays():
    """θ, g and each state tensor are read once and written once (g read only)."""
    arrays = {nadam: 7, radam: 7, asgd: 5, rprop: 7}
    for module, n in arrays.items():
        assert module.bytes_per_element({}, 8) == n * 8
        assert module.bytes_per_element({}, 4) == n * 4
        # state tensors: every key but 'step' and the scalars is one array read + written
        tensors = [k for k in module.STATE_KEYS if k not in ("step", "mu_product", "eta", "mu")]
        assert n == 3 + 2 * len(tensors)


# --- torch's float32 scalar state and state_dict resume (findings) ---------------------------


F32_EMULATIONS = {
    ("NAdam", "forloop"): nadam.float32_mu_product_step,
    ("NAdam", "foreach"): nadam.float32_mu_product_step,
    ("ASGD", "forloop"): asgd.float32_scalars_step,
    ("ASGD", "foreach"): asgd.float32_scalars_foreach_step,
}


@pytest.mark.parametrize("impl", ["forloop", "foreach"])
@pytest.mark.parametrize(
    ("name", "hp"),
    [
        ("NAdam", {"lr": 0.01}),
        ("NAdam", {"lr": 0.01, "betas": (0.99, 0.999), "momentum_decay": 1.0}),
        ("ASGD", {"lr": 0.05, "lambd": 0.5, "t0": 3.0}),
        ("ASGD", {"lr": 0.3, "lambd": 0.05, "alpha": 0.3, "t0": 0.0, "weight_decay": 0.1}),
    ],
)
def test_default_float32_scalar_state_explains_the_gap(name, hp, impl):
    """Under torch's default dtype (float32) float64 NAdam/ASGD leave the float64 reference
    by ~1e-8 of the displacement; rounding mu_product (eta, mu) to float32 as torch does
    brings the reference back within 1e-12: the scalars' dtype is the whole gap. ASGD's
    foreach path also computes η in float32 arithmetic (its own emulation)."""
    module, step, cls = ALGOS[name]
    emulation = F32_EMULATIONS[(name, impl)]
    hp = {**defaults(module.SPACE), **hp}
    params0, grads = problem(5)
    got, torch_states = torch_run(cls, hp, impl, params0, grads, scalar_dtype=torch.float32)
    gap = displacement_error(params0, run(step, params0, grads, hp), got)
    emulated, emulated_states = ref_run(emulation, params0, grads, hp)
    assert 1e-10 < gap < 1e-6, gap
    assert displacement_error(params0, emulated, got) <= REL_TOL
    assert state_error(emulated_states, torch_states) <= REL_TOL
    _record(f"{name}-f32scalars", impl, gap)


def test_asgd_forloop_and_foreach_disagree_under_the_float32_default():
    """Finding: with the default (float32) default dtype, torch's own ASGD paths differ by
    ~1e-7 of the displacement: forloop rounds a double η to float32, foreach computes η in
    float32 arithmetic from the float32 step tensor. With a float64 default they agree."""
    params0, grads = problem(5)
    hp = {"lr": 0.3, "lambd": 0.05, "alpha": 0.3, "t0": 0.0}
    for dtype, low, high in ((torch.float32, 1e-9, 1e-6), (torch.float64, -1.0, REL_TOL)):
        a, _ = torch_run(torch.optim.ASGD, hp, "forloop", params0, grads, scalar_dtype=dtype)
        b, _ = torch_run(torch.optim.ASGD, hp, "foreach", params0, grads, scalar_dtype=dtype)
        assert low < displacement_error(params0, a, b) <= high, dtype


def _resumed_vs_straight(cls, hp, impl, scalar_dtype, split=3, steps=40):
    params0, grads = problem(6, steps=steps)
    kw = {**hp, **impl_kwargs(impl)}
    with default_dtype(scalar_dtype):
        straight = run_torch(lambda ps: cls(ps, **kw), params0, grads)
        params = make_params(params0)
        opt = cls(params, **kw)
        out = []
        for k, gs in enumerate(grads):
            if k == split:  # save, rebuild, load: what a checkpoint/restart does
                saved = copy.deepcopy(opt.state_dict())
                params = [torch.nn.Parameter(p.detach().clone()) for p in params]
                opt = cls(params, **kw)
                opt.load_state_dict(saved)
            set_grads(params, gs)
            opt.step()
            out.append([to_numpy(p) for p in params])
    return displacement_error(params0, straight, out), opt


RESUME: dict[str, float] = {}


@pytest.mark.parametrize("impl", ["forloop", "foreach"])
def test_state_dict_resume_is_bit_exact_except_nadam_with_float32_scalars(impl):
    """Finding: with the default (float32) default dtype, a float64 NAdam resumed from a
    state_dict leaves the uninterrupted run: load_state_dict casts mu_product to the param's
    dtype, and from then on ``mu_product *= mu`` is float64 instead of float32. It shows only
    while Π_t is not negligible against 1 (restart at step 3 here; at β1 = 0.9, Π_t < 1e-7
    from step ~20 and the difference drops below an ulp of θ).
    ASGD's eta and mu are cast too but stay bit-exact: each new value passes through
    torch.as_tensor (default dtype, float32) before copy_, so it is rounded either way.
    With a float64 default dtype, and for RAdam/Rprop (whose only scalar is 'step', which
    load_state_dict leaves uncast), resume is bit-exact."""
    cases = {
        "NAdam": {"lr": 0.01},
        "ASGD": {"lr": 0.05, "lambd": 0.5, "t0": 3.0},
        "RAdam": {"lr": 0.01},
        "Rprop": {"lr": 0.01},
    }
    for name, hp in cases.items():
        cls = ALGOS[name][2]
        err32, opt = _resumed_vs_straight(cls, hp, impl, torch.float32)
        err64, _ = _resumed_vs_straight(cls, hp, impl, torch.float64)
        RESUME[f"{name}-{impl}"] = err32
        assert err64 == 0.0, name
        if name == "NAdam":
            assert 1e-12 < err32 < 1e-6, (name, err32)
            state = opt.state[opt.param_groups[0]["params"][0]]
            assert state["mu_product"].dtype == torch.float64
        else:
            assert err32 == 0.0, name


# --- torch deviations ----------------------------------------------------------------------


def test_radam_foreach_nan_with_eps_zero_before_rectification():
    """Finding: RAdam(eps=0, foreach=True) turns an element with zero gradient history into NaN
    from step 1, while the docs (and the forloop path) take the un-rectified step θ - η·m̂ = θ.
    foreach computes 1/((√v + ε)/(-0.0)) = 1/(0/-0) = NaN for that element. (Once ρ_t > 5 both
    paths give 0·∞ = NaN there, as does the docs' l_t = √(1-β2^t)/(√v_t + ε).)"""
    hp = {"lr": 0.1, "eps": 0.0}
    grads = [[np.array([0.0, 1.0])]] * 5  # ρ_t ≤ 5 throughout
    forloop = run_torch(lambda ps: torch.optim.RAdam(ps, **hp, foreach=False), [[1.0, 2.0]], grads)
    foreach = run_torch(lambda ps: torch.optim.RAdam(ps, **hp, foreach=True), [[1.0, 2.0]], grads)
    ref = run(radam.radam_step, [np.array([1.0, 2.0])], grads, {**defaults(radam.SPACE), **hp})
    for k in range(5):
        np.testing.assert_array_equal(forloop[k][0], ref[k][0])
        assert forloop[k][0][0] == 1.0
        assert np.isnan(foreach[k][0][0]) and foreach[k][0][1] == forloop[k][0][1]


def test_rprop_first_step_size_is_clamped_unlike_the_docs():
    """Finding (docs only): torch clamps Δ in the "no sign information" branch too, so with lr
    outside step_sizes the first step is clamp(lr), while the docs' algorithm keeps η_0 = lr
    (η_t <- η_{t-1} unclamped when g_prev·g = 0)."""
    hp = {"lr": 0.5, "step_sizes": (1e-6, 0.02)}
    got = run_torch(lambda ps: torch.optim.Rprop(ps, **hp), [np.zeros(2)], [[np.array([3.0, -1])]])
    np.testing.assert_array_equal(got[0][0], [-0.02, 0.02])
    p, _ = rprop.rprop_step(np.zeros(2), np.array([3.0, -1]), {}, hp, 1)
    np.testing.assert_array_equal(p, [-0.02, 0.02])


def test_rprop_sign_of_an_underflowing_product_is_no_information():
    """torch takes sign(g·g_prev), not sign(g)·sign(g_prev): tiny same-sign gradients whose
    product underflows to 0 keep Δ unchanged instead of growing it. The reference does too."""
    grads = [[np.array([1e-200, 1.0])], [np.array([1e-200, 1.0])], [np.array([1e-200, 1.0])]]
    got = run_torch(lambda ps: torch.optim.Rprop(ps, lr=0.1), [np.zeros(2)], grads)
    ref = run(rprop.rprop_step, [np.zeros(2)], grads, {**defaults(rprop.SPACE), "lr": 0.1})
    np.testing.assert_array_equal(got[-1][0], ref[-1][0])
    np.testing.assert_allclose(ref[-1][0], [-0.3, -(0.1 + 0.12 + 0.144)], rtol=1e-15)


# --- values derived by hand from the papers -------------------------------------------------


def test_radam_rho_closed_form():
    """ρ_1 = 1 for every β2 (2/(1-β) - 1 - 2β/(1-β)); ρ_t -> ρ_∞; ρ_t ≈ t for β2 near 1."""
    for b2 in (0.5, 0.9, 0.999, 0.99999):
        rho_inf, rho_1 = radam.rho(b2, 1)
        assert rho_1 == pytest.approx(1.0, rel=1e-9)
        assert radam.rho(b2, 10**8)[1] == pytest.approx(rho_inf, rel=1e-12)
    assert [round(radam.rho(0.999, t)[1]) for t in range(1, 8)] == list(range(1, 8))


def test_radam_is_bias_corrected_momentum_sgd_while_rho_at_most_5():
    """Liu et al. Alg. 2 line 12: Δθ = -η m_t/(1-β1^t) while ρ_t ≤ 5 (t ≤ 5 at β2 = 0.999,
    every t at β2 ≤ 2/3, where ρ_∞ ≤ 5)."""
    rng = np.random.default_rng(8)
    g = rng.normal(size=(200, 3))
    for b2, steps in ((0.999, 5), (0.6, 200)):
        hp = {"lr": 0.1, "betas": (0.8, b2), "eps": 1e-8}
        p, state, m = np.zeros(3), {}, np.zeros(3)
        for t in range(1, steps + 1):
            p_new, state = radam.radam_step(p, g[t - 1], state, hp, t)
            m = 0.8 * m + 0.2 * g[t - 1]
            np.testing.assert_allclose(p_new - p, -0.1 * m / (1 - 0.8**t), rtol=1e-12)
            p = p_new
    assert radam.rho(0.999, 5)[1] <= 5 < radam.rho(0.999, 6)[1]


def test_radam_rectified_step_under_constant_gradient_is_eta_r_t():
    """Constant g, ε = 0: m̂ = g and √(1-β2^t)/√v_t = 1/|g|, so Δθ_t = -η r_t sign(g)."""
    hp = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 0.0}
    g = np.array([0.5, -3.0])
    p, state = np.zeros(2), {}
    for t in range(1, 100):
        p_new, state = radam.radam_step(p, g, state, hp, t)
        rho_inf, rho_t = radam.rho(0.999, t)
        if rho_t > 5:
            r = np.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            np.testing.assert_allclose(p_new - p, -0.01 * r * np.sign(g), rtol=1e-12)
        p = p_new


def test_nadam_with_beta1_zero_is_adam_with_beta1_zero():
    """β1 = 0: μ_t = 0, Π_t = 0, and Dozat's update reduces to -η g/(√v̂ + ε)."""
    params0, grads = problem(9)
    hp = {"lr": 0.01, "betas": (0.0, 0.99), "eps": 1e-8, "momentum_decay": 4e-3}
    ours = run(nadam.nadam_step, params0, grads, hp)
    theirs = run(adam.adam_step, params0, grads, hp)
    assert displacement_error(params0, ours, theirs) <= 1e-14


def test_nadam_mu_product_is_the_product_of_the_schedule():
    """Π_t = ∏ β1(1 - ½·0.96^(iψ)); ψ = 0 gives (β1/2)^t."""
    for psi in (0.0, 4e-3, 1.0):
        hp = {"lr": 0.01, "betas": (0.9, 0.999), "momentum_decay": psi}
        state: dict = {}
        for t in range(1, 60):
            _, state = nadam.nadam_step(np.zeros(2), np.ones(2), state, hp, t)
        expected = np.prod([0.9 * (1 - 0.5 * 0.96 ** (i * psi)) for i in range(1, 60)])
        assert state["mu_product"] == pytest.approx(expected, rel=1e-13)
    assert expected != pytest.approx(0.45**59) and (0.9 / 2) ** 59 > 0


def test_nadam_steps_minus_eta_sign_g_once_the_schedule_saturates():
    """Constant g: m_t -> g, v̂ -> g², Π -> 0, so Δθ -> -η((1-μ_t) + μ_{t+1}) sign(g), and
    with μ_t ≈ μ_{t+1} ≈ β1 (ψ = 1, t = 600: 0.96^t ~ 2e-11) Δθ = -η sign(g)."""
    hp = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 0.0, "momentum_decay": 1.0}
    g = np.array([2.0, -0.25])
    p, state = np.zeros(2), {}
    for t in range(1, 601):
        p_new, state = nadam.nadam_step(p, g, state, hp, t)
        if t < 600:
            p = p_new
    # v̂ = g² exactly; m_t = g(1 - 0.9^600) ≈ g
    np.testing.assert_allclose(p_new - p, -0.01 * np.sign(g), rtol=1e-9)


def test_rprop_first_step_and_constant_sign_growth():
    """First step -Δ0·sign(g) (g_prev = 0); same sign after: Δ_t = min(Δ0 η+^(t-1), Γmax)."""
    hp = {"lr": 0.01, "etas": (0.5, 1.2), "step_sizes": (1e-6, 0.05)}
    g = np.array([3.0, -1e-7, 0.0])
    p, state = np.zeros(3), {}
    for t in range(1, 20):
        p_new, state = rprop.rprop_step(p, g * (1 + t), state, hp, t)
        delta = min(0.01 * 1.2 ** (t - 1), 0.05)
        np.testing.assert_allclose(p_new - p, -delta * np.sign(g), rtol=1e-13)
        p = p_new


def test_irprop_minus_alternating_signs_by_hand():
    """g = +1, -1, +1, -1, …: step 1 moves -Δ0; each flip shrinks Δ by η− and does not move
    (g zeroed), the step after a flip has no sign information and moves -Δ·sign(g)."""
    hp = {"lr": 0.1, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50.0)}
    p, state, moves = np.zeros(1), {}, []
    for t in range(1, 8):
        p_new, state = rprop.rprop_step(p, np.array([(-1.0) ** (t - 1)]), state, hp, t)
        moves.append(float(p_new[0] - p[0]))
        p = p_new
    np.testing.assert_allclose(moves, [-0.1, 0.0, -0.05, 0.0, -0.025, 0.0, -0.0125], rtol=1e-15)


def test_rprop_plus_backtracks_the_previous_step():
    """Rprop+: on a flip the previous update is undone (θ returns to where it was)."""
    hp = {"lr": 0.1, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50.0)}
    gs = [1.0, 1.0, -1.0, -1.0]
    p, state, path = np.zeros(1), {}, []
    for t, g in enumerate(gs, start=1):
        p, state = rprop.rprop_plus_step(p, np.array([g]), state, hp, t)
        path.append(float(p[0]))
    # -0.1, then -0.12 (Δ·1.2), flip: undo -0.12 -> -0.1, then no sign info: +Δ (0.06)
    np.testing.assert_allclose(path, [-0.1, -0.22, -0.1, -0.04], rtol=1e-14)


def test_asgd_without_averaging_keeps_ax_equal_to_theta():
    """t0 beyond the run: μ = 1 every step, so ax_t = θ_t exactly."""
    params0, grads = problem(10)
    hp = {**defaults(asgd.SPACE), "lr": 0.05, "lambd": 0.5}
    params, states = [np.asarray(p) for p in params0], [{} for _ in params0]
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            params[i], states[i] = asgd.asgd_step(params[i], g, states[i], hp, t)
            np.testing.assert_array_equal(states[i]["ax"], params[i])


def test_asgd_ax_is_the_mean_of_the_iterates_from_t0_plus_2():
    """Integer t0: μ used at step t is 1/max(1, t-1-t0), so ax_t = mean(θ_{t0+2}, …, θ_t)."""
    params0, grads = problem(11)
    t0 = 6
    hp = {**defaults(asgd.SPACE), "lr": 0.05, "lambd": 0.1, "t0": float(t0)}
    p, state, thetas = params0[1], {}, []
    for t, gs in enumerate(grads, start=1):
        p, state = asgd.asgd_step(p, gs[1], state, hp, t)
        thetas.append(p)
        first = min(t0 + 2, t)  # 1-based index of the first averaged iterate
        np.testing.assert_allclose(
            state["ax"], np.mean(thetas[first - 1 :], axis=0), rtol=1e-12, atol=1e-14
        )


def test_asgd_eta_schedule_and_decay_by_hand():
    """η_1 = lr, η_{t+1} = lr/(1+λ·lr·t)^α, θ_t = θ_{t-1}(1-λη_t) - η_t g_t (Bottou 2012)."""
    lr, lam, alpha = 0.2, 0.3, 0.75
    hp = {"lr": lr, "lambd": lam, "alpha": alpha, "t0": 1e6}
    p, state = np.array([1.0, -2.0]), {}
    for t in range(1, 30):
        g = np.array([0.5, 0.1 * t])
        eta = lr / (1 + lam * lr * (t - 1)) ** alpha
        p_new, state = asgd.asgd_step(p, g, state, hp, t)
        np.testing.assert_allclose(p_new, p * (1 - lam * eta) - eta * g, rtol=1e-14)
        p = p_new


def test_every_variant_differs_from_its_spec():
    """A variant that coincides with the torch step could never be told apart."""
    params0, grads = problem(12)
    hps = {
        "NAdam": {"lr": 0.01},
        "RAdam": {"lr": 0.01},
        # random-sign gradients: flips (where the Rprop members differ) every few steps
        "Rprop": {"lr": 0.01},
    }
    for name, extra in hps.items():
        module, step, _ = ALGOS[name]
        hp = {**defaults(module.SPACE), **extra}
        base = run(step, params0, grads, hp)
        assert module.VARIANTS
        for variant in module.VARIANTS:
            other = run(variant.fn, params0, grads, hp)
            assert displacement_error(params0, base, other) > 1e-6, (name, variant.name)
    assert asgd.VARIANTS == ()


def test_report_largest_error_per_optimizer(capsys):
    """Prints the table the closing note quotes (runs after the parametrized tests)."""
    if not MAX_ERROR:
        pytest.skip("run with the cross-validation tests to collect errors")
    with capsys.disabled():
        for (name, impl), err in sorted(MAX_ERROR.items()):
            print(f"\n  max relative error {name:18s} {impl:8s} {err:.2e}", end="")
        for key, err in sorted(RESUME.items()):
            print(f"\n  resumed vs straight (f32 scalars) {key:14s} {err:.2e}", end="")
