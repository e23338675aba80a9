"""Cross-validation: the target's open-loop trajectory against the float64 reference.

The target runs in ``ctx.settings.dtype`` (float64 by default: there small formula slips are
far above round-off) on inputs first rounded to that dtype; the reference (the spec's step, or
the ``--like`` variant's) runs in float64 on the same rounded inputs. They are compared step by
step against checks.tolerance; a failure names the first step over tolerance and by how much.
``behaves_like`` then tells which named variants the target matches instead.

Low precision needs cases the model covers (every intermediate a normal number, see
checks.tolerance) and that say something: params start near the size of a few updates, so
that updates are not all lost in the params' rounding (|θ|·u per step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from optcheck.checks import tolerance as T
from optcheck.checks.kit import closures as C
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.contract import drawn_kinds, other_device
from optcheck.checks.kit.evidence import Observation, require, run_target, worst
from optcheck.checks.kit.harness import sparse_gradients
from optcheck.checks.kit.registry import (
    CheckResult,
    Context,
    NotApplicable,
    ReferenceRaised,
    check,
    passed,
    run_property,
)
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.space import Flag
from optcheck.reference.spec import ErrorModel, StepFn


@dataclass(frozen=True)
class Departure:
    """Where two trajectories part: the first step with an element over tolerance."""

    step: int  # 1-based
    tensor: int
    ratio: float  # worst |got − expected| / tolerance at that step
    observation: Observation


def compare(
    got: list[list[np.ndarray]], expected: list[list[np.ndarray]], tol: T.Tolerance
) -> tuple[Departure | None, float]:
    """(first departure or None, worst ratio over the whole run)."""
    first, overall = None, 0.0
    for k, (gk, ek) in enumerate(zip(got, expected, strict=True)):
        for i, (g, e) in enumerate(zip(gk, ek, strict=True)):
            obs = Observation(f"traj[0][STEP][{i}]", g, e, tol.theta[k][i])
            ratio, _ = worst(obs)
            overall = max(overall, ratio)
            if ratio > 1 and first is None:
                first = Departure(k + 1, i, ratio, obs)
        if first is not None:
            break
    return first, overall


def _model(ctx: Context) -> tuple[OptimizerRecord, ErrorModel]:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord):
        raise NotApplicable("cross-validation needs an optimizer spec (--like)")
    if (model := ctx.error_model) is None:
        raise NotApplicable(f"no error model for {spec.name} yet (its record has none)")
    return spec, model


def case_strategy(
    ctx: Context, spec: OptimizerRecord, dtype: str, schedules: tuple[str, ...], max_groups: int
) -> st.SearchStrategy[S.Case]:
    """Cases inside the tolerance model's domain for ``dtype`` (see the module docstring)."""
    _, model = _model(ctx)
    accepts = ctx.target.accepts
    per_group = getattr(ctx.target, "keeps_per_group", lambda _: True)
    # Several tensors, each group with its own drawn hyper-parameters: one example exercises
    # several flag combinations (a flag-specific slip is seen in 1 - 2^-groups of them).
    kw: dict[str, Any] = {
        "schedules": schedules,
        "max_groups": max_groups,
        "max_tensors": 4,
        "steps": (2, 12),
        "param_kinds": drawn_kinds(ctx),
        "dtype": dtype,
        "other_device": other_device(ctx),
    }
    if model.no_empty_tensors:
        kw["shapes"] = tuple(s for s in S.SHAPES if 0 not in s)
    if dtype in ("float64", "float32"):
        return S.cases(
            spec, accepts=accepts, per_group=per_group, fixed=ctx.settings.fixed_hp, **kw
        )

    # Params ~ update_scale·10^[0,2] (the model says how big one update is): updates stay
    # visible above the params' rounding.
    kinds: tuple[str, ...] = S.GRAD_KINDS
    exponents = S.EXPONENTS
    overrides: dict[str, st.SearchStrategy[Any]] = {}
    if dtype == "float16":
        # 2^-14 ≤ every intermediate ≤ 65504: squares of g bound |g| to about [0.1, 100],
        # a zero gradient can leave a tiny constant alone in a denominator (below float16's
        # normals), and params near the lr need lr ≳ 1e-3.
        kinds = ("constant", "random", "sign_flip", "spike", "ramp", "mixed")
        exponents = (-1, 1)
        overrides = {"lr": st.floats(-3, 0).map(lambda e: float(10.0**e))}
    for dim in model.low_precision_overrides.get(dtype, ()):
        overrides[dim.name] = S.dimension(dim)
    return S.cases(
        spec,
        accepts=accepts,
        per_group=per_group,
        fixed=ctx.settings.fixed_hp,
        overrides=overrides,
        kinds=kinds,
        exponents=exponents,
        param_exponents=(0, 2),
        param_scale=model.update_scale,
        **kw,
    )


