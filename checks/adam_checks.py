"""Adam-family invariants (Kingma & Ba 2015; Reddi et al. 2018; Loshchilov & Hutter 2019).

Each is a relation an Adam implementation satisfies for *any* drawn case, observed through the
parameter deltas of an open-loop run in float64 (where small slips such as ε placement or an
off-by-one bias correction are far above round-off). Tolerances come from checks.tolerance.

Notation: g' is the gradient the moments see (−g under maximize; + λθ for Adam's coupled L2
decay); AdamW first decays θ ← (1−ηλ)θ, so its Adam step is the residual
r_t = θ_t − (1−η_tλ)θ_{t−1} (for Adam, r_t = θ_t − θ_{t−1}).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.harness import to_numpy
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.spec import ErrorModel

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _adam(ctx: Context) -> tuple[OptimizerRecord, ErrorModel, bool]:
    """The record, its error model and whether its decay is decoupled (AdamW)."""
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name an Adam-family optimizer with an error model")
    return spec, spec.error_model, spec.decay == "decoupled"


def _signed(hp: dict[str, Any]) -> float:
    return -1.0 if hp.get("maximize", False) else 1.0


def _decay(hp: dict[str, Any], lr: float, decoupled: bool) -> float:
    """D in r_t = θ_t − D·θ_{t−1}."""
    return 1.0 - lr * float(hp.get("weight_decay", 0.0)) if decoupled else 1.0


def _moment_grad(hp: dict[str, Any], g: np.ndarray, theta: np.ndarray, decoupled: bool):
    """g' as the moments see it, from the target's own θ_{t−1}."""
    gp = _signed(hp) * g
    lam = float(hp.get("weight_decay", 0.0))
    return gp if decoupled or lam == 0 else gp + lam * theta


# --- first step --------------------------------------------------------------------------------


@check(
    "adam.first_step",
    "first step is −η·g/(|g|+ε) elementwise, whatever β1, β2 (plus the weight-decay term)",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """Kingma & Ba §3: m̂_1 = g', v̂_1 = g'², so Δθ_1 = −η·g'/(|g'|+ε) (also under AMSGrad)."""
    spec, model, decoupled = _adam(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp, lr = case.tensor_hp(i), case.lr_at(i, 0)
            gp = _moment_grad(hp, case.grads[0][i], theta0, decoupled)
            d = _decay(hp, lr, decoupled)
            expected = d * theta0 - lr * gp / (np.abs(gp) + float(hp.get("eps", 1e-8)))
            obs = Observation(
                f"traj[0][1][{i}]",
                traj[1][i],
                expected,
                T.residual_tolerance(tol, 0, i, traj[1][i], theta0),
            )
            require(
                ctx,
                obs,
                what="first step is not −η·g/(|g|+ε)",
                runs=[case],
                step=1,
                tensor=i,
            )

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


# --- constant gradient -------------------------------------------------------------------------


@check(
    "adam.constant_gradient",
    "under a constant gradient every step is −η_t·g/(|g|+ε) (m̂_t = g, v̂_t = g²)",
    invariant=True,
)
def constant_gradient(ctx: Context) -> CheckResult:
    """Bias correction makes m̂_t = g and v̂_t = g² exactly for constant g (Kingma & Ba §3), so
    the step does not depend on t, β1 or β2 — only on η_t. Adam's coupled decay would make g'
    vary, so Adam is drawn with λ = 0; AdamW keeps its decay (it is outside the moments)."""
    spec, model, decoupled = _adam(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for k in range(case.steps):
            for i in range(len(case.params0)):
                hp, lr = case.tensor_hp(i), case.lr_at(i, k)
                gp = _signed(hp) * case.grads[k][i]
                d = _decay(hp, lr, decoupled)
                expected = -lr * gp / (np.abs(gp) + float(hp.get("eps", 1e-8)))
                obs = Observation(
                    deltas.delta_expr(i, 0, d),
                    traj[k + 1][i] - d * traj[k][i],
                    expected,
                    T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i]),
                )
                require(
                    ctx,
                    obs,
                    what="under a constant gradient the step is not −η·g/(|g|+ε)",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                )

    fixed = {} if decoupled else {"weight_decay": 0.0}
    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed=fixed,
        kinds=("constant", "near_eps", "near_sqrt_eps"),
        steps=(2, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)


# --- the step bound ------------------------------------------------------------------------


def ratio_bound(beta1: float, beta2: float, t: int) -> float:
    """sup over gradient sequences of |m̂_t|/√v̂_t (Cauchy–Schwarz, attained):

        C_t = (1−β1)/(1−β1^t) · √((1−β2^t)/(1−β2)) · √(Σ_{j<t} (β1²/β2)^j).

    Kingma & Ba §2.1 state |Δ| ≲ η·max(1, (1−β1)/√(1−β2)) as an approximate bound; it is
    not a bound for every sequence: gradients growing by β2/β1 per step attain C_t, which
    passes it from t = 2 on at β = (0.9, 0.99) (C_2 = 1.0007 > 1) and from t = 210 on at the
    defaults (C_∞ = 3.16/√(1−β1²/β2) ≈ 7.27 > 3.16). With β2 = 0 < β1 it is unbounded (inf).
    """
    if t == 1 or beta1 == 0:
        s = 1.0
    elif beta2 == 0:
        return float("inf")
    else:
        r = beta1 * beta1 / beta2
        with np.errstate(over="ignore"):
            s = float(sum(np.float64(r) ** j for j in range(t)))  # may be inf: no bound
    c1 = (1 - beta1) / (1 - beta1**t)
    c2 = 1.0 if beta2 == 0 else (1 - beta2**t) / (1 - beta2)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(c1 * np.sqrt(c2) * np.sqrt(s))


@check(
    "adam.step_bound",
    "every step obeys the tight form of Kingma & Ba's bound |Δθ_t| ≤ η·C_t·G_t/(G_t+ε)",
    invariant=True,
)
def step_bound(ctx: Context) -> CheckResult:
    """|r_t| = η|m̂|/(√v̂+ε) = η·(|m̂|/√v̂)·(√v̂/(√v̂+ε)) ≤ η·C_t·G_t/(G_t+ε), with C_t from
    ``ratio_bound`` and G_t = max_{k≤t}|g'_k| ≥ √v̂_t (v̂ is a convex combination of the g'²);
    strictly below η·C_t for ε > 0. AMSGrad only enlarges the denominator, so it holds too."""
    spec, model, decoupled = _adam(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i, theta0 in enumerate(case.params0):
            hp = case.tensor_hp(i)
            b1, b2 = (float(b) for b in hp.get("betas", (0.9, 0.999)))
            eps = float(hp.get("eps", 1e-8))
            gmax = np.zeros_like(theta0)
            for k in range(case.steps):
                lr = case.lr_at(i, k)
                gp = _moment_grad(hp, case.grads[k][i], traj[k][i], decoupled)
                gmax = np.maximum(gmax, np.abs(gp))
                c = ratio_bound(b1, b2, k + 1)
                if not np.isfinite(c):
                    break
                d = _decay(hp, lr, decoupled)
                bound = lr * c * gmax / (gmax + eps)
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                obs = Observation(
                    f"np.abs({deltas.delta_expr(i, 0, d)})",
                    np.abs(traj[k + 1][i] - d * traj[k][i]),
                    bound,
                    slack + 16 * (k + 2) * U * bound,  # + round-off of the bound itself
                    relation="at_most",
                )
                require(
                    ctx,
                    obs,
                    what="the step exceeds η·C_t·G/(G+ε)",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                )

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


# --- scale invariance --------------------------------------------------------------------------


def eps_effect(c: float, eps: float, floor: np.ndarray, ratio: float) -> np.ndarray:
    """Bound on |r_t(g) − r_t(c·g)| / η_t.

    r(g) = −η m̂/(x+ε) and r(c·g) = −η m̂/(x+ε/c) with x = √v̂ of the run with g, so
        |r(g) − r(cg)| = η|m̂|·ε|1−1/c| / ((x+ε)(x+ε/c)) ≤ η·C_t·h(x),
        h(x) = ε|1−1/c|·x / ((x+ε)(x+ε/c))      (|m̂| ≤ C_t·x),
    h rises to its maximum at x* = ε/√c and falls after, and x ≥ ``floor`` (see
    ``sqrt_vhat_floor``), so h(x) ≤ h(max(floor, x*)). Never more than |√c−1|/(√c+1).
    """
    x = np.maximum(floor, eps / np.sqrt(c))
    return ratio * eps * abs(1 - 1 / c) * x / ((x + eps) * (x + eps / c))


def sqrt_vhat_floor(gps: list[np.ndarray], beta2: float) -> np.ndarray:
    """√v̂_t ≥ max_k |g'_k|·√((1−β2)β2^(t−k)/(1−β2^t)): one term of the average."""
    t = len(gps)
    bc2 = 1 - beta2**t if beta2 > 0 else 1.0
    out = np.zeros_like(gps[0])
    for k, g in enumerate(gps, start=1):
        w = (1 - beta2) * beta2 ** (t - k) / bc2 if beta2 > 0 else float(k == t)
        out = np.maximum(out, np.abs(g) * np.sqrt(w))
    return out


