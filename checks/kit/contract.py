"""The kit for the generic optimizer contract: drawn problems (tensors, gradients and
keywords from one seed), building and driving the target, exact comparison, and the
standalone reproductions its evidence carries.

All comparisons here are exact (equal values, -0.0 == 0.0, NaN where NaN): a contract property
compares a target with itself under two arrangements that must execute the same arithmetic.
Hyper-parameters come from the record's space when there is one, else the target's own
defaults with only ``lr`` drawn; ``fixed_hp`` always wins. Where a property holds for some
algorithms only, the reference decides case by case (``reference_trajectory``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from optcheck.checks.kit.harness import (
    COMPLEX,
    DTYPES,
    MakeOptimizer,
    graph_on,
    kind_of,
    make_params,
    run_torch,
    set_grads,
    set_lr,
    sparse_from_now,
    to_numpy,
)
from optcheck.checks.kit.kinds import PARAM_KINDS as ALL_KINDS
from optcheck.checks.kit.registry import (
    Context,
    NotApplicable,
    Settings,
    Violation,
    first_draw,
    limits_of,
    reference_side,
    with_graph,
)
from optcheck.checks.kit.strategies import (
    KIND_LAYOUT,
    LAYOUT_SHAPES,
    MANY_TENSORS,
    OTHER_DTYPE,
    SWITCHED_ON,
    fit_shape,
    hyperparams,
    kind_choices,
    real,
    untouched_rows,
)
from optcheck.checks.records import Limits, OptimizerRecord
from optcheck.checks.result import Evidence
from optcheck.reference.space import Real
from optcheck.reference.trajectory import run as reference_run

Trajectory = list[list[np.ndarray]]  # [step][tensor], float64 copies
Grads = Sequence[Sequence["np.ndarray | None"]]

# Without a spec only lr is drawn; this range is valid for any first-order method we know of.
LR_WITHOUT_SPEC = Real("lr", 1e-4, 1e-1, 1e-2, log=True)
# --- drawn cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Tensors, a fixed gradient sequence and initial values, all from one drawn seed.

    Values are uniform in [-scale, scale]; ``sparse`` zeroes about half the entries (exact
    zeros are where normalisations divide 0 by 0); ``zero`` makes everything 0.
    """

    shapes: tuple[tuple[int, ...], ...]
    steps: int
    seed: int
    grad_scale: float = 1.0
    param_scale: float = 1.0
    sparse: bool = False
    zero: bool = False
    # Sparse gradients (OptimizerRecord.sparse_grads): rows left out, NaN-encoded.
    untouched_rows: bool = False
    # How tensor i is held (``held_kinds`` draws them): its layout (harness.LAYOUTS; a
    # complex tensor's array has a trailing 2), dtype name and device (None: the run's).
    layouts: tuple[str, ...] = ()
    dtypes: tuple[str | None, ...] = ()
    devices: tuple[str | None, ...] = ()

    def held(self, dtype: torch.dtype) -> dict[str, tuple]:
        """``snippet``'s per-tensor keywords when the run's dtype is ``dtype``: a complex
        layout only where the tensor's dtype has a complex kind (plain, of the array's shape,
        otherwise: contract.dtype also draws bfloat16)."""

        def layout(i: int, x: str) -> str:
            name = self.dtypes[i] if i < len(self.dtypes) else None
            return x if x != "complex" or (DTYPES[name] if name else dtype) in COMPLEX else "plain"

        layouts = tuple(layout(i, x) for i, x in enumerate(self.layouts))
        return {"layouts": layouts, "dtypes": self.dtypes, "devices": self.devices}

    def retyped(self, run: str, to: str) -> Problem:
        """The problem drawn for a run in dtype ``run`` as a run in ``to`` holds it: a tensor
        of the run's other dtype (strategies.OTHER_DTYPE) in ``to``'s other dtype."""
        if not self.dtypes or run == to:
            return self
        other = OTHER_DTYPE[to]
        return replace(self, dtypes=tuple(other if d else None for d in self.dtypes))

    def arrays(self) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
        rng = np.random.default_rng(self.seed)

        def draw(shape: tuple[int, ...], scale: float) -> np.ndarray:
            x = np.asarray(rng.uniform(-1.0, 1.0, size=shape) * scale, dtype=np.float64)
            if self.sparse:
                x = np.where(rng.random(size=shape) < 0.5, 0.0, x)
            return np.zeros(shape) if self.zero else x

        params0 = [draw(s, self.param_scale) for s in self.shapes]
        grads = [[draw(s, self.grad_scale) for s in self.shapes] for _ in range(self.steps)]
        if self.untouched_rows:
            grads = [[untouched_rows(g, rng) for g in gs] for gs in grads]
        return params0, grads


@dataclass
class ContractCase:
    hp: dict[str, Any]
    problem: Problem
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"hp": dict(self.hp), **asdict(self.problem), **self.extra}


# The parameter kinds of shape (checks.kit.kinds.PARAM_KINDS has them all) that contract problems
# draw, each with the shape the kind probe steps; a target that raises on a kind is told once
# (contract.param_kinds) and no check draws it (Settings.skip_kinds, skipped_kinds), so one
# crash cannot hide the rest.
PARAM_KINDS: dict[str, tuple[int, ...]] = {"0-d": (), "zero-size": (0,)}
# A target may decline complex parameters: raise a clear error (torch's Adafactor, fused
# kernels), or step them by other rules than torch's (as their view_as_real: lion-pytorch
# takes the complex sign z/|z|). Not drawn then, and said, rather than a finding: torch's
# rule is a convention, not a paper's formula. A complex part that never moves is a finding.
DECLINABLE_KINDS = ("complex",)
# What a skipped kind's tensor is drawn as instead: an ordinary small vector.
ORDINARY_SHAPE = (2,)


def shapes(min_tensors: int = 1, max_tensors: int = 3) -> st.SearchStrategy[tuple]:
    shape = st.one_of(
        st.just(()),
        st.tuples(st.integers(1, 4)),
        st.tuples(st.integers(1, 3), st.integers(1, 3)),
        st.just((0,)),  # empty tensors: kernels that index element 0 break here
    )
    return st.lists(shape, min_size=min_tensors, max_size=max_tensors).map(tuple)


def problems(
    *,
    min_tensors: int = 1,
    max_tensors: int = 3,
    min_steps: int = 1,
    max_steps: int = 4,
    grad_exp: tuple[float, float] = (-2.0, 1.0),
    param_exp: tuple[float, float] = (-1.0, 1.0),
    sparse: bool = False,
    zero: bool = False,
) -> st.SearchStrategy[Problem]:
    """Small problems (at most 3 tensors of at most 9 entries): the contract is about control
    flow and bookkeeping, which size does not change, and small keeps the suite fast."""

    def scale(lo: float, hi: float) -> st.SearchStrategy[float]:
        # The upper bound first: the largest magnitudes are where overflow shows.
        return st.one_of(st.just(hi), st.floats(lo, hi)).map(lambda e: float(10.0**e))

    return st.builds(
        Problem,
        shapes=shapes(min_tensors, max_tensors),
        steps=st.integers(min_steps, max_steps),
        seed=st.integers(0, 2**32 - 1),
        grad_scale=scale(*grad_exp),
        param_scale=scale(*param_exp),
        sparse=st.booleans() if sparse else st.just(False),
        zero=st.just(zero),
    )


def record_of(ctx: Context) -> OptimizerRecord | None:
    return ctx.spec if isinstance(ctx.spec, OptimizerRecord) else None