def crossvalidate(ctx: Context, schedules: tuple[str, ...], max_groups: int = 3) -> CheckResult:
    """Compare in ``ctx.settings.dtype`` with the reference (spec or --like variant); cases
    outside the tolerance model's domain are rejected, not compared."""
    spec, model = _model(ctx)
    dtype = ctx.settings.dtype
    step = ctx.reference
    ref_name = ctx.variant.name if ctx.variant is not None else spec.name
    ctx.worst.where = f" in {dtype}"

    def prop(case: S.Case) -> None:
        rounded = case.rounded(dtype)
        tol = T.case_tolerance(model, rounded, dtype)
        if tol.outside:
            raise NotApplicable(tol.outside)
        got = run_target(ctx, rounded, dtype)
        departure, overall = compare(got, rounded.run_reference(step), tol)
        ctx.worst.note(overall)
        if departure is not None:
            require(
                ctx,
                departure.observation,
                what=f"{dtype} trajectory parts from {ref_name}",
                runs=[rounded],
                step=departure.step,
                tensor=departure.tensor,
                dtype=dtype,
            )

    return run_property(ctx, case_strategy(ctx, spec, dtype, schedules, max_groups), prop)


@check(
    "crossval.trajectory",
    "open-loop trajectory equals the reference's within the derived tolerance",
    needs_reference=True,
)
def trajectory(ctx: Context) -> CheckResult:
    return crossvalidate(ctx, ("constant",))


@check(
    "crossval.scheduled_lr",
    "trajectory equals the reference's when the lr changes between steps (as a scheduler)",
    needs_reference=True,
)
def scheduled_lr(ctx: Context) -> CheckResult:
    return crossvalidate(ctx, S.SCHEDULES[1:])


# --- long horizon -------------------------------------------------------------------------

# Bugs in step counters (a float16 or int16 count, a cap, a wrap-around) show only after
# thousands of steps: every cross-validation also runs one long open-loop run. Its length
# follows how hard the run looks (--max-examples, --profile): 16·n² steps for n examples per
# check, at most LONG_STEPS — 10,000 at the default 25 and beyond, 1,600 with --profile dev.
# Quadratic so that a test's quick run (3 examples: 144 steps) stays quick.
LONG_STEPS = 10_000
LONG_STEPS_FACTOR = 16
LONG_SHAPE = (4,)  # small: the cost is per step, and so are the bugs looked for


def long_case(ctx: Context, spec: OptimizerRecord, model: ErrorModel, dtype: str) -> S.Case:
    """The long run: the record's defaults (the target's own for keywords it is not handed)
    with the run's fixed keywords, N(0, 1) gradients on params ~ N(0, 1) (low precision: the
    size of a few updates, as the short cases draw them), one group, a constant lr."""
    accepts, fixed = ctx.target.accepts, ctx.settings.fixed_hp
    hp = {k: v for k, v in spec.defaults.items() if accepts(k)} | dict(fixed)
    if (why := spec.check_hp({**spec.defaults, **hp})) is not None:
        raise NotApplicable(f"the settings' keywords are not a valid combination ({why})")
    steps = min(LONG_STEPS, LONG_STEPS_FACTOR * ctx.settings.max_examples**2)
    recipe: dict[str, Any] = {
        "seed": ctx.settings.seed,
        "steps": steps,
        "shapes": [list(S.fit_shape(spec, LONG_SHAPE))],
        "kinds": ["random"],
        "exponent": 0,
        "param_exponent": 0,
    }
    if spec.sparse_grads:
        recipe["untouched_rows"] = True
    if dtype not in ("float64", "float32"):
        recipe["param_exponent"], recipe["param_scale"] = 1, float(model.update_scale(hp, 0))
    left = {k: v for k, v in spec.defaults.items() if not accepts(k)}
    return S.build_case(hp, recipe, defaults=left).rounded(dtype)


