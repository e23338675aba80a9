"""Schedule-Free invariants (Defazio et al. 2024, Alg. 1), for AdamW and SGD alike.

Observed through an open-loop float64 run of the target in train mode (the record's set-up
call ``train()``: the parameters hold y).

- first step: c_2 = w_1/w_1 = 1, so x_2 = z_2 and y_2 = (1-β)z_2 + βx_2 = z_2: the first step
  is a plain step at the warmed-up γ_1 = γ·min(1, 1/T_warmup) whatever β, r and p:
  θ_1 = θ_0 − γ_1(u + λθ_0) with u = g' (SGD) or g'/(|g'|+ε) (Adam: v̂_1 = g'²). Tolerance:
  the error model's residual bound at that step plus the rounding of the closed form. Under a
  named variant (``--like AdamWScheduleFree:lr-bias-correction``), that variant's first step
  at another β stands for the closed form.
- eval point: ``eval()`` moves the parameter from y to x = (y − (1−β)z)/β, the weighted average
  of the z's (Alg. 1's x, the point the paper evaluates), and ``train()`` moves it back to y.
  Checked after every step against the target's own y and z (state ``z``), so the relation is
  exact up to the rounding of the two lerps: torch's lerp rounds its difference, product and
  sum (ATen: self + w·(end − self) for |w| < 1/2, else end − (1−w)(end − self)), at most
  3u(|w|·|z − y| + |x|) with w = 1 − 1/β, plus the weight's own rounding u|w|·|z − y|; an
  implementation that keeps x and forms y = βx + (1−β)z from it (the authors' Reference
  classes) errs by y's three roundings over β instead (``_x_rounding`` takes the larger). The
  way back adds β times that error and its own three roundings. Together with the
  cross-validation of y (which fixes x's recursion given z) this checks that x is the
  c-weighted average of the z's.
- closure point (the Closure forms, which hold x): the closure step(closure) calls sees every
  parameter at y = lerp(x, z, 1−β), from the target's own x (θ before the step) and z (state
  ``z`` before it; x itself at the first step). One lerp's rounding (``_lerp_rounding``).
- silent phase (Schedule-Free RAdam with ``silent_sgd_phase``): while ρ_t ≤ 4 γ_t = 0, so θ
  stays θ_0 bit for bit (lerps with weight 0 and adds of 0·u are exact); at the first t* with
  ρ_t > 4 the weights before were 0 (γ^p with p > 0) or 1 (p = 0), so with
  u = g/(√v̂ + ε) + λθ_0 (v from every gradient so far) and c = w_t*/Σ w:
  y = θ_0 − γ r_t*(1 − β(1 − c))u, and x = θ_0 − c γ r_t* u in the Closure form. Tolerance:
  the error model's residual at t* plus 8u of the closed form.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from optcheck.checks import tolerance as T
from optcheck.checks.kit import deltas as D
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.contract import preflight
from optcheck.checks.kit.evidence import Observation, trajectory
from optcheck.checks.kit.harness import to_numpy
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.reference.schedulefree import (
    beta_of,
    first_rectified_step,
    radam_rectifier,
    warmup_lr,
)

F64 = T.EXACT_DTYPE
U = T.FLOAT64.u


def _first_step_of(ctx: Context, hp: dict, g: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """θ_0 − γ_1(u + λθ_0): the whole first step (c_2 = 1). Under a named variant (another u
    or γ_1) that variant's own first step taken with β = 1/2 instead: the same, since β does
    not enter the first step."""
    if ctx.variant is not None:
        other = {"betas": (0.5, hp["betas"][1])} if "betas" in hp else {"momentum": 0.5}
        return ctx.variant.fn(theta, g, {}, {**hp, **other}, 1)[0]
    gp = -g if hp.get("maximize", False) else g
    u = gp / (np.abs(gp) + float(hp.get("eps", 1e-8))) if "betas" in hp else gp
    return theta - warmup_lr(hp, 1) * (u + float(hp.get("weight_decay", 0.0)) * theta)


@check(
    "schedulefree.first_step",
    "the first step is a plain step θ − γ_1(u + λθ) at the warmed-up γ_1, whatever β (c_2 = 1)",
    invariant=True,
)
def first_step(ctx: Context) -> CheckResult:
    """c_2 = 1 makes x_2 = z_2 = y_2: one SGD step (u = g) or one Adam step with β1 = 0
    (u = g/(|g|+ε), v̂_1 = g²), at γ_1 = γ/T_warmup under warm-up. A warm-up off by one, an
    averaging weight that does not start at 1, v̂ left uncorrected or decay outside γ fail it."""
    spec, model = D.record(ctx, "a Schedule-Free record")
    preflight(ctx)  # a step() that needs a closure (the Closure forms): not applicable

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp, before = case.tensor_hp(i), traj[0][i]
            expected = _first_step_of(ctx, hp, case.grads[0][i], before)
            slack = T.residual_tolerance(tol, 0, i, traj[1][i], before)
            obs = Observation(
                f"traj[0][STEP][{i}]", traj[1][i], expected, slack + 8 * U * np.abs(expected)
            )
            D.require_at(ctx, "the first step is not θ − γ_1(u + λθ)", obs, [case], 0, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 1))
    return run_property(ctx, strategy, prop)


def _lerp_rounding(w: float, start: np.ndarray, end: np.ndarray, out: np.ndarray) -> np.ndarray:
    """torch's lerp(start, end, w) within its roundings: difference, product, sum (3u each,
    on the larger of the two arrangements' terms) and the weight's own (u|w|)."""
    diff = np.abs(end - start)
    return U * (4 * abs(w) * diff + 3 * (np.abs(out) + diff) + np.abs(out))


def _x_rounding(beta: float, y: np.ndarray, z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """|x_target − (y − (1−β)z)/β| in either arrangement: x = lerp(y, z, 1 − 1/β) (the authors'
    eval()), or x kept and y = βx + (1−β)z formed from it (their Reference classes), whose three
    roundings 3u(β|x| + (1−β)|z| + |y|) reach x divided by β."""
    kept = 3 * U * (beta * np.abs(x) + (1 - beta) * np.abs(z) + np.abs(y)) / beta
    return np.maximum(_lerp_rounding(1.0 - 1.0 / beta, y, z, x), kept)


@check(
    "schedulefree.eval_point",
    "eval() moves θ from y to x = (y − (1−β)z)/β, the weighted average, and train() back to y",
    invariant=True,
)
def eval_point(ctx: Context) -> CheckResult:
    """After each step, with the target's own y (the parameter) and z (state ``z``): eval()
    gives x = (y − (1−β)z)/β and train() restores y. An eval() that leaves y in place, uses
    train()'s weight 1−β, or a train() that does not return fail it."""
    spec, _ = D.record(ctx, "a Schedule-Free record")
    built = preflight(ctx)  # the optimizer, not the factory: a function may build a wrapper
    for name in ("eval", "train"):
        if not callable(getattr(built, name, None)):
            raise NotApplicable(f"{ctx.target.label} has no {name}() method")

    def prop(case: S.Case) -> None:
        seen: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        # (step, tensor, y, z, x after eval(), θ after train() again)

        def on_step(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
            ys = [to_numpy(p) for p in params]
            zs = [opt.state[p].get("z") for p in params]
            opt.eval()  # type: ignore[attr-defined]
            xs = [to_numpy(p) for p in params]
            opt.train()  # type: ignore[attr-defined]
            k = len(seen) // max(len(params), 1)
            for i, p in enumerate(params):
                # no z yet (never had a gradient): y = x = z, eval() has nothing to move
                z = ys[i] if zs[i] is None else to_numpy(zs[i])
                seen.append((k, i, ys[i], z, xs[i], to_numpy(p)))

        trajectory(ctx, case, F64, on_step=on_step)
        for k, i, y, z, x, back in seen:
            beta = float(beta_of(case.tensor_hp(i)))
            expected = y + (1.0 - 1.0 / beta) * (z - y)
            tol = _x_rounding(beta, y, z, expected)
            obs = Observation(f"traj[0][STEP][{i}]", x, expected, tol)
            D.require_at(ctx, "eval() did not move θ to x = (y − (1−β)z)/β", obs, [case], k, i)
            back_tol = beta * tol + _lerp_rounding(1.0 - beta, x, z, y)
            obs = Observation(f"traj[0][STEP][{i}]", back, y, back_tol)
            D.require_at(ctx, "train() after eval() did not restore y", obs, [case], k, i)

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 6))
    return run_property(ctx, strategy, prop)


