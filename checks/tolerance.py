"""The tolerance model of open-loop comparisons: derived from the arithmetic, never guessed.

Setting. The target runs in dtype d on inputs (params θ_0, gradients g_k) that are first
rounded to d; the reference runs in float64 on those same rounded values. Open loop, the
gradients do not depend on the iterates, so the only differences are rounding errors made
inside the two computations, and they can be bounded step by step.

Unit roundoff (round to nearest, p significand bits): u = 2^-p.
    float64 2^-53 ≈ 1.1e-16   float32 2^-24 ≈ 6.0e-8   bfloat16 2^-8 ≈ 3.9e-3
    float16 2^-11 ≈ 4.9e-4
Every element-wise operation whose result is held in d rounds it: fl(a∘b) = (a∘b)(1+δ),
|δ| ≤ u (Higham, *Accuracy and Stability of Numerical Algorithms*, §2.2). We charge u_d for
every element-wise operation, also where an implementation computes in a wider "opmath" type
and rounds once (torch's fused kernels) — that only makes the bound safe. Results and scalar
operands that fall among the subnormals get the absolute floor u·tiny instead (Higham §2.1):
fl(x) = x(1+δ) + η, |η| ≤ u·tiny. Scalar operands of element-wise ops (lr, λ, μ, 1-τ, 1-β, ε,
η/(1-β1^t)) are charged a rounding to d too: torch's CPU kernels cast ``alpha``, ``value`` and
lerp weights to the tensor's dtype (seen: float16 SGD with lr = 1.24e-5, a float16 subnormal,
steps 0.19 % = 3.9 u off). Scalar
hyper-parameter arithmetic (β^t, 1-β^t, η/(1-β1^t), 1-ηλ) is charged u_h = the unit roundoff
of max(d, float32): torch does it in Python doubles or in the fused kernels' float32 opmath;
an implementation that does it in bfloat16 loses the bias correction for β near 1 and is,
rightly, reported.

Running error bound (first order). Along the float64 trajectory we propagate, per element, an
absolute bound δx on the error of every quantity x the algorithm stores or computes:
    rounding a computed value r            δr += u·|r|
    linear combination a·x + w·y           δ = |a|δx + |w|δy + rounding of each product/sum
    √x                                     δ√x ≤ min(√δx, δx/√x) + u·√x
    x / y                                  δ(x/y) ≤ δx/|y| + |x/y|·δy/|y| + u·|x/y|
    1 - β^t  (t steps)                     relative (t+1)·u_h·β^t/(1-β^t) + u_h  (cancellation:
                                           large for β near 1 and small t)
SGD: g' = ±g + λθ; b_1 = g', b_t = μb + (1-τ)g'; d = b or g' + μb; θ ← θ - η·d.
Adam: g' (λθ in g' for Adam, θ(1-ηλ) first for AdamW); m, v as exponential averages (v,
v_max ≥ 0, sums of non-negative terms); D = √v/√(1-β2^t) + ε; Δ = η/(1-β1^t) · m/D.
In both, θ_t = fl(θ_{t-1} - Δ_t) adds u·|θ_t| every step: with parameters stored in bfloat16
or float16 this term dominates, the per-step rounding |θ|·u accumulates linearly to
Σ_k u·|θ_k| (linear, not √t: an update below u|θ|/2 is lost every time, deterministically).
The state errors (δm, δv, δb) decay with β1, β2, μ but are re-fed each step, so they
accumulate as Σ_j β^(t-j)·u·|terms_j|. ε enters through D: where ε ≫ √v̂ the relative error of
D is that of ε's addition (u), where ε ≪ √v̂ it is half that of v.

Tolerance. tol_t = (B_t(u_d, u_h) + B_t(2^-53, 2^-53)) / (1 - 32·u_d): the target's bound plus
the float64 reference's own (same operations, u = 2^-53), times a factor covering the
neglected second-order terms O((n·u)²) along a dependency chain of at most n ≈ 32 operations
(1.0000 for float64/32, 1.14 for bfloat16, 1.016 for float16).

Domain. The bound is first order: it holds while no intermediate overflows and every divisor
(Adam's D) is known to within 1/4 of itself. ``Tolerance.outside`` says why a case leaves that
domain (float16: g² above 65504, or v = 0 leaving ε = 1e-8 alone in D, where it rounds to 0);
such cases are not compared. Underflow needs no exclusion: the u·tiny floor covers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Precision:
    name: str
    u: float  # unit roundoff 2^-p
    tiny: float  # smallest positive normal number
    huge: float  # largest finite number


PRECISIONS: dict[str, Precision] = {
    "float64": Precision("float64", 2.0**-53, float(np.finfo(np.float64).tiny), 1.8e308),
    "float32": Precision(
        "float32", 2.0**-24, float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    ),
    "bfloat16": Precision("bfloat16", 2.0**-8, 2.0**-126, 3.3895313892515355e38),
    "float16": Precision("float16", 2.0**-11, 2.0**-14, 65504.0),
}
FLOAT64 = PRECISIONS["float64"]
# The invariant checks run the target here: exact relations are visible down to ~1e-16.
EXACT_DTYPE = "float64"
# Longest chain of dependent roundings in one step (Adam: ~12) plus state history; the
# first-order bound is divided by (1 - N_CHAIN·u) for the neglected O((n·u)²) terms.
N_CHAIN = 32

# First order needs every divisor known to within a fraction of itself.
MAX_DIVISOR_ERROR = 0.25


def precision(dtype: str) -> Precision:
    return PRECISIONS[dtype]


def hyper_precision(p: Precision) -> Precision:
    """Scalar hyper-parameter arithmetic: never coarser than float32 (see module docstring)."""
    return p if p.u <= PRECISIONS["float32"].u else PRECISIONS["float32"]


@dataclass
class ErrorBound:
    """Per step k (0-based) and tensor i: bounds on |error| of θ after step k+1.

    ``theta`` accumulates over the run; ``local`` is what step k+1 adds (the error of that
    step's update and its rounding, given the state it started from)."""

    theta: list[list[np.ndarray]]
    local: list[list[np.ndarray]]
    largest: float = 0.0  # largest |intermediate|
    divisor: float = 0.0  # largest relative error bound of a divisor


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


def error_bound(
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


@dataclass
class Tolerance:
    """Per step k (0-based) and tensor i: how far the target may be from the reference."""

    dtype: str
    theta: list[list[np.ndarray]]
    local: list[list[np.ndarray]]
    outside: str | None = None  # why the case leaves the model's domain (None: inside)
    extra: dict[str, Any] = field(default_factory=dict)


def second_order_factor(prec: Precision) -> float:
    return 1.0 / (1.0 - N_CHAIN * prec.u)


def tolerance(
    fam: str,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    dtype: str,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None = None,
    param_error: Sequence[np.ndarray] | None = None,
    observed: Sequence[Sequence[np.ndarray]] | None = None,
) -> Tolerance:
    """Target in ``dtype`` against the float64 reference on the same (rounded) inputs;
    ``observed`` (the target's trajectory) lets its rounding terms follow its magnitudes."""
    prec = precision(dtype)
    kw = {"grad_error": grad_error, "param_error": param_error}
    with np.errstate(all="ignore"):  # out-of-range inputs show up in `outside`
        target = error_bound(fam, params0, grads, hps, lrs, prec, observed=observed, **kw)
        ref = error_bound(fam, params0, grads, hps, lrs, FLOAT64, **kw)
    f = second_order_factor(prec)
    theta = [
        [f * (a + b) for a, b in zip(x, y, strict=True)]
        for x, y in zip(target.theta, ref.theta, strict=True)
    ]
    local = [
        [f * (a + b) for a, b in zip(x, y, strict=True)]
        for x, y in zip(target.local, ref.local, strict=True)
    ]
    outside = None
    if not np.isfinite(target.largest):
        outside = f"an input or intermediate is not finite in {dtype}"
    elif target.largest > prec.huge / 4:
        outside = f"an intermediate reaches {target.largest:.3g}, near {dtype}'s overflow"
    elif target.divisor > MAX_DIVISOR_ERROR:
        outside = (
            f"a denominator is uncertain to {target.divisor:.2g} of itself in {dtype} "
            "(ε and √v̂ below its resolution): first order no longer holds"
        )
    return Tolerance(dtype, theta, local, outside)


def case_tolerance(fam: str, case: Any, dtype: str, **kw: Any) -> Tolerance:
    """``tolerance`` for a strategies.Case (its per-tensor hyper-parameters and lrs)."""
    hps = [case.tensor_hp(i) for i in range(len(case.params0))]
    return tolerance(fam, case.params0, case.grads, hps, case.lrs, dtype, **kw)


def residual_tolerance(
    tol: Tolerance, k: int, i: int, theta_t: np.ndarray, theta_prev: np.ndarray
) -> np.ndarray:
    """Bound on the error of an observed residual θ_t - D·θ_{t-1} (|D| ≤ 1) at step k+1.

    The step's own error (``local``: it starts from the target's own θ_{t-1}) plus the float64
    rounding of forming the difference and the expected value (4 operations).
    """
    return tol.local[k][i] + 4 * FLOAT64.u * (np.abs(theta_t) + np.abs(theta_prev))


# --- the closing note's table ----------------------------------------------------------------

FORMULA = (
    "tol_t = [B_t(u_d, u_h) + B_t(2^-53, 2^-53)] / (1 - 32 u_d);  "
    "B_t = Σ_k≤t (u_d·|θ_k| + δΔ_k), δΔ from the propagated state errors"
)


def table(steps: int = 10) -> list[dict[str, Any]]:
    """dtype → unit roundoff → formula → example tolerances after ``steps`` steps (SGD μ=0.9
    and Adam defaults, lr 1e-3, g ~ N(0,1)), absolute and per displacement |θ_t − θ_0|, for
    θ_0 ~ N(0,1) and for θ_0 ~ 10·lr·N(0,1) ("near_lr": params the size of a few updates,
    as the low-precision cross-validation draws them). Seeded, so reproducible."""
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=8)
    gs = [[rng.normal(size=8)] for _ in range(steps)]
    examples = {
        "SGD": ("sgd", {"lr": 1e-3, "momentum": 0.9}),
        "Adam": ("adam", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
    }
    rows = []
    for name, prec in PRECISIONS.items():
        row: dict[str, Any] = {
            "dtype": name,
            "u": prec.u,
            "u_hyper": hyper_precision(prec).u,
            "second_order": second_order_factor(prec),
            "formula": FORMULA,
        }
        for label, (fam, hp) in examples.items():
            for suffix, start in (("", p0), ("_near_lr", 10 * hp["lr"] * p0)):
                init = [_round_to(start, name)]
                tol = tolerance(fam, init, gs, [hp], None, name)
                t_end = float(np.max(tol.theta[-1][0]))
                row[f"{label}_tol{suffix}"] = t_end
                row[f"{label}_tol{suffix}_per_displacement"] = t_end / _displacement(
                    fam, init, gs, hp
                )
        rows.append(row)
    return rows


def _round_to(x: np.ndarray, dtype: str) -> np.ndarray:
    import torch

    return torch.as_tensor(x).to(getattr(torch, dtype)).double().numpy()


def _displacement(fam: str, p0: list[np.ndarray], gs: list, hp: dict) -> float:
    from optcheck.reference import adam, sgd
    from optcheck.reference.trajectory import run

    step = {"sgd": sgd.sgd_step, "adam": adam.adam_step, "adamw": adam.adamw_step}[fam]
    traj = run(step, p0, gs, hp)
    return float(np.max(np.abs(traj[-1][0] - p0[0])))


def format_table(rows: list[dict[str, Any]] | None = None) -> str:
    """The table as text, for the closing note and the docs."""
    rows = rows if rows is not None else table()
    cols = [
        ("SGD_tol_per_displacement", "SGD θ~1"),
        ("SGD_tol_near_lr_per_displacement", "SGD θ~lr"),
        ("Adam_tol_per_displacement", "Adam θ~1"),
        ("Adam_tol_near_lr_per_displacement", "Adam θ~lr"),
    ]
    lines = [
        FORMULA,
        "tolerance / displacement after 10 steps (lr 1e-3, g ~ N(0,1)):",
        f"{'dtype':9s} {'u':>9s} {'u_hyper':>9s} {'2nd ord':>8s} "
        + " ".join(f"{h:>10s}" for _, h in cols),
    ]
    for r in rows:
        lines.append(
            f"{r['dtype']:9s} {r['u']:9.2e} {r['u_hyper']:9.2e} {r['second_order']:8.4f} "
            + " ".join(f"{r[k]:10.2e}" for k, _ in cols)
        )
    return "\n".join(lines)