@check(
    "crossval.long_horizon",
    "a 10,000-step open-loop run equals the reference's within the derived tolerance "
    "(step counters, caps, counter precision)",
    needs_reference=True,
    long=True,
)
def long_horizon(ctx: Context) -> CheckResult:
    """One long run (``long_case``) against the reference, under the same error model as the
    short cases: checks.errorprop propagates the bound over every step, so it grows with the
    step count as the rounding errors do (θ's own rounding accumulates linearly, state errors
    reach their steady state). A departure names its first step; the evidence holds the run
    up to it."""
    spec, model = _model(ctx)
    if spec.param_ndims is not None:
        # Measured on torch's Muon: ~45 s for 10,000 steps on 2 busy cores, and the run
        # leaves the model's domain (an emulated bfloat16 rounding boundary) at 1,600 steps.
        raise NotApplicable(
            f"{spec.name}'s error model emulates its matrix iteration step by step: a long run "
            "leaves the model's domain (a bfloat16 rounding boundary) within a few thousand steps"
        )
    dtype = ctx.settings.dtype
    ref_name = ctx.variant.name if ctx.variant is not None else spec.name
    ctx.worst.where = f" in {dtype}"
    case = long_case(ctx, spec, model, dtype)
    tol = T.case_tolerance(model, case, dtype)
    if tol.outside:
        raise NotApplicable(f"the long run leaves the tolerance model's domain: {tol.outside}")
    got = run_target(ctx, case, dtype)
    expected = case.run_reference(ctx.reference)
    # Every step at once first (10,000 per-step comparisons cost seconds); the first
    # departure is looked for step by step only when there is one.
    overall, _ = worst(
        Observation("", np.stack([s[0] for s in got]), np.stack([s[0] for s in expected]),
                    np.stack([t[0] for t in tol.theta]))
    )  # fmt: skip
    departure = None
    if overall > 1:
        departure, overall = compare(got, expected, tol)
    ctx.worst.note(overall)
    if departure is not None:
        head = case.replace(
            grads=case.grads[: departure.step], recipe={**case.recipe, "steps": departure.step}
        )
        require(
            ctx,
            departure.observation,
            what=f"{dtype} long run parts from {ref_name}",
            runs=[head],
            step=departure.step,
            tensor=departure.tensor,
            dtype=dtype,
        )
    return passed(ctx.check, f"{case.steps} steps", 1)


@check(
    "crossval.closure_trajectory",
    "closed-loop run on drawn smooth problems equals the reference's within the per-case "
    "rounding floor (closure-driven optimizers)",
    invariant=True,
)
def closure_trajectory(ctx: Context) -> CheckResult:
    """LBFGS and its kind: ``.step(closure)`` on drawn problems (quadratics up to κ = 10⁴,
    logistic regression, Rosenbrock's chain) against the reference in float64; tolerance
    and branch handling from checks.kit.closures (the per-case rounding floor)."""
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or not spec.closure_driven:
        raise NotApplicable("needs --like to name a closure-driven algorithm (LBFGS)")
    dtype, step = ctx.settings.dtype, ctx.reference
    ref_name = ctx.variant.name if ctx.variant is not None else spec.name
    ctx.worst.where = f" in {dtype}"

    def prop(case: C.ClosureCase) -> None:
        case = case.rounded(dtype)
        ref = C.run_reference(step, case)
        got = C.run_target(ctx, case, dtype)
        setup = C.compare_setup(step, case, ref, got, dtype)
        for k in range(1, setup.compared + 1):
            seen = C.Seen("xs[STEP]", got.xs[k], ref.xs[k], setup.tol[k - 1])
            if C.excess(seen) > 1:
                error = float(np.max(np.abs(got.xs[k] - ref.xs[k])))
                tol = C.confirmed_tolerance(step, case, ref, dtype, k, seen.tolerance, error)
                seen = C.Seen("xs[STEP]", got.xs[k], ref.xs[k], tol)
            ratio = C.excess(seen)
            ctx.worst.note(ratio)
            if ratio > 1:
                raise C.violation(
                    ctx, case, f"{dtype} iterate parts from {ref_name}", k, dtype, seen
                )
        if setup.path_break is not None:
            call, evals, expected = setup.path_break
            seen = C.Seen("evals[STEP - 1]", evals, expected, 0.0)
            raise C.violation(
                ctx,
                case,
                f"target evaluates the closure {evals} times where {ref_name} does {expected} "
                "(a branch rounding does not explain)",
                call,
                dtype,
                seen,
            )

    cases = C.closure_cases(spec, accepts=ctx.target.accepts, fixed=ctx.settings.fixed_hp)
    return run_property(ctx, cases, prop)


