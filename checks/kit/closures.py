"""Closure-driven optimizers (a record with ``closure_driven``: LBFGS): the case model.

Such a target's ``step(closure)`` evaluates f and ∇f at points it chooses, so no fixed
gradient sequence can drive it: a case is a smooth problem (its f and ∇f in float64 NumPy),
a start x0 split into parameter tensors, the constructor keywords and a number of
``.step(closure)`` calls. The target is driven by a closure that reads its parameters, puts
∇f on ``.grad`` (rounded to the run's dtype, as autograd would produce it) and returns f as
a tensor of that dtype; the reference runs the same problem in float64 on the flat vector.

Error model. The run is closed-loop: every rounding feeds back through f and ∇f, and the
iterate is a function of every earlier dot product and line-search trial, so its sensitivity
to round-off depends on the case (≈ κ near a minimizer, far more over long limited-memory
runs; tests/test_reference_structural.py). No closed bound is right for all cases, so each
case measures its own (Monte Carlo arithmetic, Parker, Pierce & Eggert 2000, CiSE 2(4)): the
reference re-run in ``SHADOWS`` shadows whose closure input x and outputs f, ∇f carry
independent relative errors uniform in ±2u and are then rounded to the dtype, u the dtype's
unit round-off (the size of every operation torch and NumPy may order differently, and the
quantisation the target's own closure sees). Their spread F_k from the reference after call k
is the rounding floor; the target must stay within

    tol_k = 4·max_{j≤k} F_j + 2u·(D + max_{j≤k} ‖x_j‖∞)·N_k

(D the run's largest displacement ‖x_j - x0‖∞, N_k the iterations up to call k, at most the
closure evaluations plus one a call: the last term is the target storing x in its dtype after
every iteration, which the shadows, keeping x in float64, do not sample). Below float64 the
shadows also keep their vectors in the dtype (``shadow_run``): torch's float32 dot products
and history move a limited-memory run far more than rounded inputs alone (37x on a
17-iteration Rosenbrock run). Measured, torch.optim.LBFGS in float64 stays within 0.6 of
this tolerance over 2,400 drawn cases (float32: within 0.28).
A case where rounding alone moves the trajectory by more than ``OUTSIDE`` of D says nothing
(every formula slip hides in it): it is outside the model and not compared.

Branches. Line searches and stopping tests are discrete: the path of a run is the number of
closure evaluations in each call. Where target and reference part, only the calls before are
compared, and only if a shadow (up to ``BRANCH_SHADOWS`` of them) parts there too, which shows
the branch sits within rounding of its threshold; otherwise the path itself is a violation.
A decision that leaves the path alone can still flip (a curvature pair kept or dropped):
calls where the shadows disagree on how far rounding moves x by more than ``CHAOS`` are not
compared, and before a violation is declared the tolerance is re-estimated from up to
``CONFIRM_SHADOWS`` shadows, so a second mode the first few missed is found.
"""

from __future__ import annotations

import functools
import inspect
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from optcheck.checks.kit.evidence import (
    EXCESS_EXPR,
    Observation,
    docstring_text,
    import_lines,
    literal,
    worst,
)
from optcheck.checks.kit.harness import DTYPES, make_params
from optcheck.checks.kit.registry import (
    Context,
    NotApplicable,
    ReferenceRaised,
    Violation,
    reference_side,
)
from optcheck.checks.kit.strategies import TargetRaised, hyperparams
from optcheck.checks.records import OptimizerRecord
from optcheck.checks.result import Evidence
from optcheck.checks.tolerance import PRECISIONS, round_to

Array = np.ndarray
FG = Callable[[Array], tuple[float, Array]]

SHADOWS = 4
BRANCH_SHADOWS = 10
OUTSIDE = 0.05
CHAOS = 1e3
CONFIRM_SHADOWS = 32
WORK = {"float32": np.float32, "bfloat16": np.float32, "float16": np.float16}

