"""LBFGS invariants (torch.optim.LBFGS; Nocedal 1980), driven by closures on drawn problems.

The cross-validation of the whole closed-loop run is ``crossval.closure_trajectory``; these
are the relations a reader can check by hand, each true of torch's algorithm in exact
arithmetic, with the round-off allowance derived below.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from optcheck.checks.kit import closures as C
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check, run_property
from optcheck.checks.records import OptimizerRecord
from optcheck.checks.tolerance import PRECISIONS, round_to


def _record(ctx: Context) -> OptimizerRecord:
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or not spec.closure_driven:
        raise NotApplicable("needs --like to name LBFGS")
    return spec


@check(
    "lbfgs.first_iteration",
    "the first iteration moves x by -lr·min(1, 1/‖g‖₁)·g (torch's scaled steepest descent)",
    invariant=True,
    needs=("max_iter", "line_search_fn"),
)
def first_iteration(ctx: Context) -> CheckResult:
    """One call with max_iter = 1 and no line search is one iteration from an empty history:
    d = -g, t = min(1, 1/‖g‖₁)·lr, x₁ = x₀ + t·d, where g is the gradient the closure put on
    .grad (rounded to the run's dtype). Unless max|g| ≤ tolerance_grad or gᵀd > -tolerance_change
    (x₀ stays); cases within 10⁻³ of either threshold are not compared.

    Round-off, per element, in the run's dtype (unit u): ‖g‖₁ sums n terms (≤ (n-1)u
    relative), 1/‖g‖₁, ·lr and ·g add three roundings, so t·g carries ≤ (n+3)u of |t·g|;
    the sum x₀ + t·d one more rounding of |x₁|. Twice that, as an implementation may order
    the sum otherwise."""
    _record(ctx)
    dtype = ctx.settings.dtype
    u = PRECISIONS[dtype].u

    def prop(case: C.ClosureCase) -> None:
        case = case.rounded(dtype)
        _, g = case.fg(case.x0)
        g = round_to(g, dtype)
        hp = {"lr": 1.0, "tolerance_grad": 1e-7, "tolerance_change": 1e-9, **case.hp}
        gmax, gtd = float(np.max(np.abs(g))), -float(g @ g)
        margins = (gmax / hp["tolerance_grad"], -gtd / hp["tolerance_change"])
        if any(abs(m - 1) < 1e-3 for m in margins):
            raise NotApplicable("the gradient sits on a stopping threshold")
        got = C.run_target(ctx, case, dtype)
        if gmax <= hp["tolerance_grad"] or gtd > -hp["tolerance_change"]:
            expected, scale = case.x0, np.abs(case.x0)
        else:
            tg = min(1.0, 1.0 / float(np.sum(np.abs(g)))) * hp["lr"] * g
            expected = case.x0 - tg
            scale = np.abs(expected) + (case.n + 3) * np.abs(tg)
        tol = 2 * u * float(np.max(scale, initial=0.0))
        seen = C.Seen("xs[1]", got.xs[1], expected, tol)
        ctx.worst.note(C.excess(seen))
        if C.excess(seen) > 1:
            raise C.violation(ctx, case, "the first iteration is not x - t·g", 1, dtype, seen)

    fixed = {**ctx.settings.fixed_hp, "max_iter": 1, "line_search_fn": None}
    cases = C.closure_cases(_record(ctx), accepts=ctx.target.accepts, fixed=fixed, calls=(1, 1))
    return run_property(ctx, cases, prop)


@check(
    "lbfgs.sufficient_decrease",
    "with line_search_fn='strong_wolfe' no step() increases f",
    invariant=True,
    needs=("line_search_fn",),
)
def sufficient_decrease(ctx: Context) -> CheckResult:
    """The strong Wolfe search returns the lowest point of its bracket, and a point enters
    the bracket's low end only if it meets Armijo's condition f(x + td) ≤ f + c₁t gᵀd < f
    (d a descent direction, else the iteration stops first; Nocedal & Wright Alg. 3.5-3.6).
    So f(x) never rises across a call. Round-off: the target compares f values it holds in
    its dtype, and f is re-evaluated here in float64, each within (n+2)u of its terms'
    magnitudes (|f| and ‖x‖∞‖g‖₁ bound them); four times both ends."""
    _record(ctx)
    dtype = ctx.settings.dtype
    u = PRECISIONS[dtype].u

    def prop(case: C.ClosureCase) -> None:
        case = case.rounded(dtype)
        got = C.run_target(ctx, case, dtype)
        fg = case.fg
        for k in range(case.calls):
            sizes = []
            for x in (got.xs[k], got.xs[k + 1]):
                f, g = fg(x)
                sizes.append(
                    abs(f) + float(np.max(np.abs(x), initial=0.0)) * float(np.sum(np.abs(g)))
                )
            tol = 4 * (case.n + 2) * u * sum(sizes)
            if not np.isfinite(tol):
                raise NotApplicable("f overflows on this problem")
            seen = C.Seen("fg(xs[STEP])[0]", got.fs[k + 1], got.fs[k], tol, "at_most")
            ctx.worst.note(C.excess(seen))
            if C.excess(seen) > 1:
                raise C.violation(ctx, case, "step() increased f", k + 1, dtype, seen)

    fixed = {**ctx.settings.fixed_hp, "line_search_fn": "strong_wolfe"}
    # Unit-scale steps after the first iteration, where a fixed step overshoots.
    overrides = {"lr": st.sampled_from((1.0, 0.5)), "max_iter": st.integers(2, 20)}
    cases = C.closure_cases(
        _record(ctx), accepts=ctx.target.accepts, fixed=fixed, overrides=overrides
    )
    return run_property(ctx, cases, prop)


@check(
    "lbfgs.resume",
    "a state_dict saved between two step(closure) calls and loaded into a fresh optimizer "
    "continues the run bit for bit",
    invariant=True,
)
def resume(ctx: Context) -> CheckResult:
    """The contract's resume, for a closure-driven optimizer: after k calls the state_dict
    goes through torch.save and torch.load(weights_only=True) into a new optimizer on new
    parameters with the same values; the remaining calls must give the uninterrupted run's
    iterates exactly (history, direction, step and counters are all state). A port keeping
    its history outside ``self.state`` resumes with none."""
    _record(ctx)
    dtype = ctx.settings.dtype

    def prop(pair: tuple[C.ClosureCase, int]) -> None:
        case, at = pair
        case = case.rounded(dtype)
        at = 1 + at % (case.calls - 1)
        whole = C.run_target(ctx, case, dtype)
        try:
            again = C.drive(ctx.target.make, case, dtype, ctx.settings.device, resume_at=at)
        except C.TargetRaised as exc:
            seen = C.Seen("resumed", np.nan, 0.0, 0.0)
            what = f"resuming after step {at} raised {exc}"
            raise C.violation(ctx, case, what, max(exc.step, 1), dtype, seen, at) from exc
        for k in range(at + 1, case.calls + 1):
            if not np.array_equal(again.xs[k], whole.xs[k]) or again.evals != whole.evals:
                seen = C.Seen("resumed", again.xs[k], whole.xs[k], 0.0)
                what = f"resumed after step {at}, the run parts from the uninterrupted one"
                raise C.violation(ctx, case, what, k, dtype, seen, at)

    cases = C.closure_cases(
        _record(ctx), accepts=ctx.target.accepts, fixed=ctx.settings.fixed_hp, calls=(2, 4)
    )
    return run_property(ctx, st.tuples(cases, st.integers(0, 2)), prop)