# --- which variant does it behave like? --------------------------------------------------------


def _agrees(ctx: Context, model: ErrorModel, step: StepFn, case: S.Case, dtype: str) -> bool | None:
    """Does the target follow ``step`` on ``case``? None when the case is outside the model."""
    rounded = case.rounded(dtype)
    # The bound the failing comparison used (the record's model, or the --like variant's): a
    # candidate's own model can be undefined where its formula cancels (AdaBelief:eps-outside-s
    # at β1 = 0, g − m = 0 exactly), which would leave the failure unnamed.
    tol = T.case_tolerance(model, rounded, dtype)
    if tol.outside:
        return None
    try:
        got = rounded.run_target(ctx.target, dtype, ctx.settings.device)
    except Exception:  # noqa: BLE001 - a target that raises matches no formula
        return False
    try:
        expected = rounded.run_reference(step)
    except ReferenceRaised:  # a formula that cannot take the case says nothing of the target
        return None
    departure, _ = compare(got, expected, tol)
    return departure is None


def probes(
    case: S.Case,
    spec: OptimizerRecord,
    accepts: Callable[[str], bool] = lambda _: True,
    extra: int = 3,
) -> list[S.Case]:
    """Where a candidate variant must agree with the target:
    - the failing case, the same set-up with other random values and with a changing lr;
    - a rich set-up with the failing hyper-parameters: 10 steps of spiky, random, sparse and
      sign-flipping gradients (a minimal failing case is often one step of a constant
      gradient, where variants differing in their history coincide);
    - both with each boolean flag the target accepts flipped (where valid): variants that
      coincide under one setting of a flag (two variants of the running max, with the max
      off) part under the other."""
    seed = int(case.recipe.get("seed", 0))
    out = [case]
    if "seed" in case.recipe:
        for j in range(1, extra):
            out.append(S.reseeded(case, (seed + 104729 * j) % 2**32))
        out.append(S.reseeded(case, (seed + 1) % 2**32, schedule="cosine"))
    else:
        out.append(case.replace(lrs=S.lr_schedule("cosine", case.hp["lr"], case.steps, 0)))
    kinds = ["spike", "random", "sparse", "sign_flip"]
    recipe = {
        **case.recipe,
        "seed": (seed + 7) % 2**32,
        "steps": 10,
        "kinds": kinds,
        "shapes": [list(S.fit_shape(spec, (8,)))] * len(kinds),
        "exponent": int(np.clip(0, *case.recipe.get("exponents", S.EXPONENTS))),
        "schedule": "cosine",
    }
    recipe.setdefault("param_exponent", 0)
    rich = S.build_case(case.hp, recipe, defaults=case.defaults)
    out.append(rich)
    for base in (case, rich):
        for dim in spec.space:
            if not isinstance(dim, Flag) or not accepts(dim.name):
                continue
            hp = {**base.hp, dim.name: not base.hp.get(dim.name, dim.default)}
            groups = tuple({**g, dim.name: hp[dim.name]} if g else g for g in base.group_hp)
            if spec.check_hp(hp) is None and all(
                spec.check_hp({**hp, **g}) is None for g in groups
            ):
                out.append(base.replace(hp=hp, group_hp=groups))
    return out