def lr_strategy(ctx: Context) -> st.SearchStrategy[float]:
    spec = record_of(ctx)
    dims = [d for d in spec.space if d.name == "lr"] if spec else []
    return real(dims[0] if dims and isinstance(dims[0], Real) else LR_WITHOUT_SPEC)


def hp_strategy(
    ctx: Context, overrides: Mapping[str, Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Constructor keywords: the spec's space, else lr and the target's own constructor
    explored (``explored``); ``overrides`` replace drawn values (a check's premise, such as
    lr = 0) and ``ctx.settings.fixed_hp`` replaces everything. Without a spec, a drawn
    combination the constructor rejects (SGD's nesterov without momentum) is not drawn."""
    spec = record_of(ctx)
    fixed = dict(ctx.settings.fixed_hp)
    if spec is not None:
        base = hyperparams(spec, fixed=fixed, accepts=ctx.target.accepts)
    else:
        lr = {"lr": lr_strategy(ctx)} if ctx.target.accepts("lr") else {}
        base = st.fixed_dictionaries({**lr, **explored(ctx)})
    strategy = base.map(lambda hp: {**hp, **(overrides or {}), **fixed})
    if spec is not None:
        return strategy.filter(lambda hp: spec.check_hp(hp) is None)
    return strategy.filter(lambda hp: _constructs(ctx, hp))


# --- exploring a constructor without a spec -------------------------------------------------

# Flags held at their defaults: True needs what the contract does not set up (a CUDA graph
# capture; autograd through step(), which torch refuses on leaf parameters).
HELD_FLAGS = {
    "capturable": "needs CUDA graph capture",
    "differentiable": "needs autograd through step()",
}
# Code paths: None lets the class choose, False and True force one.
IMPLEMENTATION_FLAGS = ("foreach", "fused")
# A numeric default is drawn within this factor either way (a fraction stays in (0, 1)).
PERTURB_EXP = 0.3


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _switched_on(name: str) -> st.SearchStrategy[float] | None:
    """A zero default that switches a term off, drawn on: weight decay (and lr_decay,
    momentum_decay) positive, momentum in [0.5, 0.99]. Other zeros keep their meaning."""
    if "decay" in name:
        return st.floats(-4.0, -1.0).map(lambda e: float(10.0**e))
    if "momentum" in name:
        return st.floats(0.5, 0.99)
    return None


def _perturbed(name: str, default: Any) -> st.SearchStrategy[Any] | None:
    """Values around a numeric default of the constructor's (None: not drawn)."""
    if not _real(default) or default < 0:
        return None
    if default == 0:
        return _switched_on(name)
    if isinstance(default, int):
        return None  # a count (ns_steps, history_size): structural, not a magnitude
    d = float(default)
    factor = st.floats(-PERTURB_EXP, PERTURB_EXP).map(lambda e: float(10.0**e))
    if d < 1.0 and d > 0.5:  # near 1 it is 1 - d that sets the scale (betas, rho, alpha)
        return factor.map(lambda f: 1.0 - (1.0 - d) * f)
    if d < 1.0:
        return factor.map(lambda f: min(d * f, 0.99))
    if d == 1.0:  # often a fraction's upper end (QHAdam's ν, dampening): above it is no domain
        return st.floats(-PERTURB_EXP, 0.0).map(lambda e: float(10.0**e))
    return factor.map(lambda f: d * f)


def _around(name: str, default: Any) -> st.SearchStrategy[Any] | None:
    """How a keyword of the constructor is drawn, from its default (None: kept at it)."""
    if isinstance(default, bool):
        return st.booleans()
    if default is None and name in IMPLEMENTATION_FLAGS:
        return st.sampled_from((None, False, True))
    if isinstance(default, tuple) and default:
        halves = [_perturbed(name, x) if x != 0 else None for x in default]
        if any(h is None for h in halves):
            return None
        return st.one_of(st.just(default), st.tuples(*halves))  # type: ignore[misc]
    moved = _perturbed(name, default)
    return None if moved is None else st.one_of(st.just(default), moved)


def _constructor_defaults(ctx: Context) -> dict[str, Any]:
    """The target's keywords with defaults, those the run does not fix (lr is drawn apart)."""
    try:
        params = list(inspect.signature(ctx.target.factory).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    locked = {"lr", *ctx.settings.fixed_hp, *ctx.target.fixed}
    return {
        p.name: p.default
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.default is not p.empty
        and p.name not in locked
        and ctx.target.accepts(p.name)
    }


def explored(ctx: Context) -> dict[str, st.SearchStrategy[Any]]:
    """Without a spec, the target's own constructor: flags both ways, foreach/fused among
    None, False and True, zero decay and momentum switched on, numeric defaults perturbed
    within a factor 10^0.3 (fractions kept in (0, 1)); the rest, and HELD_FLAGS, at their
    defaults. In-place changes to p.grad made only with weight_decay > 0 or maximize=True,
    or a bug of the foreach path, show only in such configurations."""
    out = {}
    for name, default in _constructor_defaults(ctx).items():
        if name in HELD_FLAGS:
            continue
        if (strategy := _around(name, default)) is not None:
            out[name] = strategy
    return out


def _flipped(name: str, default: Any) -> Any:
    """The non-default side of a switch (a flag, a zero decay or momentum), or None if the
    keyword is no switch."""
    if isinstance(default, bool):
        return not default
    if default is None and name in IMPLEMENTATION_FLAGS:
        return True
    if _real(default) and default == 0:
        return next((v for k, v in SWITCHED_ON.items() if k in name), None)
    return None


def switch_plans(ctx: Context, overrides: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Constructor keywords run in every check whatever is drawn, so each switch (a flag, a
    zero decay or momentum) is met both ways and each alone: every switch at its default;
    each one flipped alone, the others at their defaults; then all flipped at once (a flip
    the constructor rejects in that combination, as nesterov without momentum, goes into a
    further plan). Random draws met weight_decay > 0 with the default coupled decay only by
    chance: QHAdam's in-place decay of p.grad was missed in 25 derandomized draws. A plan is
    judged with the check's ``overrides`` (contract.zero_lr's lr = 0: timm's
    corrected_weight_decay=True refuses it), else its one case could never be drawn."""
    if record_of(ctx) is not None:
        return []
    defaults = _constructor_defaults(ctx)
    drawn = explored(ctx)
    flips = {
        name: value
        for name, default in defaults.items()
        if name in drawn and (value := _flipped(name, default)) is not None
    }
    lr = {"lr": LR_WITHOUT_SPEC.default} if ctx.target.accepts("lr") else {}

    def constructs(plan: dict[str, Any]) -> bool:
        return _constructs(ctx, {**lr, **plan, **(overrides or {}), **ctx.settings.fixed_hp})

    at_default = {name: defaults[name] for name in flips}
    plans = [at_default]
    plans += [p for name, v in flips.items() if constructs(p := {**at_default, name: v})]
    if len(flips) < 2:
        return plans if flips else []
    left = dict(flips)
    while left:
        plan = dict(at_default)
        for name, value in list(left.items()):
            if constructs({**plan, name: value}):
                plan[name] = left.pop(name)
        if plan == at_default:
            break  # flips rejected even alone are left to the random draws
        plans.append(plan)
    return plans


def describe_exploration(ctx: Context) -> str | None:
    """One line for the report: what the exploration draws and what it holds."""
    defaults = _constructor_defaults(ctx)
    drawn = explored(ctx)
    if not drawn:
        return None
    held = [f"{k} ({why})" for k, why in HELD_FLAGS.items() if k in defaults]
    line = f"no --like: the contract draws the constructor's {', '.join(sorted(drawn))}"
    line += " around their defaults (flags both ways, zero decay and momentum on; each"
    line += " switch both ways in every check)"
    return line + (f"; held at their defaults: {', '.join(held)}" if held else "")


def _constructs(ctx: Context, hp: Mapping[str, Any]) -> bool:
    """Whether the target accepts this combination of keywords at construction."""
    shape = fit_shape(limits_of(ctx), (2,))
    param = torch.nn.Parameter(
        torch.zeros(shape, dtype=torch_dtype(ctx), device=ctx.settings.device)
    )
    try:
        ctx.target.make([param], hp)
    except Exception:  # noqa: BLE001 - a rejected combination is not drawn
        return False
    return True


def default_hp(ctx: Context) -> dict[str, Any]:
    """The keywords a pre-flight construction uses: the spec's defaults, else lr = 1e-2."""
    spec = record_of(ctx)
    if spec is not None:
        hp = {k: v for k, v in spec.defaults.items() if ctx.target.accepts(k)}
    else:
        hp = {"lr": LR_WITHOUT_SPEC.default} if ctx.target.accepts("lr") else {}
    return {**hp, **ctx.settings.fixed_hp}


def cases(
    ctx: Context,
    problem: st.SearchStrategy[Problem],
    *,
    overrides: Mapping[str, Any] | None = None,
    extra: Callable[[Problem], st.SearchStrategy[dict[str, Any]]] | None = None,
) -> st.SearchStrategy[ContractCase]:
    ensure_limits(ctx)
    kinds = drawn_kinds(ctx, contract=True)
    strategy = _case_strategy(ctx, problem, overrides, extra, kinds)
    # One case per switch plan runs first in every check (run_property's explicit phase).
    plans = switch_plans(ctx, overrides)
    strategy.explicit = lambda: [  # type: ignore[attr-defined]
        first_draw(_case_strategy(ctx, problem, {**plan, **(overrides or {})}, extra, kinds))
        for plan in plans
    ]
    return strategy


def _case_strategy(
    ctx: Context,
    problem: st.SearchStrategy[Problem],
    overrides: Mapping[str, Any] | None,
    extra: Callable[[Problem], st.SearchStrategy[dict[str, Any]]] | None,
    kinds: tuple[str, ...],
) -> st.SearchStrategy[ContractCase]:
    @st.composite
    def draw_case(draw: st.DrawFn) -> ContractCase:
        hp = draw(hp_strategy(ctx, overrides))
        p = draw(problem)
        drawn = tuple(
            ORDINARY_SHAPE if (k := kind_of(s)) is not None and k not in kinds else s
            for s in p.shapes
        )
        p = replace(p, shapes=drawn) if drawn != p.shapes else p
        if (lim := limits_of(ctx)) is not None:  # the shapes and gradients the target steps
            shapes = tuple(fit_shape(lim, s) for s in p.shapes)
            p = replace(p, shapes=shapes, untouched_rows=lim.sparse_grads)
        held = draw(held_kinds(ctx, p, kinds))
        p = held if held == p else _accepted(ctx, hp, held, p)
        return ContractCase(hp, p, draw(extra(p)) if extra else {})

    return draw_case()


def _accepted(ctx: Context, hp: Mapping[str, Any], held: Problem, plain: Problem) -> Problem:
    """``held``, unless keywords decline a kind of it where ordinary parameters with the same
    keywords are taken: a constructor that refuses the kinds (then ``plain``), or a step()
    that raises on complex parameters, which a target may decline (DECLINABLE_KINDS; torch's
    fused=True takes none): then ``held`` with them ordinary. Said in the check's notes; any
    other failure is left to the checks to judge."""
    if (refusal := _refusal(ctx, hp, held, stepped=False)) is not None:
        if _refusal(ctx, hp, plain, stepped=False) is not None:
            return held
        fallback, what = plain, "these parameter kinds"
    else:
        layouts = tuple("plain" if x == "complex" else x for x in held.layouts)
        fallback, what = replace(held, layouts=layouts), "complex parameters"
        if fallback == held or (refusal := _refusal(ctx, hp, held, stepped=True)) is None:
            return held
        if _refusal(ctx, hp, fallback, stepped=True) is not None:
            return held
    note = f"{refusal}: cases whose keywords decline {what} hold ordinary ones"
    if note not in ctx.notes:
        ctx.notes.append(note)
    return fallback


def declines(ctx: Context, hp: Mapping[str, Any], problem: Problem) -> bool:
    """Whether ``hp`` declines a kind of the drawn ``problem`` (as ``_accepted`` tells it, and
    says so in the notes): for keywords beyond the case's own (a second group's fused=True)."""
    ordinary = replace(problem, layouts=(), dtypes=(), devices=())
    return problem != ordinary and _accepted(ctx, hp, problem, ordinary) != problem


def _refusal(ctx: Context, hp: Mapping[str, Any], p: Problem, stepped: bool) -> str | None:
    """What the target raises when built with ``hp`` on ``p``'s parameters (and, if
    ``stepped``, stepped once at zero), as a first line; None if nothing."""
    params0 = [np.zeros(s) for s in p.shapes]
    try:
        params = hold(ctx, p, params0)
        opt = ctx.target.make(params, hp)
        if stepped:
            set_grads(params, params0)
            opt.step()
    except Exception as exc:  # noqa: BLE001 - a refusal, weighed against ordinary parameters
        return first_line(exc)
    return None


# One contract case in CROWD_ODDS holds MANY_TENSORS tensors (as cross-validation draws them).
CROWD_ODDS = 6


@st.composite
def held_kinds(draw: st.DrawFn, ctx: Context, p: Problem, kinds: Sequence[str]) -> Problem:
    """``p`` with its tensors held as ``kinds`` have them: a layout kind gives a tensor the
    layout's own shape (a complex one its array's trailing 2), mixed-dtypes gives tensors
    the run's other dtype (strategies.OTHER_DTYPE), devices puts tensors on the other device
    (each in half the cases), and many-tensors (one case in CROWD_ODDS) adds ordinary tensors
    up to MANY_TENSORS, for at most 3 steps (the bucketing is what is tested). Each draw
    shrinks to the plain one."""
    lim = limits_of(ctx)
    shapes, steps = list(p.shapes), p.steps
    if "many-tensors" in kinds and draw(st.integers(1, CROWD_ODDS)) == CROWD_ODDS:
        n = draw(st.integers(*MANY_TENSORS))
        shapes += [fit_shape(lim, ORDINARY_SHAPE)] * (n - len(shapes))
        steps = min(steps, 3)
    choices = kind_choices(lim or Limits(), kinds, ctx.settings.dtype)
    layouts = [draw(st.sampled_from(choices)) for _ in shapes] if len(choices) > 1 else []
    for i, layout in enumerate(layouts):
        if layout == "complex":
            shapes[i] = (*shapes[i], 2)
        elif layout != "plain":
            shapes[i] = draw(st.sampled_from(LAYOUT_SHAPES[layout]))
    # Mixed dtypes and devices in half the cases: the other half keeps every tensor in the
    # run's dtype and on its device, as contract.dtype's bfloat16 cases need.
    dtypes: list[str | None] = []
    if "mixed-dtypes" in kinds and draw(st.booleans()):
        other = OTHER_DTYPE[ctx.settings.dtype]
        complex_ok = DTYPES[other] in COMPLEX
        dtypes = [
            None if layouts and layouts[i] == "complex" and not complex_ok else d
            for i, d in enumerate(draw(st.sampled_from((None, other))) for _ in shapes)
        ]
    devices: list[str | None] = []
    if "devices" in kinds and draw(st.booleans()):
        devices = [draw(st.sampled_from((None, other_device(ctx)))) for _ in shapes]
    return replace(
        p,
        shapes=tuple(shapes),
        steps=steps,
        layouts=tuple(layouts) if any(x != "plain" for x in layouts) else (),
        dtypes=tuple(dtypes) if any(dtypes) else (),
        devices=tuple(devices) if any(devices) else (),
    )


def other_device(ctx: Context) -> str | None:
    """The second device of a devices case: cuda beside cpu, cpu beside cuda; None without
    CUDA (no devices case is drawn). Tests without CUDA patch it to "cpu" to run the cases."""
    if torch.device(ctx.settings.device).type == "cuda":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


# --- driving the target -------------------------------------------------------------------


def torch_dtype(ctx: Context) -> torch.dtype:
    return DTYPES[ctx.settings.dtype]


def hold(
    ctx: Context,
    problem: Problem,
    params0: Sequence[np.ndarray],
    dtype: torch.dtype | None = None,
    part: slice = slice(None),
) -> list[torch.nn.Parameter]:
    """The case's parameters (``part``: those tensors only), each held in the layout, dtype
    and device drawn for it (``Problem.held``); ``dtype``: the run's, unless given."""
    dtype = dtype or torch_dtype(ctx)
    kinds = _per_tensor(problem, dtype, part)
    return make_params(list(params0)[part], dtype, ctx.settings.device, **kinds)


def _per_tensor(problem: Problem, dtype: torch.dtype, part: slice) -> dict[str, Any]:
    """harness.make_params' per-tensor keywords for ``part`` of the problem."""
    held = problem.held(dtype)
    return {
        "layouts": held["layouts"][part],
        "dtypes": [DTYPES[d] if d else None for d in held["dtypes"][part]],
        "devices": held["devices"][part],
    }


def run_held(
    ctx: Context,
    make_opt: MakeOptimizer,
    problem: Problem,
    params0: Sequence[np.ndarray],
    grads: Grads,
    lrs: Sequence[float] | None = None,
    part: slice = slice(None),
) -> Trajectory:
    """harness.run_torch on the case's parameters as ``hold`` holds them (``part``: those
    tensors and their gradients only)."""
    dtype = torch_dtype(ctx)
    return run_torch(
        make_opt,
        list(params0)[part],
        [list(gs)[part] for gs in grads],
        dtype=dtype,
        device=ctx.settings.device,
        lrs=lrs,
        **_per_tensor(problem, dtype, part),
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def build(ctx: Context, params: Any, hp: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Construct the target; a raising constructor or a non-Optimizer is the target's fault."""
    try:
        opt = ctx.target.make(params, hp)
    except (Violation, NotApplicable):
        raise
    except Exception as exc:  # noqa: BLE001 - any constructor failure is reported as such
        raise Violation(Evidence(f"constructor raised {first_line(exc)}")) from exc
    if not isinstance(opt, torch.optim.Optimizer):
        raise Violation(
            Evidence(
                f"{ctx.target.label} built a {type(opt).__module__}.{type(opt).__qualname__}, "
                "not a torch.optim.Optimizer (no param_groups/state_dict contract)"
            )
        )
    return opt


def maker(ctx: Context, hp: Mapping[str, Any]) -> MakeOptimizer:
    return lambda params: build(ctx, params, hp)


def drive(
    opt: torch.optim.Optimizer,
    params: Sequence[torch.nn.Parameter],
    grads: Grads,
    steps: range,
    lrs: Sequence[float] | None = None,
) -> Trajectory:
    """Steps ``steps`` (0-based indices into ``grads``) of a run already under way."""
    out = []
    for k in steps:
        if lrs is not None:
            set_lr(opt, float(lrs[k]))
        set_grads(params, grads[k])
        opt.step()
        out.append([to_numpy(p) for p in params])
    return out


def ensure_limits(ctx: Context) -> None:
    """Without a record, whether step() rejects a dense gradient but takes a sparse one (torch's
    SparseAdam): probed once per run by the first contract check, inside its time limit. Then
    every later case hands the target sparse COO gradients (Settings.limits), and a check the
    limit rules out (contract.closure: a dense loss) says why."""
    s = ctx.settings
    if record_of(ctx) is None and not s.limits_probed:
        s.limits_probed = True
        lim = s.limits or Limits()
        shape = fit_shape(lim, (3,))

        def attempt(sparse: bool) -> str | None:
            try:
                param = make_params([np.ones(shape)], torch_dtype(ctx), ctx.settings.device)[0]
                opt = ctx.target.make([param], default_hp(ctx))
                grad = torch.full(shape, 0.5, dtype=param.dtype, device=param.device)
                param.grad = grad.to_sparse() if sparse else grad
                opt.step()
            except Exception as exc:  # noqa: BLE001 - what the target raises is the evidence
                return first_line(exc)
            return None

        dense = attempt(False)
        if dense is not None and attempt(True) is None:
            s.limits = replace(lim, sparse_grads=True)
            s.sparse_because = dense
    lim = limits_of(ctx)
    if lim is not None and lim.sparse_grads:
        sparse_from_now()
        note = (
            f"sparse COO gradients: step() rejects a dense one ({s.sparse_because}) and takes "
            "a sparse one"
        )
        if record_of(ctx) is None and note not in ctx.notes:
            ctx.notes.append(note)
        if ctx.check is not None and (why := lim.not_applicable(ctx.check.id)):
            raise NotApplicable(why)


def preflight(ctx: Context, hp: Mapping[str, Any] | None = None) -> torch.optim.Optimizer:
    """One construction before drawing cases, so a broken target fails with one clear message
    instead of a shrinking run over cases that all fail the same way."""
    ensure_limits(ctx)
    params = make_params(
        [np.zeros(fit_shape(limits_of(ctx), (2,)))], torch_dtype(ctx), ctx.settings.device
    )
    opt = build(ctx, params, default_hp(ctx) if hp is None else hp)
    if _requires_closure(opt):
        raise NotApplicable(
            f"{type(opt).__qualname__}.{REQUIRES_CLOSURE}: the generic contract sets .grad and "
            "calls step() with none (a record that declares the closure can: --like)"
        )
    if not with_graph(ctx) and (needs := _second_order_refusal(ctx, hp)) is not None:
        raise NotApplicable(
            f"step() needs gradients with a graph (loss.backward(create_graph=True), as "
            f"Hessian-trace optimizers such as Adahessian do): {needs}; the checks feed fixed "
            "gradients, which have none unless --create-graph is given"
        )
    return opt


def _second_order_refusal(ctx: Context, hp: Mapping[str, Any] | None) -> str | None:
    """The first line of step()'s refusal when the gradient has no autograd graph (Adahessian
    computes Hessian-vector products from p.grad), else None: any other outcome is left to
    the checks."""
    params = make_params(
        [np.ones(fit_shape(limits_of(ctx), (2,)))], torch_dtype(ctx), ctx.settings.device
    )
    opt = build(ctx, params, default_hp(ctx) if hp is None else hp)
    for p in params:
        p.grad = torch.ones_like(p)
    try:
        opt.step()
    except Exception as exc:  # noqa: BLE001 - only the create_graph refusal is judged here
        if "create_graph" in str(exc):
            return first_line(exc)
    return None


@dataclass(frozen=True)
class KindCrash:
    """The target raised on a parameter of ``kind`` where an ordinary one steps."""

    kind: str
    message: str  # the exception's first line
    params0: list[np.ndarray]
    grads: list[list[np.ndarray]]
    layouts: tuple[str, ...] = ()
    dtypes: tuple[str | None, ...] = ()
    devices: tuple[str | None, ...] = ()
    # A crash of kinds held together, each of which steps alone: the minimal set (``kind`` is
    # the one of them the other checks leave out, ``left_out``).
    combination: tuple[str, ...] = ()


KIND_PROBE_STEPS = 2  # state is made at the first step and read at the second


def wanted(ctx: Context, kind: str) -> bool:
    """Whether the run draws ``kind`` at all (--shapes, Settings.kinds)."""
    return ctx.settings.kinds is None or kind in ctx.settings.kinds


ProbeLayout = tuple[list[tuple[int, ...]], list[str], list[str | None], list[str | None]]


def _probe_layout(ctx: Context, kind: str) -> ProbeLayout:
    """(array shapes, layouts, dtype names, devices) of the probe of ``kind``: a tensor of
    the kind beside an ordinary one (for many-tensors, MANY_TENSORS ordinary ones)."""
    lim = limits_of(ctx)
    ordinary = fit_shape(lim, ORDINARY_SHAPE)
    if kind in PARAM_KINDS:
        return [fit_shape(lim, PARAM_KINDS[kind]), ordinary], [], [], []
    if kind in KIND_LAYOUT:
        layout = KIND_LAYOUT[kind]
        shape = (*ORDINARY_SHAPE, 2) if layout == "complex" else LAYOUT_SHAPES[layout][0]
        return [shape, ordinary], [layout, "plain"], [], []
    if kind == "mixed-dtypes":
        return [ordinary, ordinary], [], [None, OTHER_DTYPE[ctx.settings.dtype]], []
    if kind == "devices":
        return [ordinary, ordinary], [], [], [None, other_device(ctx)]
    return [ordinary] * MANY_TENSORS[1], [], [], []


def probed_kinds(ctx: Context) -> list[str]:
    """The kinds (kinds.PARAM_KINDS, less those --shapes leaves out) a run can draw: a
    record stepping another rank (Muon: matrices) has its shapes fitted, and a 0-d tensor
    fitted to a matrix is no longer 0-d; a layout needs a shape of a rank the target steps
    (strategies.kind_choices)."""
    lim = limits_of(ctx)
    layouts = kind_choices(lim or Limits(), tuple(KIND_LAYOUT), ctx.settings.dtype)
    out = _shape_kinds(lim)
    out += [k for k, layout in KIND_LAYOUT.items() if layout in layouts]
    out += ["mixed-dtypes", "many-tensors"]
    if other_device(ctx) is not None:  # a second device to put parameters on
        out.append("devices")
    return [k for k in out if wanted(ctx, k)]


def _probe(
    ctx: Context,
    params0: list[np.ndarray],
    grads: list[list[np.ndarray]],
    layouts: Sequence[str] = (),
    dtypes: Sequence[str | None] = (),
    devices: Sequence[str | None] = (),
) -> tuple[str, list[np.ndarray], list[np.ndarray]]:
    """Build the target (default keywords) and step it KIND_PROBE_STEPS times: (the exception's
    first line or "", the values it started from, where it ended)."""
    torch_dtypes = [DTYPES[d] if d else None for d in dtypes]
    try:
        params = make_params(
            params0, torch_dtype(ctx), ctx.settings.device, layouts, torch_dtypes, devices
        )
        start = [to_numpy(p) for p in params]
        opt = ctx.target.make(params, default_hp(ctx))
        end = drive(opt, params, grads, range(KIND_PROBE_STEPS))[-1]
    except Exception as exc:  # noqa: BLE001 - what the target raises is the finding
        return first_line(exc), [], []
    return "", start, end


def kind_crashes(ctx: Context) -> list[KindCrash]:
    """Build the target (default keywords) on [a tensor of the kind, an ordinary one] and step
    it: the kinds on which it raises, leaving out those a record cannot take (its shapes are
    fitted to another rank). When an ordinary tensor alone fails too, the crash is tied to no
    kind: the one KindCrash is of kind "ordinary" (and every check meets it)."""
    rng = np.random.default_rng(0)

    def attempt(
        shapes: list[tuple[int, ...]], layouts: list[str], dtypes: list, devices: list
    ) -> KindCrash:
        params0 = [rng.uniform(-1.0, 1.0, size=s) for s in shapes]
        grads = [[rng.uniform(-1.0, 1.0, size=s) for s in shapes] for _ in range(KIND_PROBE_STEPS)]
        message = _probe(ctx, params0, grads, layouts, dtypes, devices)[0]
        held = (tuple(layouts), tuple(dtypes), tuple(devices))
        return KindCrash("", message, params0, grads, *held)

    ordinary = attempt([fit_shape(limits_of(ctx), ORDINARY_SHAPE)], [], [], [])
    if ordinary.message:
        return [replace(ordinary, kind="ordinary")]
    crashes = []
    for kind in probed_kinds(ctx):
        crash = attempt(*_probe_layout(ctx, kind))
        if crash.message:
            crashes.append(replace(crash, kind=kind))
    return crashes


# How a finding names a kind held beside others (contract.param_kinds' message, the notes);
# every kind of kinds.PARAM_KINDS.
KIND_PHRASES = {
    "0-d": "0-d parameters",
    "zero-size": "zero-size parameters",
    "non-contiguous": "transposed parameters",
    "channels-last": "channels_last parameters",
    "complex": "complex parameters",
    "mixed-dtypes": "mixed dtypes",
    "many-tensors": "many tensors in a group",
    "devices": "parameters on two devices",
}


def _combined_layout(ctx: Context, kinds: Sequence[str]) -> ProbeLayout:
    """The probe of ``kinds`` held together as the drawn cases combine them: a tensor of each
    form (ordinary, and each shape or layout kind's, as ``_probe_layout``) in every dtype and
    on every device the kinds allow (mixed-dtypes gives any tensor, a 0-d one included, the
    run's other dtype; a complex one only where that dtype has a complex kind), then, with
    many-tensors, ordinary tensors up to MANY_TENSORS."""
    ordinary = fit_shape(limits_of(ctx), ORDINARY_SHAPE)
    forms = [(ordinary, "plain")]
    for kind in kinds:
        if kind in PARAM_KINDS or kind in KIND_LAYOUT:
            shapes, layouts, _, _ = _probe_layout(ctx, kind)
            forms.append((shapes[0], layouts[0] if layouts else "plain"))
    dtypes = [None, OTHER_DTYPE[ctx.settings.dtype]] if "mixed-dtypes" in kinds else [None]
    devices = [None, other_device(ctx)] if "devices" in kinds else [None]
    held = [
        (shape, layout, dtype, device)
        for shape, layout in forms
        for dtype in dtypes
        for device in devices
        if not (layout == "complex" and dtype and DTYPES[dtype] not in COMPLEX)
    ]
    if "many-tensors" in kinds:
        held += [(ordinary, "plain", None, None)] * max(0, MANY_TENSORS[1] - len(held))
    shapes, layouts, dtype_names, device_names = (list(x) for x in zip(*held, strict=True))
    return shapes, layouts, dtype_names, device_names


def left_out(combination: Sequence[str]) -> str:
    """The kind of a crashing combination the other checks leave out: the last in
    kinds.PARAM_KINDS' order, where a group's arrangements (dtypes, count, devices) come after
    a tensor's own forms, so every form stays drawn (timm's Lamb: 0-d tensors stay, mixed
    dtypes go)."""
    return max(combination, key=list(ALL_KINDS).index)


def kind_combinations(
    ctx: Context, kinds: Sequence[str]
) -> tuple[list[KindCrash], tuple[str, ...]]:
    """Crashes of ``kinds`` (each of which steps alone) held together (``_combined_layout``):
    probe them all at once; if step() raises, drop kinds one at a time while it still raises,
    report that minimal set and leave one of it out (``left_out``); repeat with the rest until
    the probe steps (at most one round per kind). One probe when nothing raises. Also returns
    the kinds of the probe that stepped if every element of it follows its gradient (ends
    elsewhere under −g, one more probe; else none): those need no probe of their own for a
    kind that never moves with its gradient (``kind_stalls``)."""

    def attempt(subset: Sequence[str]) -> tuple[KindCrash, list[np.ndarray]]:
        rng = np.random.default_rng(3)
        shapes, layouts, dtypes, devices = _combined_layout(ctx, subset)
        params0 = [rng.uniform(-1.0, 1.0, size=s) for s in shapes]
        grads = [[rng.uniform(-1.0, 1.0, size=s) for s in shapes] for _ in range(KIND_PROBE_STEPS)]
        message, _, end = _probe(ctx, params0, grads, layouts, dtypes, devices)
        held = (tuple(layouts), tuple(dtypes), tuple(devices))
        return KindCrash("", message, params0, grads, *held, combination=tuple(subset)), end

    def responds(probe: KindCrash, end: list[np.ndarray]) -> bool:
        """Whether every element ends elsewhere under −g (kind_stalls' criterion)."""
        flipped = [[-g for g in gs] for gs in probe.grads]
        held = (probe.layouts, probe.dtypes, probe.devices)
        message, _, end_flipped = _probe(ctx, probe.params0, flipped, *held)
        return not message and all(np.all(a != b) for a, b in zip(end, end_flipped, strict=True))

    left, out = list(kinds), []
    for _ in range(len(kinds) + 1):
        crash, end = attempt(left)
        if not crash.message:
            return out, tuple(left) if responds(crash, end) else ()
        if not left:
            break  # ordinary tensors alone raise: tied to no kind, the checks meet it
        for kind in list(crash.combination):
            if len(crash.combination) > 1:
                smaller = attempt([k for k in crash.combination if k != kind])[0]
                crash = smaller if smaller.message else crash
        out.append(replace(crash, kind=left_out(crash.combination)))
        left.remove(out[-1].kind)
    return out, ()


def combination_message(crash: KindCrash) -> str:
    """contract.param_kinds' words for a crashing combination."""
    first, *rest = (KIND_PHRASES[k] for k in crash.combination)
    held = f"{first} beside {' and '.join(rest)}" if rest else f"{first} beside others"
    return (
        f"step() raises on {held} ({crash.message}) where each alone steps: the other checks "
        f"draw no {crash.kind} parameters"
    )


@dataclass(frozen=True)
class KindFindings:
    """What the kind probe found: kinds step() raises on alone (``crashes``; one of kind
    "ordinary" when an ordinary tensor raises too), kinds the target declines (``declined``:
    DECLINABLE_KINDS it raises on, or steps by another rule), crashing combinations of kinds
    that step alone, and kinds whose tensors never move (``stalls``)."""

    crashes: list[KindCrash]
    declined: list[KindCrash]
    combinations: list[KindCrash]
    stalls: list[KindCrash]

    @property
    def skipped(self) -> tuple[str, ...]:
        """The kinds no check draws (Settings.skip_kinds)."""
        found = (*self.crashes, *self.declined, *self.combinations)
        return tuple(dict.fromkeys(c.kind for c in found if c.kind != "ordinary"))

    def remember(self, s: Settings) -> None:
        """Keep the run's verdicts (what a test or caller fixed beforehand stays)."""
        if s.skip_kinds is None:
            s.skip_kinds = self.skipped
            s.kind_combos = tuple(c.combination for c in self.combinations)
        if s.stall_kinds is None:
            s.stall_kinds = tuple(c.kind for c in self.stalls)


def kind_findings(ctx: Context) -> KindFindings:
    """Probe every kind the run draws (default keywords, fixed seeds: the same whoever asks).
    A kind that never moves with its gradient is looked for in the kinds that do not raise
    alone (a complex part that never moves is a finding, whatever rule moves the rest), on its
    own probe unless every element of the probe of the kinds together followed its gradient."""
    crashes = kind_crashes(ctx)
    declined = [c for c in crashes if c.kind in DECLINABLE_KINDS]
    crashes = [c for c in crashes if c.kind not in DECLINABLE_KINDS]
    raised = {c.kind for c in (*crashes, *declined)}
    kinds = probed_kinds(ctx)
    if "complex" in kinds and "complex" not in raised and (rule := complex_rule(ctx)):
        declined.append(KindCrash("complex", rule, [], []))
    combinations: list[KindCrash] = []
    moving: tuple[str, ...] = ()
    if not any(c.kind == "ordinary" for c in crashes):
        stepping = [k for k in kinds if k not in {c.kind for c in declined} | raised]
        combinations, moving = kind_combinations(ctx, stepping)
    stalls = kind_stalls(ctx, [k for k in kinds if k not in raised and k not in moving])
    return KindFindings(crashes, declined, combinations, stalls)


# Kinds whose tensors must follow their gradient wherever the same values held as one ordinary
# tensor do: a write into a copy (p.reshape(-1) of a transposed tensor), a complex tensor's real
# part alone (or its update cast to real: the imaginary part then moves by decay only), a
# foreach chunk dropped. Judged by "responds at all", never by value: without a reference,
# the arithmetic of two layouts may differ in rounding.
STALL_KINDS = ("non-contiguous", "channels-last", "complex", "many-tensors")


def kind_stalls(ctx: Context, kinds: Sequence[str]) -> list[KindCrash]:
    """The ``kinds`` (of STALL_KINDS) whose probe ends in the same place under the gradients
    g and −g (the elements never move with their gradient: frozen, or moved by decay alone)
    where the same values alone, in an ordinary tensor, end apart; ``message`` says which."""
    rng = np.random.default_rng(1)
    out = []
    for kind in (k for k in STALL_KINDS if k in kinds):
        shapes, layouts, dtypes, devices = _probe_layout(ctx, kind)
        params0 = [rng.uniform(-1.0, 1.0, size=s) for s in shapes]
        grads = [[rng.uniform(-1.0, 1.0, size=s) for s in shapes] for _ in range(KIND_PROBE_STEPS)]
        flipped = [[-g for g in gs] for gs in grads]
        message, _, end = _probe(ctx, params0, grads, layouts, dtypes, devices)
        message_flipped, _, end_flipped = _probe(ctx, params0, flipped, layouts, dtypes, devices)
        if message or message_flipped:
            continue  # a crash: kind_crashes tells it
        for i, (a, b) in enumerate(zip(end, end_flipped, strict=True)):
            deaf = a == b
            if not deaf.any():
                continue
            alone = _probe(ctx, [params0[i]], [[g[i]] for g in grads])
            alone_flipped = _probe(ctx, [params0[i]], [[g[i]] for g in flipped])
            if alone[0] or alone_flipped[0]:
                continue
            stalled = int(np.sum(deaf & (alone[2][0] != alone_flipped[2][0])))
            if stalled:
                what = f"tensor {i}" if kind == "many-tensors" else f"the {layouts[i]} tensor"
                message = (
                    f"{what} of a {kind} probe: {stalled} of {a.size} elements never move with "
                    "their gradient (the same end under g and −g), where the same values in an "
                    "ordinary tensor of their own do"
                )
                out.append(KindCrash(kind, message, params0, grads, tuple(layouts), ()))
                break
    return out


def complex_rule(ctx: Context) -> str | None:
    """Whether the target steps a complex parameter exactly as its view_as_real held as a real
    tensor (torch's rule: torch.optim steps the view, so the two runs are the same arithmetic
    on the same values): None if so, else what differs."""
    rng = np.random.default_rng(2)
    shape = (*ORDINARY_SHAPE, 2)
    params0 = [rng.uniform(-1.0, 1.0, size=shape)]
    grads = [[rng.uniform(-1.0, 1.0, size=shape)] for _ in range(KIND_PROBE_STEPS)]
    as_complex = _probe(ctx, params0, grads, ["complex"])
    as_real = _probe(ctx, params0, grads)
    if as_complex[0] or as_real[0]:
        return None  # a crash: kind_crashes tells it
    start, got, real = as_real[1][0], as_complex[2][0], as_real[2][0]
    if not _other_rule(start, got - start, real - start, torch.finfo(torch_dtype(ctx)).eps):
        return None
    return (
        f"steps a complex parameter unlike its view_as_real (torch's rule): after "
        f"{KIND_PROBE_STEPS} steps {as_complex[2][0].tolist()} where the real view reaches "
        f"{as_real[2][0].tolist()}"
    )


def _other_rule(start: np.ndarray, moved: np.ndarray, expected: np.ndarray, eps: float) -> bool:
    """Whether a displacement differs from the expected one by rule, not by rounding: by more
    than 64 ulps of the values somewhere. torch's own SGD steps a complex tensor and its real
    view an ulp apart (an FMA in one kernel and not the other); no rule differs that little."""
    gap = np.abs(moved - expected)
    return bool(np.any(gap > 64 * eps * (np.abs(start) + np.abs(moved) + np.abs(expected))))


def skipped_kinds(ctx: Context) -> tuple[str, ...]:
    """The kinds no check of the run draws (Settings.skip_kinds): those step() raises on, alone
    or held with others (one kind of each crashing combination), and those the target
    declines. Probed once per run by whichever check asks first (``kind_findings``, the same
    whoever asks)."""
    if ctx.settings.skip_kinds is None:
        kind_findings(ctx).remember(ctx.settings)
    assert ctx.settings.skip_kinds is not None
    return ctx.settings.skip_kinds


def stalled_kinds(ctx: Context) -> tuple[str, ...]:
    """The kinds whose tensors never move (Settings.stall_kinds, probed with skipped_kinds):
    the contract's cases draw none, as contract.param_kinds reports them; cross-validation,
    which measures each tensor against the reference, still draws them."""
    if ctx.settings.stall_kinds is None:
        kind_findings(ctx).remember(ctx.settings)
    assert ctx.settings.stall_kinds is not None
    return ctx.settings.stall_kinds


def drawn_kinds(ctx: Context, contract: bool = False) -> tuple[str, ...]:
    """The kinds a check draws (cross-validation's, or with ``contract`` the contract's and
    interplay's): the run's (--shapes) less those the target declines or raises on, alone or
    in combination, for every check, and with ``contract`` less those it never moves. The rule
    is the same in any order of checks; the check's notes say which were left out and why."""
    skip = skipped_kinds(ctx)
    combos = {left_out(c): c for c in ctx.settings.kind_combos or ()}
    stalls = [k for k in stalled_kinds(ctx) if k not in skip] if contract else []
    declined = [k for k in skip if k in DECLINABLE_KINDS and k not in combos]
    crashed = [k for k in skip if k not in DECLINABLE_KINDS and k not in combos]
    for kinds, why in (
        (declined, "the target declines them (contract.param_kinds says how)"),
        (crashed, "step() raises on them (contract.param_kinds)"),
        (stalls, "step() never moves them (contract.param_kinds)"),
    ):
        if kinds:
            ctx.notes.append(f"no {' or '.join(kinds)} parameters drawn: {why}")
    for kind, combination in combos.items():
        beside = " and ".join(KIND_PHRASES[k] for k in combination if k != kind) or "others"
        ctx.notes.append(
            f"no {kind} parameters drawn: step() raises on them beside {beside}, where each "
            "alone steps (contract.param_kinds)"
        )
    if "devices" in (ctx.settings.kinds or ()) and other_device(ctx) is None:
        ctx.notes.append("no devices parameters drawn: no second device here (CUDA)")
    return tuple(k for k in probed_kinds(ctx) if k not in (*skip, *stalls))


def _shape_kinds(lim: Limits | None) -> list[str]:
    """The PARAM_KINDS a target of these limits can hold: a 0-d tensor fitted to a matrix
    (Muon) is no longer 0-d."""
    return [k for k, shape in PARAM_KINDS.items() if kind_of(fit_shape(lim, shape)) == k]


def shape_kinds_left_out(ctx: Context) -> frozenset[str]:
    """The shape kinds (PARAM_KINDS: 0-d, zero-size) the run could draw but leaves out of
    every check's cases, the algorithms' and cross-validation's (strategies.cases) as the
    contract's: those --shapes leaves out, and those step() raises on (one finding,
    contract.param_kinds; the kinds' probe runs only where one is wanted)."""
    possible = _shape_kinds(limits_of(ctx))
    left = {k for k in possible if not wanted(ctx, k)}
    if any(k not in left for k in possible):
        left |= {k for k in possible if k in skipped_kinds(ctx)}
    return frozenset(left)


# The skip reason's words that tell a front end the contract could not drive step() at all.
REQUIRES_CLOSURE = "step() requires a closure"


def _requires_closure(opt: torch.optim.Optimizer) -> bool:
    try:
        parameters = inspect.signature(opt.step).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )


def same(a: Any, b: Any) -> bool:
    """Exact equality: arrays and tensors by value (NaN equals NaN), anything else by ==."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and same(to_numpy(a), to_numpy(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
        except TypeError:
            return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without a usable == are compared by identity
        return a is b


def state_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, Any]:
    """A copy of one tensor's state; ``opt.state`` is a defaultdict, so never index it."""
    entry = opt.state.get(p) or {}
    return {
        k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
        for k, v in entry.items()
    }


def first_difference(
    expected: Trajectory, got: Trajectory, first_step: int = 0
) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """(1-based step, tensor, expected, got) of the first unequal tensor, else None."""
    for k, (e_step, g_step) in enumerate(zip(expected, got, strict=True)):
        for i, (e, g) in enumerate(zip(e_step, g_step, strict=True)):
            if not same(e, g):
                return first_step + k + 1, i, e, g
    return None


def fail(
    message: str,
    *,
    step: int | None = None,
    expected: Any = None,
    got: Any = None,
    snippet: str | None = None,
) -> Violation:
    def plain(v: Any) -> Any:
        return v.tolist() if hasattr(v, "tolist") else v

    return Violation(Evidence(message, None, step, plain(expected), plain(got), snippet=snippet))


def expect_same(
    expected: Trajectory,
    got: Trajectory,
    message: str,
    snippet: Callable[[], str] | None = None,
    first_step: int = 0,
) -> None:
    diff = first_difference(expected, got, first_step)
    if diff is not None:
        step, i, e, g = diff
        raise fail(
            f"{message} (step {step}, tensor {i})",
            step=step,
            expected=e,
            got=g,
            snippet=snippet() if snippet else None,
        )


def reference_trajectory(
    ctx: Context,
    hp: Mapping[str, Any],
    params0: Sequence[np.ndarray],
    grads: Grads,
    lrs: Sequence[float] | None = None,
) -> Trajectory | None:
    """The reference's run on the case (None without a spec): decides where a property holds."""
    spec = record_of(ctx)
    if spec is None:
        return None
    with reference_side():
        return reference_run(ctx.reference, params0, grads, {**spec.defaults, **hp}, lrs=lrs)


def initial_values(
    ctx: Context, problem: Problem, params0: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """The target's starting point: params0 rounded to each tensor's dtype."""
    return [to_numpy(p) for p in hold(ctx, problem, params0)]


def frozen(start: Sequence[np.ndarray], traj: Trajectory, step: int, i: int) -> bool:
    """Whether tensor i is exactly where it was before ``step`` (0-based); ``start`` is where
    the run began (params0 for the float64 reference, initial_values for the target)."""
    before = start[i] if step == 0 else traj[step - 1][i]
    return same(before, traj[step][i])


# --- standalone reproductions -------------------------------------------------------------


def snippet(
    ctx: Context,
    hp: Mapping[str, Any],
    params0: Sequence[np.ndarray],
    grads: Grads,
    body: str,
    dtype: str | None = None,
    layouts: Sequence[str] = (),
    dtypes: Sequence[str | None] = (),
    devices: Sequence[str | None] = (),
) -> str:
    """Python (torch alone plus the target's import) that replays the case and asserts the
    contract; ``body`` uses make_params(), make(params, **hp) and run(opt, params, steps).
    ``layouts``, ``dtypes`` and ``devices``: per tensor, as harness.make_params
    (``PARAM_SOURCE``; a case's are ``Problem.held``)."""
    target = ctx.target
    if target.import_path:
        module, _, attr = target.import_path.partition(":")
        head, *rest = attr.split(".")
        factory = f"from {module} import {head}\n\nfactory = {'.'.join([head, *rest])}"
    else:
        factory = f"factory = None  # the factory of {target.label!r}: factory(params, **hp)"
    grads_lists = [[None if g is None else np.asarray(g).tolist() for g in gs] for gs in grads]
    return f'''"""Reproduces optcheck {ctx.check_id} on {target.label} (generated)."""
import copy
import io

import torch
{factory}

HP = {dict(hp)!r}
FIXED = {dict(target.fixed)!r}
DTYPE, DEVICE = torch.{dtype or ctx.settings.dtype}, {ctx.settings.device!r}
PARAMS0 = {[np.asarray(p).tolist() for p in params0]!r}
# GRADS[k][i]: the gradient of tensor i at step k + 1 (None: no gradient).
GRADS = {grads_lists!r}
{param_source(layouts, dtypes, devices)}

SETUP = {list(getattr(target, "setup", ()))!r}  # methods called on the optimizer once built
CLOSURE_STEP = {bool(getattr(target, "closure_step", False))!r}  # step() requires a closure


def make(params, **hp):
    opt = factory(params, **{{**HP, **hp, **FIXED}})
    for name in SETUP:
        getattr(opt, name)()
    if CLOSURE_STEP:  # a closure that leaves the gradients set; a subclass survives deepcopy
        cls = type(opt)
        step = lambda self, closure=None: cls.step(self, closure or (lambda: None))
        opt.__class__ = type(cls.__name__, (cls,), {{"step": step}})
    return opt


def run(opt, params, steps, grads=GRADS, lrs=None):
    out = []
    for k in steps:
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[k]
        for p, g in zip(params, grads[k]):
            p.grad = None if g is None else as_grad(p, g)
        opt.step()
        out.append([p.detach().clone() for p in params])
    return out


{body.strip()}
'''


def param_source(
    layouts: Sequence[str], dtypes: Sequence[str | None], devices: Sequence[str | None] = ()
) -> str:
    """Snippet source defining make_params() (from PARAMS0, DTYPE, DEVICE), as_grad(p, g)
    and real(p): tensor i in layout LAYOUTS[i], dtype DTYPES[i] and on DEVICES[i] as
    harness.make_params holds it, a gradient laid out as its parameter (autograd's layout),
    or inside graph_gradients with harness.graph_loss's graph (GRAPH; loss_of(p, g) is that
    loss), a complex tensor's view_as_real."""
    names = ", ".join(f"torch.{d}" if d else "None" for d in dtypes)
    return PARAM_SOURCE.format(
        layouts=list(layouts), dtypes=f"[{names}]", devices=list(devices), graph=graph_on()
    )


PARAM_SOURCE = """LAYOUTS = {layouts}
DTYPES = {dtypes}  # None: DTYPE
DEVICES = {devices}  # None: DEVICE


def make_params():
    out = []
    for i, p in enumerate(PARAMS0):
        layout = LAYOUTS[i] if i < len(LAYOUTS) else "plain"
        dtype = (DTYPES[i] if i < len(DTYPES) else None) or DTYPE
        device = (DEVICES[i] if i < len(DEVICES) else None) or DEVICE
        t = torch.tensor(p, dtype=dtype, device=device)
        if layout == "transposed":
            t = t.t().contiguous().t()
        elif layout == "channels-last":
            t = t.contiguous(memory_format=torch.channels_last)
        elif layout == "complex":  # PARAMS0[i] is the view_as_real of the complex tensor
            t = torch.complex(t[..., 0], t[..., 1])
        out.append(torch.nn.Parameter(t))
    return out


def real(t):
    return torch.view_as_real(t) if t.is_complex() else t


GRAPH = {graph}  # --create-graph: gradients carry a graph (the loss below), as Adahessian needs


def hessian(shape):  # as reference/hessian.py: 0.5, -1, 1.5, -2, repeating
    j = torch.arange(torch.Size(shape).numel(), dtype=torch.float64)
    return ((1 + j % 4) / 2 * (1 - 2 * (j % 2))).reshape(shape)


def loss_of(p, g):
    # sum(g * theta), with GRAPH plus sum(h * (theta - theta0) ** 2) / 2 at theta0 = theta:
    # gradient g exactly, Hessian diag(h)
    x = torch.view_as_real(p) if p.is_complex() else p
    loss = (torch.tensor(g, dtype=x.dtype, device=p.device) * x).sum()
    if GRAPH:
        d = x - x.detach()
        loss = loss + 0.5 * (hessian(x.shape).to(x) * d * d).sum()
    return loss


def as_grad(p, g):
    if GRAPH:
        with torch.enable_grad():
            return torch.autograd.grad(loss_of(p, g), p, create_graph=True)[0]
    grad = torch.empty_like(p)
    real(grad).copy_(torch.tensor(g, dtype=real(grad).dtype, device=p.device))
    return grad
"""

_COMPARE = """
for k, (e_step, g_step) in enumerate(zip(expected, got)):
    for i, (e, g) in enumerate(zip(e_step, g_step)):
        assert torch.equal(e, g), f"step {{k + 1 + {offset}}}, tensor {{i}}: {{e}} != {{g}}"
"""


def compare_lines(expected: str, got: str, offset: int = 0) -> str:
    return f"expected, got = {expected}, {got}\n" + _COMPARE.format(offset=offset)