class _Scaled:
    """A case and the same case with every gradient times c (describe() for the evidence)."""

    def __init__(self, case: S.Case, power: int):
        self.case, self.c = case, 2.0**power
        self.scaled = case.replace(
            grads=tuple(tuple(None if g is None else self.c * g for g in gs) for gs in case.grads),
            recipe={**case.recipe, "gradient_scale": self.c},
        )

    def describe(self) -> dict[str, Any]:
        return {"runs": [self.case.describe(), self.scaled.describe()], "c": self.c}


@check(
    "adam.scale_invariance",
    "gradients c·g give the same steps as g up to the derived ε effect",
    invariant=True,
)
def scale_invariance(ctx: Context) -> CheckResult:
    """m̂ scales with c, √v̂ with |c|: as ε → 0 the update is invariant (Kingma & Ba §2.1); the
    ε effect is bounded by ``eps_effect``. c = 2^k, so scaling adds no rounding. Adam's coupled
    L2 term λθ does not scale with c, so Adam is drawn with λ = 0; AdamW's decay is outside the
    moments and stays."""
    spec, model, decoupled = _adam(ctx)

    def prop(pair: _Scaled) -> None:
        case, scaled = pair.case, pair.scaled
        traj = trajectory(ctx, case, F64)
        traj_c = trajectory(ctx, scaled, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        tol_c = T.case_tolerance(model, scaled, F64, observed=traj_c[1:])
        for i in range(len(case.params0)):
            hp = case.tensor_hp(i)
            b1, b2 = (float(b) for b in hp.get("betas", (0.9, 0.999)))
            eps = float(hp.get("eps", 1e-8))
            gps: list[np.ndarray] = []
            for k in range(case.steps):
                lr = case.lr_at(i, k)
                gps.append(_signed(hp) * case.grads[k][i])
                c_t = ratio_bound(b1, b2, k + 1)
                if not np.isfinite(c_t):
                    break
                d = _decay(hp, lr, decoupled)
                r = traj[k + 1][i] - d * traj[k][i]
                r_c = traj_c[k + 1][i] - d * traj_c[k][i]
                allowed = lr * eps_effect(pair.c, eps, sqrt_vhat_floor(gps, b2), c_t)
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
                slack_c = T.residual_tolerance(tol_c, k, i, traj_c[k + 1][i], traj_c[k][i])
                obs = Observation(
                    f"({deltas.delta_expr(i, 0, d)}) - ({deltas.delta_expr(i, 1, d)})",
                    r - r_c,
                    np.zeros_like(r),
                    allowed * (1 + 16 * (k + 2) * U) + slack + slack_c,
                )
                require(
                    ctx,
                    obs,
                    what=f"scaling the gradients by c = {pair.c:g} changes the step",
                    runs=[case, scaled],
                    step=k + 1,
                    tensor=i,
                    scalars={"c": pair.c},
                )

    fixed = {} if decoupled else {"weight_decay": 0.0}
    strategy = S.builds(
        _Scaled,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            fixed=fixed,
            steps=(1, 12),
            schedules=S.SCHEDULES,
        ),
        st.integers(-20, 20).filter(lambda k: k != 0),
    )
    return run_property(ctx, strategy, prop)


