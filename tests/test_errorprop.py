"""The error-propagation engine: every reference is its own error model, every operation's rule
bounds what float32/bfloat16 arithmetic really does, and a new algorithm gets a working
tolerance from its description alone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optcheck.checks import errorprop as EP
from optcheck.checks import tolerance as T
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.reference.ops import ema, scalar_state, update
from optcheck.reference.spec import ErrorModel
from optcheck.reference.trajectory import run

F32 = EP.PRECISIONS["float32"]


# --- the description is the reference ----------------------------------------------------------


def _hp(name: str, k: int) -> dict:
    spec = OPTIMIZERS[name]
    hp = {**spec.defaults, "lr": 0.01}
    if name == "SGD":
        nesterov = k % 2 == 1
        hp.update(momentum=(0.0, 0.9, 0.5)[k % 3] if not nesterov else 0.9, nesterov=nesterov)
        hp.update(dampening=0.0 if nesterov else 0.3 * (k % 2), weight_decay=0.1 * (k % 3 > 0))
    else:
        three = len(spec.defaults.get("betas", ())) == 3  # Adan's
        betas = (0.9, 0.8, 0.99) if three else (0.9, 0.99)
        hp.update(amsgrad=k % 2 == 1, weight_decay=0.1 * (k % 3 > 0), betas=betas)
    hp["maximize"] = k % 4 == 0
    return hp


STEPS = [
    (fn, name, f"{name}:{label}")
    for name, spec in OPTIMIZERS.items()
    if not spec.structured  # their own problems: tests/test_structural_records.py
    for fn, label in [(spec.step, "spec")] + [(v.fn, v.name) for v in spec.variants]
]


TRACKED_CASES = [(*s, d) for s in STEPS for d in ("float64", "float32", "bfloat16")]


@pytest.mark.parametrize(
    ("step", "name", "dtype"),
    [
        pytest.param(fn, name, d, id=f"{label}-{d}", marks=() if j % 2 else [pytest.mark.thorough])
        for j, (fn, name, label, d) in enumerate(TRACKED_CASES)
    ],
)
def test_tracked_evaluation_is_the_reference_bit_for_bit(step, name, dtype):
    """Run on tracked values, a step computes exactly the reference's float64 trajectory: the
    error model cannot describe another algorithm than its reference (every spec and variant,
    skipped tensors, a changing lr)."""
    rng = np.random.default_rng(0)
    model = ErrorModel("probe", step, lambda hp, e: 1.0)
    for k in range(8):
        hp = _hp(name, k)
        p0 = [rng.normal(size=(3, 2)), rng.normal(size=())]
        gs = [
            [rng.normal(size=(3, 2)), None if j % 3 == 1 else rng.normal(size=())] for j in range(7)
        ]
        lrs = [0.01 * (j + 1) for j in range(7)] if k % 2 else None
        values: list = []
        EP.propagate(model, p0, gs, [hp, hp], lrs, EP.precision(dtype), values=values)
        for ref_k, got_k in zip(run(step, p0, gs, hp, lrs), values, strict=True):
            for r, g in zip(ref_k, got_k, strict=True):
                assert np.array_equal(r, g)


def test_every_spec_with_an_error_model_uses_its_own_step():
    with_model = [r for r in OPTIMIZERS.values() if r.error_model is not None]
    assert with_model
    for record in with_model:
        assert record.error_model.step is record.step, record.name


def test_escapes_from_the_vocabulary_fail_loudly():
    ar = EP.Arith(F32)
    x = EP.Tracked(np.ones(3), 0.0, ar)
    s = ar.leaf(0.9)
    with pytest.raises(TypeError):
        math.sqrt(s)  # hides 1-β^t's arithmetic: np.sqrt is tracked
    with pytest.raises(TypeError):
        bool(x > 0)  # a value-dependent branch: np.where is tracked
    with pytest.raises(TypeError):
        np.asarray(x)
    with pytest.raises(TypeError):
        np.exp(x)  # not in the vocabulary: the rule must be added, not guessed
    assert isinstance(np.sqrt(s), EP.Scalar) and isinstance(np.sqrt(x), EP.Tracked)


# --- each rule bounds real arithmetic -----------------------------------------------------------

TORCH = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _inputs(rng, dtype: str, shape=(64,), scale=1.0, positive=False):
    """Exact values x, the target's inputs x̂ (x perturbed, then rounded to dtype) and the
    tracked value carrying E = |x̂ - x|."""
    x = rng.normal(size=shape) * scale
    if positive:
        x = np.abs(x) + 0.1 * scale
    xhat_t = torch.as_tensor(x * (1 + rng.uniform(-1e-3, 1e-3, size=shape))).to(TORCH[dtype])
    xhat = xhat_t.double().numpy()
    return x, xhat_t, EP.Tracked(x, np.abs(xhat - x), EP.Arith(EP.precision(dtype)))


def _within(got: torch.Tensor, exact: np.ndarray, tracked: EP.Tracked, dtype: str) -> None:
    err = np.abs(got.double().numpy() - exact)
    bound = tracked.E[0] * T.second_order_factor(EP.precision(dtype))
    assert (err <= bound).all(), float(np.max(err / bound))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("seed", range(5))
def test_element_wise_rules_bound_torch(dtype, seed):
    rng = np.random.default_rng(seed)
    x, xt, X = _inputs(rng, dtype)
    y, yt, Y = _inputs(rng, dtype, positive=True)
    s = 0.37
    cases = [
        (xt + yt, x + y, X + Y),
        (xt - yt, x - y, X - Y),
        (xt * yt, x * y, X * Y),
        (xt / yt, x / y, X / Y),
        (yt.sqrt(), np.sqrt(y), np.sqrt(Y)),
        (xt.mul(s), x * s, X * s),
        (xt.div(s), x / s, X / s),
        (xt.add(s), x + s, X + s),
        (torch.maximum(xt, yt), np.maximum(x, y), np.maximum(X, Y)),
        # a clamp (Rprop's step sizes): maximum/minimum with scalars, mostly certain choices
        (
            xt.clamp(-0.5, 50.0),
            np.minimum(np.maximum(x, -0.5), 50.0),
            np.minimum(np.maximum(X, -0.5), 50.0),
        ),
        (torch.where(xt * 0 > 0, xt, yt), np.where(x * 0 > 0, x, y), np.where(X * 0 > 0, X, Y)),
        (xt.abs(), np.abs(x), abs(X)),
        (torch.where(xt > yt, xt, yt * 2), np.where(x > y, x, y * 2), np.where(X > Y, X, Y * 2)),
    ]
    for got, exact, tracked in cases:
        _within(got, exact, tracked, dtype)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 0.9, 0.999])
def test_ema_bounds_every_torch_arrangement(dtype, beta):
    """lerp (weight 1-β, both of torch's branches), mul_ + add_ and mul_ + addcmul_."""
    rng = np.random.default_rng(int(beta * 1000))
    for _ in range(4):
        a, at, A = _inputs(rng, dtype, scale=10.0 ** rng.uniform(-2, 2))
        x, xt, X = _inputs(rng, dtype)
        exact = beta * a + (1 - beta) * x
        tracked = ema(A, X, beta)
        _within(at.lerp(xt, 1 - beta), exact, tracked, dtype)
        _within(at.mul(beta).add_(xt, alpha=1 - beta), exact, tracked, dtype)
        exact_sq = beta * a + (1 - beta) * x * x
        _within(at.mul(beta).addcmul_(xt, xt, value=1 - beta), exact_sq, ema(A, X * X, beta), dtype)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_sum_and_matmul_bound_torch(dtype):
    rng = np.random.default_rng(3)
    a, at, A = _inputs(rng, dtype, shape=(6, 40))
    b, bt, B = _inputs(rng, dtype, shape=(40, 5))
    _within(at.sum(dim=1), a.sum(axis=1), A.sum(axis=1), dtype)
    _within(at.mean(dim=0), a.mean(axis=0), A.mean(axis=0), dtype)
    _within(at @ bt, a @ b, A @ B, dtype)
    _within((at * at).sum().sqrt(), np.sqrt((a * a).sum()), np.sqrt((A * A).sum()), dtype)


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
def test_bias_correction_bounds_float32_arithmetic(beta):
    """1-β^t with β held in float32 and the arithmetic in float32: the cancellation."""
    ar = EP.Arith(F32)
    for t in (1, 2, 5, 10, 100):
        bc = 1.0 - ar.leaf(beta) ** ar.leaf(t)
        got = float(np.float32(1.0) - np.float32(beta) ** np.float32(t))
        assert abs(got - (1 - beta**t)) <= bc.e, (t, got, bc)


@pytest.mark.parametrize("psi", [4e-3, 1.0])
def test_scalar_state_bounds_torch_nadam_mu_product(psi):
    """torch keeps NAdam's mu_product as a 0-dim tensor of its scalar dtype (float32 unless the
    default dtype is float64), so in a float64 run ``Π *= μ`` rounds to float32 every step.
    scalar_state's rule (Π·μ with μ cast to float32 and the product rounded) bounds what torch
    holds; a float64 bound alone does not (the float64 NAdam cross-validation needs it)."""
    ar = EP.Arith(EP.PRECISIONS["float64"])
    b1, psi_s = ar.leaf(0.9), ar.leaf(psi)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = torch.optim.NAdam([p], lr=0.01, momentum_decay=psi, foreach=False)
    prod, beyond_float64 = 1.0, False
    for t in range(1, 31):
        p.grad = torch.ones(3, dtype=torch.float64)
        opt.step()
        mu = b1 * (1.0 - 0.5 * (0.96 ** (ar.leaf(t) * psi_s)))
        prod = scalar_state(prod * scalar_state(mu))
        got = opt.state[p]["mu_product"].item()
        assert abs(got - prod.v) <= prod.e, (t, got, prod)
        beyond_float64 |= abs(got - prod.v) > 4 * t * EP.FLOAT64.u * abs(prod.v)
    assert beyond_float64
    with pytest.raises(TypeError):
        scalar_state(EP.Tracked(np.ones(2), 0.0, ar))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_rounding_is_capped_at_the_result_so_exact_zeros_stay_exact(dtype):
    """The cap min(u(|r| + tiny), |r| + P): with an exact zero operand torch's product is an
    exact 0 (bound 0, so its sign is certain), and products far below the subnormal range —
    where the floor u·tiny would be charged in full — still lie inside the capped bound."""
    rng = np.random.default_rng(3)
    ar = EP.Arith(EP.precision(dtype))
    tiny = EP.precision(dtype).tiny
    x = rng.normal(size=32) * np.sqrt(tiny) * 1e-2
    x[::4] = 0.0
    y = rng.normal(size=32) * np.sqrt(tiny) * 1e-2
    xt, yt = torch.as_tensor(x).to(TORCH[dtype]), torch.as_tensor(y).to(TORCH[dtype])
    xe, ye = xt.double().numpy(), yt.double().numpy()
    X, Y = EP.Tracked(xe, 0.0, ar), EP.Tracked(ye, 0.0, ar)
    for got, exact, tracked in [(xt * yt, xe * ye, X * Y), (xt - xt, xe - xe, X - X)]:
        err = np.abs(got.double().numpy() - exact)
        assert (err <= tracked.E[0]).all()
        assert (tracked.E[0][exact == 0] == 0).all()
    prod = X * Y
    assert (np.sign(prod).E[0][xe == 0] == 0).all()


def test_sign_of_an_uncertain_value_is_uncertain():
    ar = EP.Arith(F32)
    x = EP.Tracked(np.array([1.0, 1e-9, 0.0, 0.0]), np.array([1e-8, 1e-8, 1e-8, 0.0]), ar)
    assert np.sign(x).E[0].tolist() == [0.0, 2.0, 1.0, 0.0]


# --- a new algorithm from its description alone --------------------------------------------------


def rms_step(param, grad, state, hp, t):
    """'Sign-free RMS', written fresh: v = EMA of g², θ -= η·g/(√v + ε) (RMSprop without
    momentum or centering, in torch's order of operations)."""
    v = ema(state.get("v", np.zeros_like(grad)), grad * grad, hp["alpha"])
    return update(param, hp["lr"] * grad / (np.sqrt(v) + hp["eps"])), {"v": v}


RMS = ErrorModel("toy RMS", rms_step, lambda hp, e: float(hp["lr"]))


def _torch_rms(p0, gs, hp, dtype, eps_inside_sqrt=False):
    """The toy as torch would run it in ``dtype``; the mutant puts ε under the root."""
    if not eps_inside_sqrt:
        kw = {k: hp[k] for k in ("lr", "alpha", "eps")}
        ps = [torch.nn.Parameter(torch.tensor(p).to(TORCH[dtype])) for p in p0]
        opt = torch.optim.RMSprop(ps, foreach=False, **kw)
        out = []
        for g_k in gs:
            for p, g in zip(ps, g_k, strict=True):
                p.grad = torch.tensor(g).to(TORCH[dtype])
            opt.step()
            out.append([p.detach().double().numpy().copy() for p in ps])
        return out
    ps = [torch.tensor(p).to(TORCH[dtype]) for p in p0]
    vs = [torch.zeros_like(p) for p in ps]
    out = []
    for g_k in gs:
        for p, v, g in zip(ps, vs, g_k, strict=True):
            g = torch.tensor(g).to(TORCH[dtype])
            v.mul_(hp["alpha"]).addcmul_(g, g, value=1 - hp["alpha"])
            p.addcdiv_(g, (v + hp["eps"]).sqrt(), value=-hp["lr"])
        out.append([p.double().numpy().copy() for p in ps])
    return out


def _excess(p0, gs, hp, dtype, **kw) -> float:
    rounded = lambda x: torch.as_tensor(x).to(TORCH[dtype]).double().numpy()  # noqa: E731
    p0 = [rounded(p) for p in p0]
    gs = [[rounded(g) for g in g_k] for g_k in gs]
    tol = T.tolerance(RMS, p0, gs, [hp] * len(p0), None, dtype)
    assert tol.outside is None
    ref = run(rms_step, p0, gs, hp)
    got = _torch_rms(p0, gs, hp, dtype, **kw)
    return max(
        float(np.max(np.abs(g - r) / tol.theta[k][i]))
        for k, (g_k, r_k) in enumerate(zip(got, ref, strict=True))
        for i, (g, r) in enumerate(zip(g_k, r_k, strict=True))
    )


@pytest.mark.parametrize("seed", range(6))
def test_a_toy_algorithm_gets_a_working_tolerance_from_its_description(seed):
    rng = np.random.default_rng(seed)
    hp = {"lr": 10 ** rng.uniform(-3, -1), "alpha": (0.9, 0.99)[seed % 2], "eps": 1e-3}
    p0 = [rng.normal(size=16), rng.normal(size=(3, 3))]
    gs = [
        [rng.normal(size=16) * 10 ** rng.uniform(-2, 0), rng.normal(size=(3, 3))] for _ in range(10)
    ]
    assert _excess(p0, gs, hp, "float32") <= 1  # torch's RMSprop follows the description
    assert _excess(p0, gs, hp, "float32", eps_inside_sqrt=True) > 10  # the ε slip does not
    assert _excess(p0, gs, hp, "bfloat16") <= 1


def rprop_step(param, grad, state, hp, t):
    """Rprop (Riedmiller & Braun 1993) in torch's form, written fresh with select and sign."""
    eta_minus, eta_plus = hp["etas"]
    lo, hi = hp["step_sizes"]
    prev = state.get("prev", np.zeros_like(grad))
    size = state.get("step_size", np.zeros_like(grad) + hp["lr"])
    prod = grad * prev
    factor = np.where(prod > 0, eta_plus, np.where(prod < 0, eta_minus, 1.0))
    size = np.minimum(np.maximum(size * factor, lo), hi)
    g = np.where(prod < 0, 0.0, grad)
    return update(param, np.sign(g) * size), {"prev": g, "step_size": size}


def test_torch_rprop_lies_inside_the_tolerance_of_its_description():
    rng = np.random.default_rng(0)
    hp = {"lr": 0.01, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50.0)}
    model = ErrorModel("Rprop", rprop_step, lambda hp, e: float(hp["lr"]))
    p0 = rng.normal(size=32).astype(np.float32).astype(np.float64)
    gs = [rng.normal(size=32).astype(np.float32).astype(np.float64) for _ in range(15)]
    p = torch.nn.Parameter(torch.as_tensor(p0, dtype=torch.float32))
    opt = torch.optim.Rprop([p], foreach=False, **hp)
    tol = T.tolerance(model, [p0], [[g] for g in gs], [hp], None, "float32")
    ref = run(rprop_step, [p0], [[g] for g in gs], hp)
    for k, g in enumerate(gs):
        p.grad = torch.as_tensor(g, dtype=torch.float32)
        opt.step()
        err = np.abs(p.detach().double().numpy() - ref[k][0])
        assert (err <= tol.theta[k][0]).all(), (k, float(np.max(err / tol.theta[k][0])))


def test_one_pass_with_and_without_observed_equals_two():
    """tolerance() bounds a float64 target and the float64 reference in one pass."""
    rng = np.random.default_rng(1)
    model = OPTIMIZERS["Adam"].error_model
    p0 = [rng.normal(size=5), rng.normal(size=3)]
    gs = [[rng.normal(size=5), None if k == 2 else rng.normal(size=3)] for k in range(6)]
    hp = {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}
    obs = [[x * (1 + 1e-6) for x in s] for s in run(model.step, p0, gs, hp)]
    both = EP.propagate_pair(model, p0, gs, [hp, hp], None, EP.FLOAT64, observed=obs)
    alone = (
        EP.propagate(model, p0, gs, [hp, hp], None, EP.FLOAT64, observed=obs),
        EP.propagate(model, p0, gs, [hp, hp], None, EP.FLOAT64),
    )
    for a, b in zip(both, alone, strict=True):
        assert (a.largest, a.divisor) == (b.largest, b.divisor)
        for k in range(6):
            for i in range(2):
                assert np.array_equal(a.theta[k][i], b.theta[k][i])
                assert np.array_equal(a.local[k][i], b.local[k][i])
