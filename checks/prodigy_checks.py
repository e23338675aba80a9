"""Prodigy invariants (Mishchenko & Defazio 2024, Alg. 3, as the authors' prodigyopt runs it).

Observed through open-loop float64 runs of the drawn tensors and groups, stepped together (one
d for all: reference.spec.CoupledStep). At step 1, x = x0, so r_1 = ⟨g, x0 − x0⟩ = 0 and
d̂ = 0: d stays d0 and the step is Adam's first step at lr·c1·d0 with the moments' (1−β1)
and √(1−β2) left in:
x1 = x0(1 − λ·lr·c1·d0) − lr·c1·d0·(1−β1)·g/(√(1−β2)|g| + ε). The distance estimate is a max of
its past (Alg. 3: d_{k+1} = max(d_k, d̂)), and min(d_max, γ·d) with γ ≥ 1 keeps that: read from
the target's param groups, it never falls and never goes below d0 (max, min and a product by
γ ≥ 1 are monotone in floating point, so the comparison is exact). With zero gradients ‖s‖₁ = 0
and both packages return before any update: nothing moves, the decoupled decay included (a
tensor whose gradient is 0 still decays where another tensor's is not: the test is the
optimizer's, ``moves``).
Tolerances: the error model's residual bound at that step plus the closed form's rounding (a few
u of the expected value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, run_target, trajectory
from optcheck.checks.kit.registry import (
    CheckResult,
    Context,
    NotApplicable,
    Violation,
    check,
    run_property,
)
from optcheck.checks.result import Evidence

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _effective(hp: dict[str, Any], x0: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The gradient the sums and moments see: maximize's sign, coupled decay's λx0."""
    g = -g if hp.get("maximize", False) else g
    return g + float(hp.get("weight_decay", 0.0)) * x0 if not hp.get("decouple", True) else g


def moves(hps: list[dict[str, Any]], x0s: list[np.ndarray], gs: list[np.ndarray | None]) -> bool:
    """Does step 1 move anything: ‖s_1‖₁ > 0, i.e. some tensor's sliced effective gradient
    is nonzero (the optimizer's one test, over every tensor; else the step returns early)."""
    return any(
        bool(np.any(_effective(hp, x0, g).reshape(-1)[:: int(hp.get("slice_p", 1))] != 0))
        for hp, x0, g in zip(hps, x0s, gs, strict=True)
        if g is not None
    )


def first_update(
    hp: dict[str, Any], x0: np.ndarray, g: np.ndarray, lr: float, progressed: bool = True
) -> np.ndarray:
    """x1 from x0 (module docstring): Adam's first step at lr·c1·d0, decay by lr·c1·d0;
    x0 itself where the optimizer's step returned early (``moves``)."""
    b1, b2 = hp.get("betas", (0.9, 0.999))
    d0, wd = float(hp.get("d0", 1e-6)), float(hp.get("weight_decay", 0.0))
    c1 = np.sqrt(1 - b2) / (1 - b1) if hp.get("use_bias_correction", False) else 1.0
    dlr = lr * c1 * d0
    gp = _effective(hp, x0, g)
    x = x0 - (wd * dlr) * x0 if hp.get("decouple", True) else x0
    step = dlr * (1 - b1) * gp / (np.sqrt(1 - b2) * np.abs(gp) + float(hp.get("eps", 1e-8)))
    return x - step if progressed else x0


@check(
    "prodigy.first_step",
    "the first step is Adam's at lr·d0 (r_1 = 0 keeps d = d0): x0(1−λ·lr·d0) − lr·d0·(1−β1)g/"
    "(√(1−β2)|g|+ε)",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """x1 = x0(1 − λ·lr·c1·d0) − lr·c1·d0·(1−β1)·g'/(√(1−β2)|g'|+ε), g' = g + λx0 when the
    decay is coupled: d is d0 during the first step and after it (r_1 = 0). A d updated before
    the step, moments without d, a decay not scaled by d or left out fail it."""
    spec, model = D.record(ctx, "Prodigy")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        hps = [case.tensor_hp(i) for i in range(len(case.params0))]
        progressed = moves(hps, list(traj[0]), list(case.grads[0]))
        for i, g in enumerate(case.grads[0]):
            x0 = traj[0][i]
            expected = (
                x0 if g is None else first_update(hps[i], x0, g, case.lr_at(i, 0), progressed)
            )
            slack = T.residual_tolerance(tol, 0, i, traj[1][i], x0)
            seen = Observation(
                f"traj[0][STEP][{i}]", traj[1][i], expected, slack + 8 * U * abs(expected)
            )
            D.require_at(ctx, "the first step is not Adam's at lr·d0", seen, [case], 0, i)

    # λ > 0 always (λ = 0 is every other check's): the decay term, coupled or decoupled, is
    # what this closed form sees that the trajectory's drawn cases meet only 1 time in 5.
    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        steps=(1, 1),
        overrides={"weight_decay": st.floats(0.01, 0.5)},
    )
    return run_property(ctx, strategy, prop)


@check(
    "prodigy.d_never_decreases",
    "the distance estimate d (param_groups[0]['d']) never falls and never goes below d0",
    invariant=True,
)
def d_never_decreases(ctx: Context) -> CheckResult:
    """d_{k+1} = min(max(d_max, d̂), γ·max(d_k, d̂ at d_k = d0)) ≥ d_k for γ ≥ 1 (Alg. 3's
    max): exact in floating point. Read from the param group the authors' code keeps it in;
    a target without one is not checked (skipped, saying so)."""
    spec, _ = D.record(ctx, "Prodigy")

    def prop(case: S.Case) -> None:
        ds: list[Any] = []
        run_target(ctx, case, F64, on_step=lambda opt, ps: ds.append(opt.param_groups[0].get("d")))
        if any(d is None for d in ds):
            raise NotApplicable("the target keeps no 'd' in its param groups")
        d0 = float(case.tensor_hp(0).get("d0", 1e-6))
        seq = [d0, *(float(d) for d in ds)]
        for k in range(1, len(seq)):
            if not seq[k] >= seq[k - 1]:
                message = (
                    f"the distance estimate fell at step {k}: d = {seq[k]!r} after "
                    f"{seq[k - 1]!r} (d0 = {d0!r})"
                )
                raise Violation(
                    Evidence(message, case.describe(), k, expected=seq[k - 1], got=seq[k])
                )

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, steps=(2, 12), schedules=S.SCHEDULES
    )
    return run_property(ctx, strategy, prop)


@check(
    "prodigy.zero_gradient",
    "with zero gradients nothing moves, decay included (‖s‖₁ = 0: the step returns early)",
    invariant=True,
)
def zero_gradient(ctx: Context) -> CheckResult:
    """Every gradient 0 (coupled decay off, or x0 = 0): s, r, m and v stay 0, ‖s‖₁ = 0, and
    both packages return before updating: x_t = x0 exactly, also under decoupled decay (a
    decay applied anyway moves x by λ·lr·d0·x)."""
    spec, _ = D.record(ctx, "Prodigy")

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        for k in range(case.steps):
            obs = Observation("traj[0][STEP][0]", traj[k + 1][0], traj[0][0], 0.0)
            D.require_at(ctx, "with zero gradients the parameters moved", obs, [case], k, 0)

    strategy = S.target_cases(
        spec,
        ctx.target,
        ctx.settings.fixed_hp,
        fixed={"decouple": True},
        kinds=("zeros",),
        steps=(1, 6),
        schedules=S.SCHEDULES,
    )
    return run_property(ctx, strategy, prop)