# Each problem's f and ∇f as source over x and its data: executed here and pasted verbatim
# into evidence snippets, so a reproduction computes exactly what the check computed.
PROBLEM_SOURCE = {
    "quadratic": (
        "def fg(x):\n"
        "    # ½xᵀAx - bᵀx, A symmetric positive definite with spectrum in [1/κ, 1]\n"
        "    return 0.5 * x @ A @ x - b @ x, A @ x - b\n"
    ),
    "logistic": (
        "def fg(x):\n"
        "    # mean logistic loss of the labels y ∈ {-1, 1} + ½μ‖x‖²\n"
        "    z = y * (X @ x)\n"
        "    f = np.mean(np.logaddexp(0.0, -z)) + 0.5 * mu * x @ x\n"
        "    return f, X.T @ (-y / (1.0 + np.exp(z))) / len(y) + mu * x\n"
    ),
    "rosenbrock": (
        "def fg(x):\n"
        "    # Rosenbrock's chain: Σ 100(x_{i+1} - x_i²)² + (1 - x_i)²\n"
        "    r = x[1:] - x[:-1] ** 2\n"
        "    g = np.zeros_like(x)\n"
        "    g[:-1] = -400.0 * x[:-1] * r - 2.0 * (1.0 - x[:-1])\n"
        "    g[1:] += 200.0 * r\n"
        "    return np.sum(100.0 * r**2 + (1.0 - x[:-1]) ** 2), g\n"
    ),
}
PROBLEMS = tuple(PROBLEM_SOURCE)  # simplest first: hypothesis shrinks towards it


def problem_data(kind: str, n: int, seed: int, log_kappa: float) -> dict[str, Any]:
    """The data ``PROBLEM_SOURCE[kind]`` reads, from a seed."""
    rng = np.random.default_rng(seed)
    if kind == "quadratic":
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        a = (q * np.geomspace(10.0**-log_kappa, 1.0, n)) @ q.T
        return {"A": (a + a.T) / 2, "b": rng.normal(size=n)}
    if kind == "logistic":
        m = 2 * n + 2
        return {
            "X": rng.normal(size=(m, n)),
            "y": rng.choice([-1.0, 1.0], size=m),
            "mu": 10.0**-log_kappa,
        }
    return {}


def compile_problem(kind: str, data: Mapping[str, Any]) -> FG:
    namespace: dict[str, Any] = {"np": np, **data}
    exec(PROBLEM_SOURCE[kind], namespace)  # noqa: S102 - our own source text, above
    fn = namespace["fg"]

    def fg(x: Array) -> tuple[float, Array]:
        f, g = fn(np.asarray(x, dtype=np.float64))
        return float(f), np.asarray(g, dtype=np.float64)

    return fg