def _holds_x(ctx: Context) -> bool:
    return bool(getattr(ctx.spec, "closure_step", False))


@check(
    "schedulefree.closure_point",
    "step(closure) evaluates the closure at y = lerp(x, z, 1 − β) (the Closure forms hold x)",
    invariant=True,
)
def closure_point(ctx: Context) -> CheckResult:
    """Inside the closure every parameter holds y = x + (1−β)(z − x), x and z the target's own
    before the step. A closure called at x (no extrapolation), with weight β instead of 1−β,
    or after the update fails it."""
    spec, _ = D.record(ctx, "a Schedule-Free Closure record")
    if not spec.closure_step:
        raise NotApplicable(f"{spec.name} holds y (train()): its closure is called at θ")
    preflight(ctx)

    def prop(case: S.Case) -> None:
        seen: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # id(p) -> x, z, y
        order: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []

        def factory(params: object, **hp: object) -> torch.optim.Optimizer:
            opt = ctx.target.factory(params, **hp)
            inner = opt.step

            def step(closure: object = None) -> object:
                ps = [p for g in opt.param_groups for p in g["params"]]
                xs = [to_numpy(p) for p in ps]
                zs = [to_numpy(opt.state[p]["z"]) if "z" in opt.state[p] else x
                      for p, x in zip(ps, xs, strict=True)]  # fmt: skip

                def at_y() -> object:
                    for p, x, z in zip(ps, xs, zs, strict=True):
                        seen[id(p)] = (x, z, to_numpy(p))
                    return closure() if callable(closure) else None

                return inner(at_y)

            opt.step = step  # type: ignore[method-assign]
            return opt

        def on_step(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
            order.append([seen.pop(id(p)) for p in params])

        target = dataclasses.replace(ctx.target, factory=factory)
        trajectory(dataclasses.replace(ctx, target=target), case, F64, on_step=on_step)
        for k, tensors in enumerate(order):
            for i, (x, z, y) in enumerate(tensors):
                w = 1.0 - float(beta_of(case.tensor_hp(i)))
                expected = x + w * (z - x)
                obs = Observation(
                    f"traj[0][STEP][{i}]", y, expected, _lerp_rounding(w, x, z, expected)
                )
                D.require_at(
                    ctx, "the closure was not called at y = lerp(x, z, 1 − β)", obs, [case], k, i
                )

    strategy = S.target_cases(spec, ctx.target, ctx.settings.fixed_hp, steps=(1, 3))
    return run_property(ctx, strategy, prop)


def _silent_expected(
    hp: dict, gs: list[np.ndarray], theta: np.ndarray, holds_x: bool
) -> np.ndarray:
    """θ at the first rectified step t* = len(gs) after a silent SGD phase (module docstring)."""
    t = len(gs)
    b2 = hp["betas"][1]
    gs = [-g if hp.get("maximize", False) else g for g in gs]
    v = np.zeros_like(theta)
    for g in gs:
        v = b2 * v + (1 - b2) * g * g
    u = gs[-1] / (np.sqrt(v / (1 - b2**t)) + float(hp.get("eps", 1e-8)))
    u = u + float(hp.get("weight_decay", 0.0)) * theta
    r = float(hp.get("r", 0.0))
    silent = float(hp.get("weight_lr_power", 2.0) == 0)  # 0^p: 1 for p = 0, else 0
    weights = [(1.0 if i == t else silent) * i**r for i in range(1, t + 1)]
    c = weights[-1] / sum(weights)
    lr = float(hp["lr"]) * float(radam_rectifier(hp, t) or 0.0)
    if holds_x:
        return theta - c * lr * u
    return theta - lr * (1 - beta_of(hp) * (1 - c)) * u


@check(
    "schedulefree.silent_phase",
    "RAdam's silent SGD phase leaves θ in place while ρ_t ≤ 4; the first rectified step is "
    "θ − γr_t(1 − β(1 − c))(g/(√v̂ + ε) + λθ)",
    invariant=True,
)
def silent_phase(ctx: Context) -> CheckResult:
    """With ``silent_sgd_phase`` γ_t = 0 while ρ_t ≤ 4: θ exactly θ_0; at the first t* with
    ρ_t > 4 one rectified Adam step from θ_0 (v̂ from every gradient so far). SGD steps taken
    in the silent phase, torch's threshold ρ_t > 5, or r_t left out fail it."""
    spec, model = D.record(ctx, "a Schedule-Free RAdam record")
    preflight(ctx)
    holds_x = _holds_x(ctx)

    def prop(case: S.Case) -> None:
        traj = trajectory(ctx, case, F64)
        tol = T.case_tolerance(model, case, F64, observed=traj[1:])
        for i in range(len(case.params0)):
            hp, theta = case.tensor_hp(i), traj[0][i]
            first = first_rectified_step(hp["betas"][1])
            if any(gs[i] is None for gs in case.grads) or first is None:
                continue  # a step without gradient does not count; β2 ≤ 0.6: never rectified
            for k in range(min(first, len(case.grads))):
                if k + 1 < first:
                    obs = Observation(f"traj[0][STEP][{i}]", traj[k + 1][i], theta, 0.0)
                    D.require_at(ctx, "θ moved in the silent SGD phase", obs, [case], k, i)
                    continue
                gs = [case.grads[j][i] for j in range(first)]
                expected = _silent_expected(hp, gs, theta, holds_x)
                slack = T.residual_tolerance(tol, k, i, traj[k + 1][i], theta)
                obs = Observation(
                    f"traj[0][STEP][{i}]", traj[k + 1][i], expected,
                    slack + 8 * U * (np.abs(expected) + np.abs(theta)),
                )  # fmt: skip
                D.require_at(ctx, "the first rectified step is not γr_t's", obs, [case], k, i)

    strategy = S.target_cases(
        spec, ctx.target, ctx.settings.fixed_hp, fixed={"silent_sgd_phase": True}, steps=(5, 7)
    )
    return run_property(ctx, strategy, prop)