# --- AMSGrad -------------------------------------------------------------------------------


def _max_state(opt: Any, params: list) -> list[dict[str, np.ndarray]]:
    """State tensors shaped like their param whose name says 'max' (torch: max_exp_avg_sq)."""
    out = []
    for p in params:
        st_ = opt.state.get(p, {})
        out.append(
            {
                key: to_numpy(val)
                for key, val in st_.items()
                if isinstance(key, str)
                and "max" in key.lower()
                and hasattr(val, "shape")
                and tuple(val.shape) == tuple(p.shape)
            }
        )
    return out


@check(
    "amsgrad.monotone",
    "AMSGrad's running max of the second moment never decreases",
    invariant=True,
    needs=("amsgrad",),
)
def amsgrad_monotone(ctx: Context) -> CheckResult:
    """Reddi et al. 2018, Alg. 2: v̂max_t = max(v̂max_{t−1}, v_t). Seen two ways:
    - state: a state tensor named like ``max_exp_avg_sq`` never decreases (exact: max rounds
      nothing);
    - behaviour: step t−1 reveals its denominator, √(vmax_{t−1}/(1−β2^{t−1})) =
      η_{t−1}|m̂_{t−1}|/|r_{t−1}| − ε (m̂ from the gradients), and since vmax cannot shrink,
      |r_t| ≤ η_t|m̂_t| / (√(vmax_{t−1}/(1−β2^t)) + ε). Only well-conditioned elements are used
      (relative error of the revealed denominator ≤ 1e-3)."""
    spec, model, decoupled = _adam(ctx)

    def prop(case: S.Case) -> None:
        records: list[list[dict[str, np.ndarray]]] = []
        traj = trajectory(ctx, case, F64, lambda opt, ps: records.append(_max_state(opt, ps)))
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            _state_monotone(case, records, traj, i)
            _behaviour(case, traj, tol, i)

    def _state_monotone(case: S.Case, records: list, traj: list, i: int) -> None:
        for k in range(1, case.steps):
            for key, now in records[k][i].items():
                before = records[k - 1][i].get(key)
                if before is None:
                    continue
                obs = Observation(
                    f"states[0][STEP][{i}]", now, before, np.zeros_like(now), relation="at_least"
                )
                require(
                    ctx,
                    obs,
                    what=f"state {key!r} decreased (it should be a running max)",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                    state_key=key,
                )

    def _behaviour(case: S.Case, traj: list, tol: T.Tolerance, i: int) -> None:
        hp = case.tensor_hp(i)
        b1, b2 = (float(b) for b in hp.get("betas", (0.9, 0.999)))
        eps = float(hp.get("eps", 1e-8))
        m = np.zeros_like(case.params0[i])
        mabs = np.zeros_like(m)  # the same average of |g'|: m's condition
        prev = None  # (revealed vmax_{t-1}, its relative error)
        for k in range(case.steps):
            t, lr = k + 1, case.lr_at(i, k)
            gp = _moment_grad(hp, case.grads[k][i], traj[k][i], decoupled)
            m = b1 * m + (1 - b1) * gp
            mabs = b1 * mabs + (1 - b1) * np.abs(gp)
            bc1, bc2 = 1 - b1**t, 1 - b2**t
            mhat, mhat_err = m / bc1, 8 * t * U * mabs / bc1
            d = _decay(hp, lr, decoupled)
            r = traj[k + 1][i] - d * traj[k][i]
            r_err = T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i])
            if prev is not None:
                vmax_prev, rel = prev
                usable = np.isfinite(rel) & (rel <= 1e-3)
                denom = np.sqrt(np.where(usable, vmax_prev, 0.0) / bc2) + eps
                bound = np.where(usable, lr * np.abs(mhat) / denom, np.inf)
                allowed = np.where(
                    usable, bound * (rel + 8 * U) + lr * mhat_err / denom + r_err, np.inf
                )
                obs = Observation(
                    f"np.abs({deltas.delta_expr(i, 0, d)})",
                    np.abs(r),
                    bound,
                    allowed,
                    relation="at_most",
                )
                require(
                    ctx,
                    obs,
                    what="the step is larger than a non-decreasing max of v allows",
                    runs=[case],
                    step=t,
                    tensor=i,
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                implied = lr * np.abs(mhat) / np.abs(r)  # √v̂max_t + ε
                q = implied - eps
                rel_q = implied * (r_err / np.abs(r) + mhat_err / np.abs(mhat)) / q
                ok = (np.abs(r) > 0) & (np.abs(mhat) > 0) & (q > 0)
            prev = (np.where(ok, q * q * bc2, 0.0), np.where(ok, 2 * rel_q, np.inf))

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"amsgrad": True},
        kinds=("spike", "random", "sign_flip", "sparse", "ramp", "mixed"),
        steps=(2, 12),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)


# --- AdamW's decoupled decay -------------------------------------------------------------------


@check(
    "adamw.pure_decay",
    "under zero gradients AdamW only decays: θ_t = Π(1−η_kλ)·θ_0 within round-off",
    invariant=True,
)
def pure_decay(ctx: Context) -> CheckResult:
    """Loshchilov & Hutter 2019, Alg. 2 line 12 with g = 0: m = v = 0, so the Adam step is
    0/(0+ε) = 0 and only θ ← (1−η_tλ)θ acts (deltas.pure_decay has the relation and its
    tolerance)."""
    spec, model, decoupled = _adam(ctx)
    if not decoupled:
        raise NotApplicable(f"{spec.name} couples its weight decay")
    return deltas.pure_decay(ctx, spec, model, fixed={}, steps=(1, 12))