def behaves_like(ctx: Context, case: S.Case | Mapping[str, Any]) -> list[str]:
    """Names of the spec's variants (and the spec itself, when --like named a variant) that
    the target matches on a failed comparison's case and on ``probes`` of it.

    A candidate matches when no probe inside the model's domain departs from it, and at
    least the failing case itself was compared."""
    spec = ctx.spec
    if isinstance(spec, OptimizerRecord) and spec.closure_driven:
        return _closure_behaves_like(ctx, spec, case)
    spec, model = _model(ctx)
    if isinstance(case, Mapping):
        case = S.Case.from_description(case)
    dtype = ctx.settings.dtype
    candidates: list[tuple[str, Callable[..., Any]]] = [(v.name, v.fn) for v in spec.variants]
    if ctx.variant is not None:
        candidates = [(spec.name, spec.step)] + [c for c in candidates if c[0] != ctx.variant.name]
    # Flags the user fixed stay as fixed: every probe runs the configuration asked for.
    fixed = ctx.settings.fixed_hp
    cases = probes(case, spec, lambda k: ctx.target.accepts(k) and k not in fixed)
    matches = []
    for name, fn in candidates:
        with sparse_gradients(spec.sparse_grads):
            verdicts = [_agrees(ctx, model, fn, c, dtype) for c in cases]
        if verdicts[0] and not any(v is False for v in verdicts):
            matches.append(name)
    return matches


def _closure_agrees(ctx: Context, step: Callable[..., Any], case: C.ClosureCase) -> bool | None:
    """Does the target follow ``step`` on ``case``? None when nothing could be compared."""
    dtype = ctx.settings.dtype
    case = case.rounded(dtype)
    try:
        got = C.drive(ctx.target.make, case, dtype, ctx.settings.device)
    except Exception:  # noqa: BLE001 - a target that raises matches no formula
        return False
    ref = C.run_reference(step, case)
    try:
        setup = C.compare_setup(step, case, ref, got, dtype)
    except NotApplicable:
        return None
    far = any(
        C.excess(C.Seen("", got.xs[k], ref.xs[k], setup.tol[k - 1])) > 1
        for k in range(1, setup.compared + 1)
    )
    return not far and setup.path_break is None


def _closure_behaves_like(
    ctx: Context, spec: OptimizerRecord, case: C.ClosureCase | Mapping[str, Any] | S.Case
) -> list[str]:
    """Variants a closure-driven target matches: on the failing case, the same set-up on two
    other problems, and with more calls (variants that differ in later iterations)."""
    if isinstance(case, Mapping):
        case = C.ClosureCase.from_description(case)
    if not isinstance(case, C.ClosureCase):
        return []
    probes = [case, case.with_calls(case.calls + 2)]
    for j, kind in enumerate(C.PROBLEMS):
        if kind != case.kind:
            probes.append(
                C.ClosureCase.build(
                    kind, max(case.n, 4), case.seed + j + 1, case.log_kappa, case.hp, 3
                )
            )
    candidates: list[tuple[str, Callable[..., Any]]] = [(v.name, v.fn) for v in spec.variants]
    if ctx.variant is not None:
        candidates = [(spec.name, spec.step)] + [c for c in candidates if c[0] != ctx.variant.name]
    matches = []
    for name, fn in candidates:
        verdicts = [_closure_agrees(ctx, fn, c) for c in probes]
        if verdicts[0] and not any(v is False for v in verdicts):
            matches.append(name)
    return matches


def evidence_case(result: CheckResult) -> S.Case | None:
    """The minimal case of a failed cross-validation result, rebuilt from its evidence. None
    for the long run: a departure after thousands of steps is a counter's, not a formula's
    (variants differ from the first steps on, where the short cases name them)."""
    if result.evidence is None or not result.evidence.case or result.id == long_horizon.check_id:
        return None
    d = result.evidence.case
    if "problem" in d:  # a closure-driven case (checks.kit.closures)
        return C.ClosureCase.from_description(d)  # type: ignore[return-value]
    return S.Case.from_description(d["runs"][0] if "runs" in d else d)