def split_shapes(n: int, seed: int) -> tuple[tuple[int, ...], ...]:
    """n elements as one to three tensors of varied rank (0-d, vectors, matrices): the target
    must flatten them in parameter order, as torch's LBFGS does."""
    rng = np.random.default_rng(seed + 1)
    cuts = (
        sorted(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(0, 3))), replace=False))
        if n > 1
        else []
    )
    shapes = []
    for size in np.diff([0, *cuts, n]):
        size = int(size)
        pairs = [(a, size // a) for a in range(2, size) if size % a == 0]
        if size == 1:
            shapes.append(() if rng.random() < 0.5 else (1,))
        elif pairs and rng.random() < 0.5:
            shapes.append(pairs[int(rng.integers(len(pairs)))])
        else:
            shapes.append((size,))
    return tuple(shapes)


@dataclass(frozen=True)
class ClosureCase:
    """One closure-driven run: ``calls`` × ``.step(closure)`` on problem ``kind``."""

    kind: str
    n: int
    seed: int
    log_kappa: float
    x0: Array
    hp: dict[str, Any]
    calls: int
    shapes: tuple[tuple[int, ...], ...] = ()
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def build(
        cls, kind: str, n: int, seed: int, log_kappa: float, hp: Mapping[str, Any], calls: int
    ) -> ClosureCase:
        if kind == "rosenbrock" and n < 2:
            kind = "quadratic"  # a one-element chain has no coupling term
        rng = np.random.default_rng(seed + 2)
        x0 = rng.normal(size=n)
        if kind == "rosenbrock":  # near the classic start (-1.2, 1, ...)
            x0 = np.resize([-1.2, 1.0], n) + 0.1 * x0
        return cls(
            kind,
            n,
            seed,
            log_kappa,
            x0,
            dict(hp),
            calls,
            split_shapes(n, seed),
            problem_data(kind, n, seed, log_kappa),
        )

    @property
    def fg(self) -> FG:
        return compile_problem(self.kind, self.data)

    def rounded(self, dtype: str) -> ClosureCase:
        """x0 as the target stores it, so both runs start from the same point."""
        return replace(self, x0=round_to(self.x0, dtype))

    def with_hp(self, **hp: Any) -> ClosureCase:
        return replace(self, hp={**self.hp, **hp})

    def with_calls(self, calls: int) -> ClosureCase:
        return replace(self, calls=calls)

    def describe(self) -> dict[str, Any]:
        return {
            "problem": self.kind,
            "n": self.n,
            "seed": self.seed,
            "log_kappa": self.log_kappa,
            "x0": self.x0.tolist(),
            "shapes": [list(s) for s in self.shapes],
            "hp": {k: list(v) if isinstance(v, tuple) else v for k, v in self.hp.items()},
            "calls": self.calls,
        }

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> ClosureCase:
        case = cls.build(d["problem"], d["n"], d["seed"], d["log_kappa"], d["hp"], d["calls"])
        return replace(case, x0=np.asarray(d["x0"], dtype=np.float64))


def closure_cases(
    spec: OptimizerRecord,
    *,
    accepts: Callable[[str], bool] = lambda _: True,
    fixed: Mapping[str, Any] | None = None,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
    calls: tuple[int, int] = (1, 4),
    max_n: int = 10,
) -> st.SearchStrategy[ClosureCase]:
    """Problems × the record's keywords (``S.hyperparams``: fixed values win) × calls."""
    return st.builds(
        ClosureCase.build,
        st.sampled_from(PROBLEMS),
        st.integers(1, max_n),
        st.integers(0, 2**32 - 1),
        st.floats(0.0, 4.0),
        hyperparams(spec, fixed=fixed, accepts=accepts, overrides=overrides),
        st.integers(*calls),
    )


# --- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosureRun:
    """x after each call (xs[0] = x0, flat float64), the closure evaluations of each call,
    and f(x) after each call (fs[0] = f(x0))."""

    xs: list[Array]
    evals: list[int]
    fs: list[float]


def _offsets(shapes: Sequence[tuple[int, ...]]) -> list[int]:
    return list(np.cumsum([math.prod(s) for s in shapes])[:-1])


def run_target(ctx: Context, case: ClosureCase, dtype: str) -> ClosureRun:
    """``case.calls`` × ``target.step(closure)``; an exception from the target is a
    Violation with a snippet reproducing it."""
    try:
        return drive(ctx.target.make, case, dtype, ctx.settings.device)
    except TargetRaised as exc:
        where = f"in step {exc.step}" if exc.step else "while being constructed"
        message = f"target raised {exc} {where}"
        raise Violation(
            Evidence(
                message=message,
                case=case.describe(),
                step=exc.step,
                snippet=snippet(ctx, case, message, max(exc.step, 1), dtype, None),
            )
        ) from exc


def drive(
    make: Callable[..., Any],
    case: ClosureCase,
    dtype: str,
    device: str,
    resume_at: int | None = None,
) -> ClosureRun:
    """``case.calls`` × ``step(closure)``; with ``resume_at`` k, after call k the state_dict
    goes through torch.save and torch.load(weights_only=True) into a fresh optimizer on fresh
    parameters holding the same values, which makes the remaining calls (a checkpoint)."""
    fg, offsets = case.fg, _offsets(case.shapes)
    tdtype = DTYPES[dtype]

    def fresh(x: Array) -> list[torch.nn.Parameter]:
        chunks = np.split(x, offsets)
        shaped = [c.reshape(s) for c, s in zip(chunks, case.shapes, strict=True)]
        return make_params(shaped, tdtype, device)

    def build(params: list[torch.nn.Parameter], step: int) -> Any:
        try:
            return make(params, case.hp)
        except Exception as exc:  # noqa: BLE001 - the target's fault, reported as such
            raise TargetRaised(step, exc) from exc

    params = fresh(case.x0)
    opt = build(params, 0)
    count = [0]

    def flat() -> Array:
        return torch.cat([p.detach().reshape(-1) for p in params]).to("cpu", torch.float64).numpy()

    def closure() -> torch.Tensor:
        count[0] += 1
        with np.errstate(all="ignore"):
            f, g = fg(flat())
        if not (np.isfinite(round_to(f, dtype)) and np.isfinite(round_to(g, dtype)).all()):
            raise NotApplicable(f"f or ∇f overflows {dtype} at a point the target evaluates")
        for p, c in zip(params, np.split(g, offsets), strict=True):
            p.grad = torch.as_tensor(c.reshape(p.shape), dtype=tdtype, device=device)
        return torch.as_tensor(f, dtype=tdtype, device=device)

    xs, evals = [flat().copy()], []
    for k in range(case.calls):
        if k == resume_at:
            buffer = io.BytesIO()
            try:
                torch.save(opt.state_dict(), buffer)
                buffer.seek(0)
                state = torch.load(buffer, weights_only=True)
                params = fresh(xs[-1])  # the closure reads the new ones
                opt = build(params, k)
                opt.load_state_dict(state)
            except TargetRaised:
                raise
            except Exception as exc:  # noqa: BLE001 - saving or loading its state failed
                raise TargetRaised(k, exc) from exc
        count[0] = 0
        try:
            opt.step(closure)
        except NotApplicable:
            raise
        except Exception as exc:  # noqa: BLE001
            raise TargetRaised(k + 1, exc) from exc
        xs.append(flat().copy())
        evals.append(count[0])
    with np.errstate(all="ignore"):
        return ClosureRun(xs, evals, [fg(x)[0] for x in xs])


def run_reference(step: Callable[..., Any], case: ClosureCase, fg: FG | None = None) -> ClosureRun:
    """The reference (step(x, closure_fn, state, hp) -> (x, state)) on the flat vector."""
    fg = fg or case.fg
    count = [0]

    def counted(x: Array) -> tuple[float, Array]:
        count[0] += 1
        return fg(x)

    x, state, xs, evals = case.x0.copy(), {}, [case.x0.copy()], []
    with np.errstate(all="ignore"):
        for _ in range(case.calls):
            count[0] = 0
            try:
                with reference_side():
                    x, state = step(x, counted, state, case.hp)
            except ReferenceRaised as exc:  # e.g. a line search's interpolation degenerates
                if not isinstance(exc.cause, ArithmeticError):
                    raise
                raise NotApplicable(f"the reference's own run fails here: {exc.cause!r}") from exc
            xs.append(np.array(x, dtype=np.float64))
            evals.append(count[0])
        exact = case.fg
        return ClosureRun(xs, evals, [exact(x)[0] for x in xs])


def shadow(fg: FG, dtype: str, seed: int, amplitude: float) -> FG:
    """fg with x, f and ∇f each given relative errors uniform in ±amplitude and rounded to
    ``dtype`` (the module docstring)."""
    rng = np.random.default_rng(seed)

    def perturbed(x: Array) -> tuple[float, Array]:
        x = round_to(x * (1 + amplitude * rng.uniform(-1, 1, size=x.shape)), dtype)
        f, g = fg(x)
        f = float(round_to(f * (1 + amplitude * rng.uniform(-1, 1)), dtype))
        return f, round_to(g * (1 + amplitude * rng.uniform(-1, 1, size=g.shape)), dtype)

    return perturbed


def shadow_run(step: Callable[..., Any], case: ClosureCase, dtype: str, seed: int) -> ClosureRun:
    """The reference on ``shadow(fg)``, its real-valued keywords (lr, thresholds) given
    relative errors in ±2u too: a comparison a ≤ τ of a quantity computed with relative
    error ε decides as a ≤ τ(1 + ε') would, so this puts the target's own rounding of the
    stopping tests and of t = lr·… in the sample (module doc). Below float64 a reference
    that can (``work``) keeps its vectors in the dtype, so the sample holds the round-off
    of its dot products and history too (bfloat16: float32, NumPy has no bfloat16)."""
    amplitude = 2 * PRECISIONS[dtype].u
    rng = np.random.default_rng(2**31 + seed)
    hp = {
        k: v * (1 + amplitude * rng.uniform(-1, 1)) if isinstance(v, float) else v
        for k, v in case.hp.items()
    }
    fg = shadow(case.fg, dtype, seed, amplitude)
    if dtype != "float64" and "work" in inspect.signature(step).parameters:
        step = functools.partial(step, work=WORK[dtype])
    return run_reference(step, replace(case, hp=hp), fg)


@dataclass(frozen=True)
class Comparison:
    """Tolerances per call (absolute, on ‖x_target - x_ref‖∞), and the calls compared."""

    tol: list[float]
    compared: int  # calls 1..compared share the reference's path
    displacement: float
    path_break: tuple[int, int, int] | None = None  # (call, target evals, reference evals)


def compare_setup(
    step: Callable[..., Any], case: ClosureCase, ref: ClosureRun, got: ClosureRun, dtype: str
) -> Comparison:
    """The per-case tolerance and the calls the paths let us compare (module doc);
    NotApplicable outside the model. A shadow's spread counts at call k only while it has
    followed the reference's path, as the target must to be compared there."""
    u = PRECISIONS[dtype].u
    calls = case.calls
    runs: list[ClosureRun] = []

    def same_path(r: ClosureRun, k: int) -> bool:
        return r.evals[:k] == ref.evals[:k]

    def followers(k: int) -> list[ClosureRun]:
        return [r for r in runs if same_path(r, k)]

    part = next((k for k in range(calls) if got.evals[k] != ref.evals[k]), None)
    while len(runs) < BRANCH_SHADOWS and (
        len(runs) < SHADOWS
        or len(followers(calls)) < SHADOWS
        or (part is not None and all(same_path(r, part + 1) for r in runs))
    ):
        runs.append(shadow_run(step, case, dtype, len(runs)))
    if not all(np.isfinite(x).all() for r in (ref, *runs) for x in r.xs):
        raise NotApplicable("the reference's run overflows on this problem")
    # Calls whose path rounding leaves alone (≥ SHADOWS shadows follow it) and whose
    # shadows agree on how far rounding moves them (spreads within CHAOS of each other: a
    # decision inside a call that rounding flips, such as which end of a line-search
    # bracket is kept, moves x by a step's size and leaves a few samples blind to it)
    # can be compared.
    d = max(float(np.max(np.abs(x - case.x0), initial=0.0)) for x in ref.xs)
    tol, floor, stable, updates = [], 0.0, 0, 0
    for k in range(1, calls + 1):
        near = followers(k)
        if len(near) < SHADOWS:
            break
        # The target stores x in its dtype after every iteration (≤ evaluations + 1 a call)
        # and the shadows' x stays float64: those roundings add up linearly.
        updates += ref.evals[k - 1] + 1
        size = d + max(float(np.max(np.abs(x), initial=0.0)) for x in ref.xs[: k + 1])
        grain = 2 * u * size * updates
        spreads = [float(np.max(np.abs(r.xs[k] - ref.xs[k]), initial=0.0)) for r in near]
        if max(spreads) > CHAOS * (min(spreads) + grain):
            break
        floor = max(floor, *spreads)
        tol.append(4 * floor + grain)
        stable = k
    if stable == 0:
        raise NotApplicable(
            "outside the model: rounding alone changes this run's first call (its path or "
            "a line-search choice)"
        )
    if d > 0 and max(tol) > OUTSIDE * d:
        raise NotApplicable(
            f"outside the model: rounding in {dtype} alone moves this trajectory by "
            f"{max(tol) / d:.2g} of its displacement"
        )
    if part is None or part >= stable:
        return Comparison(tol, stable, d)
    if any(not same_path(r, part + 1) for r in runs):
        return Comparison(tol, part, d)  # rounding explains the branch: compare before it
    return Comparison(tol, part, d, (part + 1, got.evals[part], ref.evals[part]))


def confirmed_tolerance(
    step: Callable[..., Any],
    case: ClosureCase,
    ref: ClosureRun,
    dtype: str,
    k: int,
    tol: float,
    error: float,
) -> float:
    """The tolerance at call k re-estimated from up to ``CONFIRM_SHADOWS`` shadows before a
    violation is declared: a decision rounding flips in a few runs in ten (a curvature pair
    kept or dropped) gives a second mode the first shadows may all miss. Stops as soon as
    the tolerance covers ``error``."""
    for seed in range(SHADOWS, CONFIRM_SHADOWS):
        if tol >= error:
            break
        other = shadow_run(step, case, dtype, seed)
        if other.evals[:k] == ref.evals[:k]:
            tol = max(tol, 4 * float(np.max(np.abs(other.xs[k] - ref.xs[k]), initial=0.0)))
    return tol


# --- evidence ------------------------------------------------------------------------------

_TEMPLATE = '''\
"""optcheck evidence, {check_id}: {message}

Standalone: torch + numpy{plus}. Drives the target with closures on the problem below and
prints what optcheck observed next to what it expected.
"""
import io

import numpy as np
import torch

{import_line}

DTYPE = torch.{dtype}
DEVICE = {device}
HP = {hp}
FIXED = {fixed}
SHAPES = {shapes}
X0 = {x0}
STEP = {step}
{data}

{source}

def fresh(x0):
    params, at = [], 0
    for shape in SHAPES:
        size = int(np.prod(shape))
        chunk = x0[at : at + size].reshape(shape)
        params.append(torch.nn.Parameter(torch.tensor(chunk, dtype=DTYPE, device=DEVICE)))
        at += size
    return params


params = fresh(X0)
opt = Target(params, **HP, **FIXED)
count = [0]


def flat():
    return torch.cat([p.detach().reshape(-1) for p in params]).to("cpu", torch.float64).numpy()


def closure():
    count[0] += 1
    f, g = fg(flat())
    at = 0
    for p in params:
        p.grad = torch.tensor(g[at : at + p.numel()].reshape(p.shape), dtype=DTYPE, device=DEVICE)
        at += p.numel()
    return torch.tensor(f, dtype=DTYPE, device=DEVICE)


xs, evals = [flat().copy()], []
{tail}
'''

_COMPARE = """\
for k in range(STEP):
    count[0] = 0
    opt.step(closure)
    xs.append(flat().copy())
    evals.append(count[0])
got = np.asarray(EXPR, dtype=np.float64)
expected = EXPECTED
tolerance = TOLERANCE
excess = EXCESS
np.set_printoptions(precision=17)
print("closure evaluations per step:", evals)
print("got:     ", got)
print("expected:", expected, "(RELATION)")
print("tolerance:", tolerance)
ratio = float(np.max(excess)) / tolerance if tolerance > 0 else float(np.max(excess) > 0) * np.inf
print("worst excess: %.6g tolerances" % ratio)
print("REPRODUCED" if not ratio <= 1 else "not reproduced")
"""

_RESUME = """\
for k in range(STEP):
    opt.step(closure)
uninterrupted = flat().copy()
params = fresh(X0)
opt = Target(params, **HP, **FIXED)
for k in range(SPLIT):
    opt.step(closure)
buffer = io.BytesIO()
torch.save(opt.state_dict(), buffer)
buffer.seek(0)
state = torch.load(buffer, weights_only=True)
params = fresh(flat())
opt = Target(params, **HP, **FIXED)
opt.load_state_dict(state)
for k in range(SPLIT, STEP):
    opt.step(closure)
resumed = flat().copy()
np.set_printoptions(precision=17)
print("uninterrupted:", uninterrupted)
print("resumed after step SPLIT:", resumed)
print("REPRODUCED" if not np.array_equal(uninterrupted, resumed) else "not reproduced")
"""

_RAISES = """\
try:
    for k in range(STEP):
        opt.step(closure)
except Exception as exc:
    print(f"target raised {type(exc).__name__}: {exc}")
    print("REPRODUCED")
else:
    print("not reproduced: the target did not raise")
"""


@dataclass(frozen=True)
class Seen:
    """What a closure check observed: ``expr`` over xs (iterates), evals (per call) and fg."""

    expr: str
    got: Any
    expected: Any
    tolerance: float
    relation: str = "equal"


def snippet(
    ctx: Context,
    case: ClosureCase,
    message: str,
    step: int,
    dtype: str,
    seen: Seen | None,
    resume_at: int | None = None,
) -> str:
    import_line, needs = import_lines(ctx.target)  # type: ignore[arg-type]
    plus = "" if needs in ("torch", "torch.optim") else f", plus {needs}"
    data = "\n".join(f"{k} = {literal(v)}" for k, v in case.data.items())
    if resume_at is not None:
        tail = _RESUME.replace("SPLIT", str(resume_at))
    elif seen is None:
        tail = _RAISES
    else:
        tail = (
            _COMPARE.replace("EXPR", seen.expr)
            .replace("EXPECTED", literal(np.asarray(seen.expected, dtype=np.float64)))
            .replace("TOLERANCE", literal(float(seen.tolerance)))
            .replace("EXCESS", EXCESS_EXPR[seen.relation])
            .replace("RELATION", seen.relation.replace("_", " "))
        )
    return _TEMPLATE.format(
        check_id=ctx.check_id,
        message=docstring_text(message),
        plus=plus,
        import_line=import_line,
        dtype=dtype,
        device=literal(ctx.settings.device),
        hp=literal(dict(case.hp)),
        fixed=literal(dict(ctx.target.fixed)),  # type: ignore[union-attr]
        shapes=literal([tuple(s) for s in case.shapes]),
        x0=literal(np.asarray(case.x0)),
        step=step,
        data=data,
        source=PROBLEM_SOURCE[case.kind],
        tail=tail,
    )


def excess(seen: Seen) -> float:
    """How far beyond ``seen.expected``, in tolerances (≤ 1 holds; NaN is infinitely far)."""
    obs = Observation(
        seen.expr,
        np.asarray(seen.got),
        np.asarray(seen.expected),
        np.asarray(seen.tolerance),
        seen.relation,
    )  # type: ignore[arg-type]
    return worst(obs)[0]


def violation(
    ctx: Context,
    case: ClosureCase,
    what: str,
    step: int,
    dtype: str,
    seen: Seen,
    resume_at: int | None = None,
) -> Violation:
    got, exp = np.asarray(seen.got, dtype=np.float64), np.asarray(seen.expected, dtype=np.float64)
    ratio = excess(seen)
    message = f"{what} at step {step}: off by {ratio:.6g} × tolerance ({seen.tolerance:.6g})"
    return Violation(
        Evidence(
            message=message,
            case=case.describe(),
            step=step,
            expected=exp.tolist(),
            got=got.tolist(),
            tolerance=float(seen.tolerance),
            error_in_tol=ratio,
            snippet=snippet(ctx, case, message, step, dtype, seen, resume_at),
        )
    )
