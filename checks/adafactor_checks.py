"""Adafactor invariants (Shazeer & Stern 2018; torch.optim.Adafactor docs and _adafactor.py).

torch's step per tensor: 1 − β̂_t = t^τ, ρ_t = min(lr, 1/√t), α_t = max(ε2, RMS(θ_{t−1}))·ρ_t,
θ ← θ(1 − lr·λ); V̂ factored for dim ≥ 2 (R_t, C_t the EMAs of the row and column means of G²,
V̂ = R_t C_t / max(mean_i R_t, ε1)), elementwise for dim < 2; U = G/√max(V̂, ε1²),
Û = U / max(1, RMS(U)/d), θ ← θ − α_t·Û. ε1 = None is finfo(float64).eps here.
Observed through the parameters of an open-loop float64 run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require, trajectory
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.adafactor import resolve_eps1
from optcheck.reference.spec import ErrorModel

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _adafactor(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name Adafactor (a record with an error model)")
    return spec, spec.error_model


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def rank_one(g: np.ndarray) -> np.ndarray:
    """A gradient whose |G|² is rank 1 in its last two dims: row pattern × column pattern
    (the column pattern normalised so that the size stays g's). Vectors are left alone."""
    if g.ndim < 2 or g.size == 0:
        return g
    col = g[..., :1, :]
    top = np.max(np.abs(col), axis=-1, keepdims=True)
    col = np.where(top > 0, col / np.where(top > 0, top, 1.0), 1.0)
    return g[..., :, :1] * col


# --- the factored estimate on rank-1 gradients -------------------------------------------------


class _RankOne:
    """G_k = s_k·P for every tensor: P the rank-1 pattern of the case's first gradient, s_k the
    scalar of step k (from the drawn sequence, so sign flips and spikes appear)."""

    def __init__(self, case: S.Case, scales: list[float]):
        pats = [rank_one(g) for g in case.grads[0]]
        s = (scales * case.steps)[: case.steps]
        self.scales = s
        self.case = case.replace(
            grads=tuple(tuple(sk * p for p in pats) for sk in s),
            recipe={**case.recipe, "rank_one_scales": s},
        )

    def describe(self) -> dict[str, Any]:
        return self.case.describe()


def predicted_step(
    hp: dict[str, Any], theta: np.ndarray, p: np.ndarray, scales: list[float], t: int, lr: float
) -> tuple[np.ndarray, np.ndarray]:
    """θ_t from θ_{t−1} for G_k = s_k·P, and the float64 rounding of this formula.

    Elementwise (dim < 2): V̂_t = v_t·P², v_t = Σ_k w_k s_k² (the EMA with 1 − β̂_k = k^τ).
    Factored (rank-1 |P|² = a_i b_j): R_t = v_t·a·mean(b), C_t = v_t·b·mean(a), so
    V̂_t = R_t C_t / max(mean R_t, ε1) = v_t·P²·q_t with q_t = m_t/max(m_t, ε1), m_t = v_t·mean(P²)
    (Shazeer & Stern §4: the factored estimate is exact for rank-1 second moments). Then U, Û,
    α_t as in the module docstring. Rounding: each EMA step ≤ 4u of v_t, the means and norms
    ≤ (log2 n + 4)u, the update ≤ 12u more: (4t + 2·log2(numel+1) + 20)·u of |α_t·Û| and
    2u of |θ| for the decay."""
    eps1 = resolve_eps1(hp.get("eps", (None, 1e-3))[0])
    eps2 = float(hp.get("eps", (None, 1e-3))[1])
    tau = float(hp.get("beta2_decay", -0.8))
    v = 0.0
    for k in range(1, t + 1):
        w = k**tau  # 1 − β̂_k; w = 1 at k = 1
        v = (1 - w) * v + w * scales[k - 1] ** 2
    sq = p * p
    q = 1.0
    if p.ndim >= 2:
        rows = v * np.mean(sq, axis=-1, keepdims=True)  # R_t (..., n, 1)
        m = np.mean(rows, axis=-2, keepdims=True)
        q = m / np.maximum(m, eps1)
    vhat = v * sq * q
    g = scales[t - 1] * p
    g = -g if hp.get("maximize", False) else g
    u = g / np.sqrt(np.maximum(vhat, eps1 * eps1))
    u_hat = u / max(1.0, _rms(u) / float(hp.get("d", 1.0)))
    alpha = max(eps2, _rms(theta)) * min(lr, 1 / np.sqrt(t))
    decayed = theta * (1 - lr * float(hp.get("weight_decay", 0.0)))
    step = alpha * u_hat
    err = (4 * t + 2 * np.log2(theta.size + 1) + 20) * U * np.abs(step) + 2 * U * np.abs(theta)
    return decayed - step, err


@check(
    "adafactor.rank_one",
    "for gradients s_k·P with |P|² rank 1 every step has the closed form of V̂_t = v_t·P²",
    invariant=True,
)
def rank_one_steps(ctx: Context) -> CheckResult:
    """Shazeer & Stern 2018 §3–4 (Alg. 4, torch's means in place of sums): the factored
    estimate R C / mean(R) reproduces a rank-1 second moment exactly, so for G_k = s_k·P a
    matrix (or batch of matrices) steps as the elementwise form would: U = s_t·P/√(v_t P²)
    (v_t the scalar EMA of s_k²), clipped at RMS d (§6), scaled by α_t = max(ε2, RMS θ_{t−1})·
    min(lr, 1/√t) (§8, torch's ρ_t), after the decoupled decay θ(1 − lr·λ). Vectors and scalars
    use the elementwise estimate, where the same form holds for any P.

    Tolerance: the residual bound of checks.tolerance (the target's step from its own θ_{t−1})
    plus the rounding of ``predicted_step``."""
    spec, model = _adafactor(ctx)

    def prop(pair: _RankOne) -> None:
        case = pair.case
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for k in range(case.steps):
            for i, p in enumerate(case.grads[0]):
                hp = case.tensor_hp(i)
                p0 = p / pair.scales[0] if pair.scales[0] else p
                expected, err = predicted_step(
                    hp, traj[k][i], p0, pair.scales, k + 1, case.lr_at(i, k)
                )
                obs = Observation(
                    f"traj[0][STEP][{i}]",
                    traj[k + 1][i],
                    expected,
                    T.residual_tolerance(tol, k, i, traj[k + 1][i], traj[k][i]) + err,
                )
                require(
                    ctx,
                    obs,
                    what="the step is not the closed form of a rank-1 second moment",
                    runs=[case],
                    step=k + 1,
                    tensor=i,
                )

    # Scalars s_k = ±2^j: the pattern P = G_1/s_1 stays exact.
    scale = st.builds(lambda s, j: s * 2.0**j, st.sampled_from([1.0, -1.0]), st.integers(-8, 8))
    strategy = S.builds(
        _RankOne,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            kinds=("constant", "random", "mixed", "sparse"),
            shapes=((), (8,), (3, 4), (2, 3, 2), (1, 5)),
            steps=(1, 8),
            schedules=S.SCHEDULES,
        ),
        st.lists(scale, min_size=1, max_size=8),
    )
    return run_property(ctx, strategy, prop)


