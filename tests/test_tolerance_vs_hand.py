"""The generic bound against the hand-derived one it replaced, on seeded runs.

Until commit 0fe3213 checks/tolerance.py propagated SGD's and Adam's errors by hand
(``_sgd_tensor``, ``_adam_tensor``, below verbatim but for formatting). The engine now
derives the bound from the reference step. Here both bound the same seeded runs in every
dtype; the ratio new/old per element must stay within ``LOOSER``, and torch (forloop,
foreach, fused) must stay within the new bound on the same runs. Where the new bound is
looser it covers more arrangements (see ``LOOSER``); where it is tighter the rule was loose
but the old one's looseness bought nothing (√: δ/(√x+√(x-δ)) instead of δ/√x; float64
hyper-parameters are exact).

Run with -s to print the table of ratios (median, min, max per dtype and family).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from optcheck.checks import tolerance as T
from optcheck.checks.catalog import OPTIMIZERS as _RECORDS
from optcheck.checks.errorprop import ErrorBound, Precision, hyper_precision
from optcheck.reference.trajectory import run

# Largest ratio new/old allowed. The generic bound is looser where it covers more:
# pow within 2 ulp (CUDA's double pow; the old (t+1)u_h charged 2u_h at t = 1 with β exact
# in float64), hyper-parameters held in float32 (torch accepts tensor lr and betas: β's own
# rounding enters every EMA), scalar operands both held in float32 and cast to the dtype,
# and division by |y| - E_y instead of |y|. Measured: θ ≤ 2.2, local ≤ 2.3 (float32 Adam).
LOOSER = 2.5
DTYPES = ["float64", "float32", "bfloat16", "float16"]
FAMILIES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
TORCH_DTYPE = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
SEEDS = 40


# --- the hand-derived bound, as it was -------------------------------------------------------


class _Range:
    """What decides whether the first-order model holds: the largest magnitude met (overflow)
    and the largest relative error bound of a divisor (Adam's denominator)."""

    def __init__(self) -> None:
        self.largest = 0.0
        self.divisor = 0.0

    def see(self, *xs: np.ndarray) -> None:
        for x in xs:
            a = np.abs(np.asarray(x, dtype=np.float64))
            if a.size:
                self.largest = max(self.largest, float(a.max()))

    def divide_by(self, d: np.ndarray, dd: np.ndarray) -> None:
        if np.size(d):
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(dd > 0, dd / np.abs(d), 0.0)
            self.divisor = max(self.divisor, float(np.max(rel)))


class _Rounding:
    """The error terms of one precision: u, and the absolute floor u·tiny of results and
    scalar operands that land among the subnormals (Higham §2.1)."""

    def __init__(self, prec: Precision):
        self.u, self.tiny = prec.u, prec.tiny
        self.uh = hyper_precision(prec).u

    def rnd(self, x: Any) -> Any:
        """Rounding an element-wise result x to the dtype."""
        return self.u * (np.abs(x) + self.tiny)

    def scal(self, s: float) -> float:
        """Rounding a scalar operand (lr, λ, μ, 1-β, ε, η/(1-β1^t)) to the dtype: torch's CPU
        kernels cast ``alpha``/``value``/``weight`` to the tensor's dtype (float16: a lr
        below 6.1e-5 becomes subnormal, relative error up to 2^-25/lr)."""
        return self.u * (abs(s) + self.tiny)

    def ema(self, a: np.ndarray, b: np.ndarray, w: float, r: np.ndarray) -> np.ndarray:
        """Rounding of r = (1-w)·a + w·b, bounded for each way of computing it: two products
        and a sum (2(1-w)u|a| + 2wu|b|), torch's lerp a + w(b-a) for w < 1/2 (3wu|b-a|) and
        b - (1-w)(b-a) for w ≥ 1/2 (3(1-w)u|b-a|); plus the result's rounding and the
        computation of w = 1-β (``one_minus``)."""
        beta = 1.0 - w
        ca, cb = (2 * beta + 3 * w, 3 * w) if w < 0.5 else (3 * beta, max(3 * beta, 2 * w))
        mag = np.abs(a) + np.abs(b)
        return (
            self.u * (ca * np.abs(a) + cb * np.abs(b) + self.tiny * (mag + 3))
            + self.rnd(r)
            + self.one_minus(beta) * mag
        )

    def one_minus(self, beta: float) -> float:
        """Error of computing 1-β: exact for β ≥ 1/2 (Sterbenz), else ≤ min(u_h(1-β), β)."""
        return 0.0 if beta >= 0.5 else min(self.uh * (1.0 - beta), beta)


def _sqrt_error(x: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """|√(x+δ) - √x| ≤ min(√|δ|, |δ|/√x)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lin = np.where(x > 0, dx / np.sqrt(np.where(x > 0, x, 1.0)), np.inf)
    return np.minimum(np.sqrt(dx), lin)


def _bias_correction(beta: float, t: int, uh: float) -> tuple[float, float]:
    """(1 - β^t, its relative error bound)."""
    bc = 1.0 - beta**t
    if bc == 0:
        return bc, 0.0
    return bc, uh * ((t + 1) * beta**t + bc) / bc


def _decay_into_grad(R: _Rounding, g, theta, dg, dth, lam):
    """g' = g + λθ (torch: grad.add(param, alpha=λ)) and its error."""
    gg = g + lam * theta
    return gg, dg + lam * dth + R.scal(lam) * np.abs(theta) + R.rnd(lam * theta) + R.rnd(gg)


def _observed(obs, k: int, theta: np.ndarray, new: np.ndarray, step: np.ndarray):
    """|θ_new| and |step| for the rounding terms: the larger of the model's and the target's
    own (``obs[k]`` is the target's θ after step k+1): a target's rounding follows its own
    magnitudes, which differ from the spec's when it does not follow the spec."""
    if obs is None or obs[k] is None:
        return np.abs(new), np.abs(step)
    prev = obs[k - 1] if k > 0 and obs[k - 1] is not None else theta
    return np.maximum(np.abs(new), np.abs(obs[k])), np.maximum(np.abs(step), np.abs(obs[k] - prev))


def _sgd_tensor(theta, gs, hp, lrs, R: _Rounding, gerr, rng, dth, obs):
    mu = float(hp.get("momentum", 0.0))
    tau = float(hp.get("dampening", 0.0))
    lam = float(hp.get("weight_decay", 0.0))
    nesterov = bool(hp.get("nesterov", False))
    s = -1.0 if hp.get("maximize", False) else 1.0
    b = db = None
    thetas, locals_ = [], []
    for k, g in enumerate(gs):
        if g is None:
            thetas.append(dth.copy())
            locals_.append(np.zeros_like(theta))
            continue
        eta = float(lrs[k]) if lrs is not None else float(hp["lr"])
        dg = np.zeros_like(theta) if gerr is None or gerr[k] is None else gerr[k]
        gg = s * g
        if lam != 0:
            gg, dg = _decay_into_grad(R, gg, theta, dg, dth, lam)
        if mu != 0:
            if b is None:
                b, db = gg.copy(), dg.copy()  # torch clones g': exact
            else:
                b_new = mu * b + (1 - tau) * gg
                db = (
                    mu * db
                    + (1 - tau) * dg
                    + R.scal(mu) * np.abs(b)
                    + R.rnd(mu * b)
                    + R.scal(1 - tau) * np.abs(gg)
                    + R.rnd((1 - tau) * gg)
                    + R.rnd(b_new)
                    + R.one_minus(tau) * np.abs(gg)
                )
                b = b_new
            if nesterov:
                d = gg + mu * b
                dd = dg + mu * db + R.scal(mu) * np.abs(b) + R.rnd(mu * b) + R.rnd(d)
            else:
                d, dd = b, db
        else:
            d, dd = gg, dg
        new = theta - eta * d
        mag_new, mag_step = _observed(obs, k, theta, new, eta * d)
        local = eta * dd + R.scal(eta) * np.abs(d) + R.rnd(mag_step) + R.rnd(mag_new)
        rng.see(theta, gg, d, eta * d, new, b if b is not None else 0.0)
        dth = dth + local
        theta = new
        thetas.append(dth.copy())
        locals_.append(local)
    return thetas, locals_


def _adam_tensor(theta, gs, hp, lrs, R: _Rounding, gerr, rng, dth, obs, decoupled):
    b1, b2 = (float(x) for x in hp.get("betas", (0.9, 0.999)))
    eps = float(hp.get("eps", 1e-8))
    lam = float(hp.get("weight_decay", 0.0))
    amsgrad = bool(hp.get("amsgrad", False))
    s = -1.0 if hp.get("maximize", False) else 1.0
    uh = R.uh
    zeros = np.zeros_like(theta)
    m, v, vmax = zeros, zeros, zeros
    dm, dv, dvmax = zeros, zeros, zeros
    t = 0
    thetas, locals_ = [], []
    for k, g in enumerate(gs):
        if g is None:
            thetas.append(dth.copy())
            locals_.append(zeros)
            continue
        t += 1
        eta = float(lrs[k]) if lrs is not None else float(hp["lr"])
        dg = zeros if gerr is None or gerr[k] is None else gerr[k]
        gg = s * g
        local = zeros
        th = theta
        shrink = 1.0
        if lam != 0 and decoupled:
            shrink = 1.0 - eta * lam  # torch: param.mul_(1 - lr·λ)
            th = shrink * theta
            local = (uh * (2 * eta * lam + abs(shrink)) + R.scal(shrink)) * np.abs(theta) + R.rnd(
                th
            )
        elif lam != 0:
            gg, dg = _decay_into_grad(R, gg, theta, dg, dth, lam)
        g2 = gg * gg
        m_new = b1 * m + (1 - b1) * gg
        v_new = b2 * v + (1 - b2) * g2
        dm = b1 * dm + (1 - b1) * dg + R.ema(m, gg, 1 - b1, m_new)
        dv = (
            b2 * dv
            + (1 - b2) * (2 * np.abs(gg) * dg + dg * dg + R.rnd(g2))
            + R.ema(v, g2, 1 - b2, v_new)
        )
        m, v = m_new, v_new
        if amsgrad:
            vmax, dvmax = np.maximum(vmax, v), np.maximum(dvmax, dv)
            vu, dvu = vmax, dvmax
        else:
            vu, dvu = v, dv
        bc1, e1 = _bias_correction(b1, t, uh)
        bc2, e2 = _bias_correction(b2, t, uh)
        sb = np.sqrt(bc2)
        r = np.sqrt(vu)
        dr = _sqrt_error(vu, dvu) + R.rnd(r)
        rh = r / sb  # torch divides by the scalar √(1-β2^t), held in the dtype
        drh = dr / sb + rh * (e2 / 2 + uh) + R.scal(1 / sb) * r + R.rnd(rh)
        den = rh + eps
        dden = drh + R.scal(eps) + R.rnd(den)
        rng.divide_by(den, dden)
        safe = np.where(den > 0, den, 1.0)
        q = np.where(den > 0, m / safe, 0.0)
        dq = np.where(den > 0, (dm + np.abs(q) * dden) / safe, 0.0) + R.rnd(q)
        step = eta / bc1
        delta = step * q
        ddelta = step * dq + np.abs(delta) * (e1 + uh) + R.scal(step) * np.abs(q) + R.rnd(delta)
        new = th - delta
        mag_new, mag_step = _observed(obs, k, th, new, delta)
        # The step's relative error bound, applied to the larger of model and observed step
        # (where the model's step is 0, the error of the last three operations).
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(delta != 0, ddelta / np.abs(delta), e1 + uh + 3 * R.u)
        rel = np.minimum(rel, 1.0)
        ddelta = np.maximum(ddelta, rel * mag_step)
        local = local + ddelta + R.rnd(mag_new)
        rng.see(theta, th, gg, g2, m, vu, den, delta, new)
        dth = abs(shrink) * dth + local
        theta = new
        thetas.append(dth.copy())
        locals_.append(local)
    return thetas, locals_


def old_error_bound(
    fam: str,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    prec: Precision,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None = None,
    param_error: Sequence[np.ndarray] | None = None,
    observed: Sequence[Sequence[np.ndarray]] | None = None,
) -> ErrorBound:
    """The running error bound of one computation in ``prec`` (see the module docstring).

    ``hps[i]`` are tensor i's hyper-parameters; ``grad_error[k][i]``, when given, bounds an
    error already present in the input gradient (e.g. from forming a linear combination),
    ``param_error[i]`` one in the initial params. ``observed[k][i]``, the target's own θ
    after step k+1, raises the rounding terms to its magnitudes where they are larger.
    """
    R = _Rounding(prec)
    rng = _Range()
    per_tensor = []
    for i, p0 in enumerate(params0):
        theta = np.asarray(p0, dtype=np.float64)
        gs = [gs_k[i] for gs_k in grads]
        gerr = None if grad_error is None else [ge[i] for ge in grad_error]
        dth = np.zeros_like(theta) if param_error is None else np.asarray(param_error[i])
        obs = None if observed is None else [o[i] for o in observed]
        if fam == "sgd":
            per_tensor.append(_sgd_tensor(theta, gs, hps[i], lrs, R, gerr, rng, dth, obs))
        elif fam in ("adam", "adamw"):
            per_tensor.append(
                _adam_tensor(theta, gs, hps[i], lrs, R, gerr, rng, dth, obs, fam == "adamw")
            )
        else:
            raise ValueError(f"no error model for family {fam!r}")
    steps = len(grads)
    return ErrorBound(
        theta=[[pt[0][k] for pt in per_tensor] for k in range(steps)],
        local=[[pt[1][k] for pt in per_tensor] for k in range(steps)],
        largest=rng.largest,
        divisor=rng.divisor,
    )


def old_tolerance(fam, params0, grads, hps, lrs, dtype, *, observed=None):
    prec = T.precision(dtype)
    target = old_error_bound(fam, params0, grads, hps, lrs, prec, observed=observed)
    ref = old_error_bound(fam, params0, grads, hps, lrs, T.FLOAT64)
    f = T.second_order_factor(prec)
    theta = [
        [f * (a + b) for a, b in zip(x, y, strict=True)]
        for x, y in zip(target.theta, ref.theta, strict=True)
    ]
    local = [
        [f * (a + b) for a, b in zip(x, y, strict=True)]
        for x, y in zip(target.local, ref.local, strict=True)
    ]
    outside = target.largest > prec.huge / 4 or target.divisor > T.MAX_DIVISOR_ERROR
    return theta, local, outside or not np.isfinite(target.largest)


# --- seeded runs -----------------------------------------------------------------------------


def _rounded(x, dtype):
    return torch.as_tensor(x).to(TORCH_DTYPE[dtype]).double().numpy()


def _case(fam: str, dtype: str, seed: int):
    rng = np.random.default_rng(seed)
    lr = float(10 ** rng.uniform(-4, -1))
    if fam == "sgd":
        mu = float(rng.choice([0.0, 0.5, 0.9]))
        nesterov = bool(rng.integers(2)) and mu > 0
        hp = {
            "lr": lr,
            "momentum": mu,
            "dampening": 0.0 if nesterov else float(rng.choice([0.0, 0.3])),
            "nesterov": nesterov,
            "weight_decay": float(rng.choice([0.0, 0.05])),
            "maximize": bool(rng.integers(2)),
        }
    else:
        b2 = [0.9, 0.99, 0.999]
        hp = {
            "lr": lr,
            "betas": (float(rng.choice([0.0, 0.5, 0.9, 0.99])), float(rng.choice(b2))),
            "eps": float(10 ** rng.uniform(-10, -4)) if dtype != "float16" else 1e-3,
            "weight_decay": float(rng.choice([0.0, 0.01, 0.1])),
            "amsgrad": bool(rng.integers(2)),
            "maximize": bool(rng.integers(2)),
        }
    steps = int(rng.integers(1, 13))
    e = rng.uniform(-1, 1)
    low = dtype in ("bfloat16", "float16")
    scale = lr * 10 ** rng.uniform(0, 2) if low else 10 ** rng.uniform(-2, 1)
    p0 = [_rounded(rng.normal(size=8) * scale, dtype), _rounded(rng.normal(size=(2, 3)), dtype)]
    gs = [
        [_rounded(rng.normal(size=8) * 10**e, dtype), _rounded(rng.normal(size=(2, 3)), dtype)]
        for _ in range(steps)
    ]
    lrs = None if rng.integers(2) else [lr * (0.5 + rng.uniform()) for _ in range(steps)]
    return hp, p0, gs, lrs


def _torch_run(name, hp, p0, gs, lrs, dtype, impl):
    cls = getattr(torch.optim, name)
    ps = [torch.nn.Parameter(torch.tensor(p).to(TORCH_DTYPE[dtype])) for p in p0]
    opt = cls(
        ps,
        **hp,
        **{"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[
            impl
        ],
    )
    out = []
    for k, g_k in enumerate(gs):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[k]
        for p, g in zip(ps, g_k, strict=True):
            p.grad = torch.tensor(g).to(TORCH_DTYPE[dtype])
        opt.step()
        out.append([p.detach().double().numpy().copy() for p in ps])
    return out


RATIOS: dict[tuple[str, str], tuple[float, float, float]] = {}


@pytest.mark.parametrize("fam", FAMILIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_generic_bound_against_the_hand_derived_one(dtype, fam):
    name = FAMILIES[fam]
    model = _RECORDS[name].error_model
    theta_r, local_r, worst_torch = [], [], 0.0
    for seed in range(SEEDS):
        hp, p0, gs, lrs = _case(fam, dtype, seed)
        hps = [hp] * len(p0)
        runs = [_torch_run(name, hp, p0, gs, lrs, dtype, i) for i in ("forloop", "foreach")]
        if dtype != "float16" or fam == "sgd":
            runs.append(_torch_run(name, hp, p0, gs, lrs, dtype, "fused"))
        observed = runs[0] if seed % 2 else None
        new = T.tolerance(model, p0, gs, hps, lrs, dtype, observed=observed)
        old_theta, old_local, old_outside = old_tolerance(
            fam, p0, gs, hps, lrs, dtype, observed=observed
        )
        if new.outside or old_outside:
            continue
        for k in range(len(gs)):
            for i in range(len(p0)):
                m = old_theta[k][i] > 0
                theta_r.extend((new.theta[k][i][m] / old_theta[k][i][m]).tolist())
                m = old_local[k][i] > 0
                local_r.extend((new.local[k][i][m] / old_local[k][i][m]).tolist())
        expected = run(model.step, p0, gs, hp, lrs)
        for got in runs:
            for k in range(len(gs)):
                for i in range(len(p0)):
                    err = np.abs(got[k][i] - expected[k][i])
                    tol = new.theta[k][i]
                    assert (err <= tol).all(), (seed, k, i)
                    worst_torch = max(worst_torch, float(np.max(err / tol, initial=0.0)))
    theta_r, local_r = np.array(theta_r), np.array(local_r)
    assert theta_r.size > 100
    RATIOS[(dtype, fam)] = (float(np.median(theta_r)), float(theta_r.min()), float(theta_r.max()))
    print(
        f"\n{dtype:9s} {fam:6s} new/old θ: median {np.median(theta_r):.3f} "
        f"min {theta_r.min():.3f} max {theta_r.max():.3f} | local: median "
        f"{np.median(local_r):.3f} min {local_r.min():.3f} max {local_r.max():.3f} | "
        f"torch/new worst {worst_torch:.3f}"
    )
    assert theta_r.max() <= LOOSER and local_r.max() <= LOOSER