# --- the relative step -------------------------------------------------------------------------


class _ScaledParams:
    """A case and the same case with θ_0 times c = 2^j (exact in binary floating point)."""

    def __init__(self, case: S.Case, power: int):
        self.case, self.c = case, 2.0**power
        self.scaled = case.replace(
            params0=tuple(self.c * p for p in case.params0),
            recipe={**case.recipe, "param_scale_power": power},
        )

    def describe(self) -> dict[str, Any]:
        return {"runs": [self.case.describe(), self.scaled.describe()], "c": self.c}


@check(
    "adafactor.relative_step",
    "while RMS(θ) > ε2 the step is relative to θ: θ_0 → c·θ_0 gives the trajectory c·θ_t",
    invariant=True,
)
def relative_step(ctx: Context) -> CheckResult:
    """Shazeer & Stern 2018 §8 (torch: α_t = max(ε2, RMS(θ_{t−1}))·ρ_t): the step size is
    proportional to the parameter scale, and nothing else reads θ (U depends on G only; the
    decay θ(1 − lr·λ) is linear), so scaling θ_0 by c scales every θ_t by c as long as the
    ε2 floor is not reached in either run (checked per tensor up to its first such step).

    Tolerance: for c = 2^j the float64 reference of the scaled run is exactly c times the
    reference of the other (powers of two scale without rounding), and each run is within
    its model bound of its reference: c·tol + tol_c."""
    spec, model = _adafactor(ctx)

    def prop(pair: _ScaledParams) -> None:
        case, scaled, c = pair.case, pair.scaled, pair.c
        traj = trajectory(ctx, case, F64)
        traj_c = trajectory(ctx, scaled, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        tol_c = T.case_tolerance(model, scaled, F64, observed=traj_c[1:])
        for i in range(len(case.params0)):
            eps2 = float(case.tensor_hp(i).get("eps", (None, 1e-3))[1])
            for k in range(case.steps):
                if min(_rms(traj[k][i]), _rms(traj_c[k][i])) <= eps2:
                    break  # α_t's floor: the step no longer scales
                obs = Observation(
                    f"traj[1][STEP][{i}] - {c!r} * traj[0][STEP][{i}]",
                    traj_c[k + 1][i] - c * traj[k + 1][i],
                    np.zeros_like(traj[k + 1][i]),
                    c * tol.theta[k][i] + tol_c.theta[k][i],
                )
                require(
                    ctx,
                    obs,
                    what=f"scaling θ_0 by c = {c:g} does not scale the trajectory",
                    runs=[case, scaled],
                    step=k + 1,
                    tensor=i,
                    scalars={"c": c},
                )

    strategy = S.builds(
        _ScaledParams,
        S.target_cases(
            spec,
            ctx.target,
            ctx.settings.fixed_hp,
            steps=(1, 8),
            shapes=tuple(s for s in S.SHAPES if 0 not in s),  # torch raises on empty ones
            zero_params=False,
            param_exponents=(-1, 2),
            schedules=S.SCHEDULES,
        ),
        st.integers(-4, 6).filter(lambda j: j != 0),
    )
    return run_property(ctx, strategy, prop)
