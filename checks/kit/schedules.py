"""The kit for learning-rate schedules: torch's schedulers and the closed forms as targets,
drawn cases, the driver, the round-off model the comparisons use, and the evidence snippets.

The target is a black box ``factory(optimizer, **params) -> LRScheduler``: the driver builds SGD
on one float64 parameter with a drawn base lr, constructs the scheduler, and runs the
documented loop (``optimizer.step()`` then ``scheduler.step()``), reading ``group['lr']`` (and
``group['momentum']`` where the spec cycles it) after construction and after every
``scheduler.step()``: ``trace.lr[t]`` is the lr after t scheduler steps, the one the optimizer
applies at its (t+1)-th step. The loop also measures the lr the optimizer really applied (the
parameter is reset to 0 before each step and the gradient is 1, so the step is
-lr * momentum_buffer exactly).

Error model (``RoundOff``): one evaluation of a schedule is a handful of flops on quantities
of size |lr| or of the schedule's scale (eta_min, max_lr: affine floors), each rounding by at
most eps relative; an implementation may be recursive (torch's chainable get_lr multiplies
the current lr every step), which repeats that per step and adds up to first order. And an
implementation may locate t within the schedule in floating point (t / T, the fraction of a
cycle 1 + t/total - cycle in torch's CyclicLR): that position is off by up to eps (t + P)
steps (P the period), which moves the lr by the steepest per-step change times that. So

    |got - exact| <= ROUNDOFF_OPS * eps * [(t + 1)(|exact| + scale) + (t + 1 + P) slope].

The scale term covers torch's naive 1 + cos(x) near a trough (eps absolute, i.e. eps * scale);
the slope term torch's CyclicLR with step_size_up << step_size_down, where x / step_ratio
amplifies the cancellation in 1 + t/total - cycle by total / step_size_up. Ratios between
consecutive values (step drops) need only the per-step part.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from optcheck.checks.kit.registry import Context, NotApplicable, Violation, run_property
from optcheck.checks.kit.strategies import dimension, hyperparams, real
from optcheck.checks.records import ScheduleSpec
from optcheck.checks.result import CheckResult, Evidence
from optcheck.checks.target import ScheduleTarget
from optcheck.reference.space import Children, Int, IntList, Real

EPS = float(np.finfo(np.float64).eps)
# Flops per evaluation of a schedule, each rounding by at most eps (see the module note).
ROUNDOFF_OPS = 8
# Largest integer parameter (T_max, step_size, total_iters, ...) the invariant checks draw.
CAP = 128
MIN_STEPS, MAX_STEPS = 40, 1000
# The optimizer's lr before the scheduler touches it (base_lr for most schedules).
BASE_LR = Real("base_lr", 1e-4, 10.0, 0.1, log=True, special=(0.1, 1.0))


# --- torch's schedulers as targets ----------------------------------------------------------


def schedule_record(name: str) -> ScheduleSpec:
    """The catalog's record ``name``, looked up when used: the records import the checks,
    which import this kit."""
    from optcheck.checks.catalog import SCHEDULES

    return SCHEDULES[name]


def torch_class(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _children(optimizer: torch.optim.Optimizer, entries: Sequence[Any]) -> list[Any]:
    out = []
    for child, params in entries:
        name = child if isinstance(child, str) else child.name
        out.append(torch_schedule_factory(name)(optimizer, **dict(params)))
    return out


def _torch_kw(params: Mapping[str, Any]) -> dict[str, Any]:
    kw = dict(params)
    if "milestones" in kw:  # torch wants a list (MultiStepLR counts repeats via Counter)
        kw["milestones"] = list(kw["milestones"])
    return kw


def torch_schedule_factory(name: str) -> Callable[..., Any]:
    """``factory(optimizer, **params)`` building torch's scheduler for a SCHEDULES entry.

    Plain classes are returned as they are. Composites take their children as
    ``(name, params)`` pairs, as the specs draw them, and build them on the same optimizer;
    a named composite (``recipe`` in the spec, e.g. WarmupCosine) becomes torch's
    SequentialLR of its recipe.
    """
    spec = schedule_record(name)
    if spec.torch_class is None:
        raise ValueError(f"{name}: torch ships no such scheduler ({spec.source})")
    cls = torch_class(spec.torch_class)
    if spec.recipe is not None:
        sequential = torch_schedule_factory("SequentialLR")

        def named(optimizer: torch.optim.Optimizer, last_epoch: int = -1, **params: Any) -> Any:
            return sequential(optimizer, last_epoch=last_epoch, **spec.recipe(params))

        sig = [inspect.Parameter(d.name, inspect.Parameter.KEYWORD_ONLY) for d in spec.space]
        return _signed(named, name, sig + [_LAST_EPOCH])
    if name == "SequentialLR":

        def sequential_lr(
            optimizer: torch.optim.Optimizer,
            schedulers: Sequence[Any],
            milestones: Sequence[int],
            last_epoch: int = -1,
        ) -> Any:
            kids = _children(optimizer, schedulers)
            return cls(optimizer, kids, milestones=list(milestones), last_epoch=last_epoch)

        return _signed(sequential_lr, name)
    if name == "ChainedScheduler":

        def chained(optimizer: torch.optim.Optimizer, schedulers: Sequence[Any]) -> Any:
            return cls(_children(optimizer, schedulers), optimizer=optimizer)

        return _signed(chained, name)
    if "milestones" in {d.name for d in spec.space}:

        def with_list(optimizer: torch.optim.Optimizer, **params: Any) -> Any:
            return cls(optimizer, **_torch_kw(params))

        with_list.__signature__ = inspect.signature(cls)  # type: ignore[attr-defined]
        with_list.__optcheck_import__ = (  # type: ignore[attr-defined]
            f"from {cls.__module__} import {cls.__name__} as make_schedule"
        )
        return with_list
    return cls


_LAST_EPOCH = inspect.Parameter("last_epoch", inspect.Parameter.KEYWORD_ONLY, default=-1)


def _signed(fn: Callable[..., Any], name: str, extra: list[Any] | None = None) -> Any:
    if extra is not None:
        first = inspect.Parameter("optimizer", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        fn.__signature__ = inspect.Signature([first, *extra])  # type: ignore[attr-defined]
    fn.__optcheck_import__ = (  # type: ignore[attr-defined]
        "from optcheck.checks.kit.schedules import torch_schedule_factory\n"
        f"make_schedule = torch_schedule_factory({name!r})"
    )
    return fn


def torch_schedule_target(name: str) -> ScheduleTarget:
    """torch's scheduler for a SCHEDULES entry, as a target (what the tests check)."""
    spec = schedule_record(name)
    factory = torch_schedule_factory(name)
    module, _, attr = spec.torch_class.rpartition(".")
    path = f"{module}:{attr}" if inspect.isclass(factory) else None
    return ScheduleTarget(f"torch {name}", factory, import_path=path)


class IndexStepped:
    """A scheduler that is told the count (timm's ``step(epoch)`` / ``step_update(n)``) behind
    torch's ``step()``: the t-th call passes t, the epoch or update count timm's train loop
    has just reached, to ``step`` or, with ``t_in_epochs=False``, to ``step_update``."""

    def __init__(self, inner: Any, by_update: bool):
        self.inner, self.by_update, self.count = inner, by_update, 0

    def step(self, metric: Any = None) -> None:
        # a metric, where given (timm's PlateauLRScheduler), goes along as step(t, metric)
        self.count += 1
        told = (self.count,) if metric is None else (self.count, metric)
        if self.by_update:
            self.inner.step_update(*told)
        else:
            self.inner.step(*told)

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "inner": self.inner.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])
        self.inner.load_state_dict(state["inner"])


def index_stepped(factory: Callable[..., Any], import_path: str | None = None) -> Any:
    """``factory`` (a timm-style scheduler class) as a torch-style one: built the same way,
    stepped through IndexStepped. Snippets build it the same way."""

    def make(optimizer: torch.optim.Optimizer, **params: Any) -> IndexStepped:
        by_update = not params.get("t_in_epochs", True)
        return IndexStepped(factory(optimizer, **params), by_update)

    make.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    if import_path and ":" in import_path:
        module, _, attr = import_path.partition(":")
        make.__optcheck_import__ = (  # type: ignore[attr-defined]
            f"from optcheck.checks.kit.schedules import index_stepped\n"
            f"from {module} import {attr}\nmake_schedule = index_stepped({attr})"
        )
    return make


class ReferenceSchedule(torch.optim.lr_scheduler.LRScheduler):
    """A spec's closed form as an LRScheduler, so the oracle is a target like any other (the
    checks must pass on it): lr_t = closed_form(last_epoch, initial_lr, **params), and the
    cycled momentum where the spec has one. Evaluated BLOCK epochs at a time (the closed
    forms are vectorised; some, MultiplicativeLR's product, cost O(t) per call)."""

    BLOCK = 256

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        spec: ScheduleSpec,
        params: Mapping[str, Any],
        last_epoch: int = -1,
    ):
        self.spec, self.params = spec, full_params(spec, params)
        self._cache: dict[tuple[str, float, float, int], float] = {}
        super().__init__(optimizer, last_epoch)

    def _value(self, key: str, base: float, t: float, group: int) -> float:
        if (key, base, t, group) not in self._cache:
            ts = np.arange(t, t + self.BLOCK)
            if self.spec.horizon is not None:  # OneCycleLR: nothing past total_steps
                ts = ts[ts <= int(self.spec.horizon(self.params))]
            fn = self.spec.closed_form if key == "lr" else self.spec.momentum
            assert fn is not None
            params = group_params(self.spec, self.params, group)
            values = np.asarray(fn(ts, base, **params), dtype=np.float64)
            for u, v in zip(ts, values, strict=True):
                self._cache[key, base, float(u), group] = float(v)  # step(epoch): floats
        return self._cache[key, base, t, group]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        t, groups = self.last_epoch, self.optimizer.param_groups
        if cycles_momentum(self.spec, self.params):
            for i, group in enumerate(groups):
                m = self._value("momentum", 0.0, t, i)
                if "betas" in group:
                    group["betas"] = (m, *group["betas"][1:])
                else:
                    group["momentum"] = m
        return [self._value("lr", float(b), t, i) for i, b in enumerate(self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        # The spec holds callables (closed forms, lambdas); the position is all there is.
        skip = ("spec", "params", "_cache")
        return {k: v for k, v in super().state_dict().items() if k not in skip}


def reference_schedule_target(name: str, variant: str | None = None) -> ScheduleTarget:
    """The record ``name``'s closed form (or a named variant's) as a target."""
    spec = schedule_record(name)
    if variant is not None:
        v = next(x for x in spec.variants if x.name == variant)
        spec = replace(spec, closed_form=v.fn)

    def factory(optimizer: torch.optim.Optimizer, last_epoch: int = -1, **params: Any) -> Any:
        return ReferenceSchedule(optimizer, spec, params, last_epoch)

    sig = [inspect.Parameter(d.name, inspect.Parameter.KEYWORD_ONLY) for d in spec.space]
    first = inspect.Parameter("optimizer", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    factory.__signature__ = inspect.Signature([first, *sig, _LAST_EPOCH])  # type: ignore[attr-defined]
    label = f"reference {name}" + (f":{variant}" if variant else "")
    return ScheduleTarget(label, factory)


# --- drawn cases ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-able form of a parameter: callables and specs by name, tuples as lists."""
    if isinstance(value, ScheduleSpec):
        return value.name
    if callable(value):
        return getattr(value, "__name__", repr(value))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Case:
    params: dict[str, Any]  # constructor keywords passed to the target
    base_lr: float
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "params": _plain(self.params), **_plain(self.extra)}


def schedule_spec(ctx: Context) -> ScheduleSpec:
    if not isinstance(ctx.spec, ScheduleSpec):
        raise NotApplicable("needs --like to name a schedule")
    return ctx.spec


def schedule_cases(
    ctx: Context,
    *,
    cap: int = CAP,
    extra: Mapping[str, st.SearchStrategy[Any]] | None = None,
    wide: bool = False,
    stated_on_space: bool = True,
) -> st.SearchStrategy[Case]:
    """Parameters from the spec's space (integer sizes up to ``cap``), a base lr, and
    ``extra`` draws a check needs. Without a spec, only ``fixed_hp`` (the user's --hp).
    ``wide``: the spec's ``accepted`` space instead, ties above the base lr too (the
    closed-form comparisons; the invariants hold only on ``space``). ``stated_on_space``: the
    check holds on ``space`` only (not a comparison of the target with itself), so a pinned
    value outside it makes the check not apply (``undocumented``)."""
    fixed = dict(ctx.settings.fixed_hp)
    spec_only = isinstance(ctx.spec, ScheduleSpec) and not wide and stated_on_space
    if spec_only and (why := undocumented(ctx.spec, fixed)):
        raise NotApplicable(why)
    if isinstance(ctx.spec, ScheduleSpec):
        spec = widened(ctx.spec) if wide else ctx.spec
        kids = [d for d in spec.space if isinstance(d, Children) and d.name not in fixed]
        if kids:  # a composite's children (and milestones) are drawn together, below
            drawn = {d.name for d in kids} | {"milestones" for d in kids if d.milestones}
            rest = tuple(d for d in spec.space if d.name not in drawn)
            whole = spec
            spec = replace(spec, space=rest, constraint=None)
        params = hyperparams(
            spec, fixed=fixed, accepts=ctx.target.accepts, overrides=capped(spec.space, cap)
        ).map(lambda p: {**p, **fixed})
        if kids:
            parts = st.tuples(params, *(children(d, cap) for d in kids))
            params = parts.map(lambda ps: {k: v for p in ps for k, v in p.items()}).filter(
                lambda p: whole.check_params(p) is None
            )
    else:
        params = st.just(fixed)
    cases = st.builds(
        Case,
        params=params,
        base_lr=real(BASE_LR),
        extra=st.fixed_dictionaries(dict(extra or {})),
    )
    ties = [
        n
        for n in (ctx.spec.ties_to_base_lr if isinstance(ctx.spec, ScheduleSpec) else ())
        if n not in fixed and ctx.target.accepts(n)
    ]
    if not ties:
        return cases

    def tie(case: Case, which: list[float | None]) -> Case:
        tied = {n: case.base_lr * k for n, k in zip(ties, which, strict=True) if k is not None}
        return replace(case, params={**case.params, **tied})

    # None: drawn freely; 1: equal to the base lr; above 1 (wide): the cosine rises to it.
    level = st.sampled_from((None, 1.0))
    if wide:  # each of the three as likely
        above = st.floats(1.0, TIE_ABOVE, exclude_min=True)
        level = st.sampled_from((None, 1.0, TIE_ABOVE)).flatmap(
            lambda k: above if k == TIE_ABOVE else st.just(k)
        )
    flags = st.lists(level, min_size=len(ties), max_size=len(ties))
    return st.builds(tie, cases, flags)


def capped(space: Sequence[Any], cap: int) -> dict[str, st.SearchStrategy[Any]]:
    """Strategies for the integer dimensions of ``space`` that reach past ``cap``, capped."""
    return {
        d.name: dimension(replace(d, high=max(d.low, min(d.high, cap))))
        for d in space
        if isinstance(d, Int | IntList) and d.high > cap
    }


def children(dim: Children, cap: int) -> st.SearchStrategy[dict[str, Any]]:
    """``{dim.name: ((name, params), ...)}`` and, for SequentialLR, its ``milestones``: each
    child's params from its own record's space (integers up to ``cap``) within its own
    constraint; the composite's constraint then says which combinations torch composes."""

    def child(name: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        spec = schedule_record(name)
        parts = {d.name: dimension(d) for d in spec.space} | capped(spec.space, cap)
        drawn = st.fixed_dictionaries(parts).filter(lambda p: spec.check_params(p) is None)
        return drawn.map(lambda p: (name, p))

    kids = st.lists(st.sampled_from(dim.allowed).flatmap(child), min_size=1, max_size=dim.most)
    if not dim.milestones:
        return kids.map(lambda k: {dim.name: tuple(k)})

    def with_milestones(k: list[Any]) -> st.SearchStrategy[dict[str, Any]]:
        ms = st.lists(st.integers(0, cap), min_size=len(k) - 1, max_size=len(k) - 1)
        return ms.map(lambda m: {dim.name: tuple(k), "milestones": tuple(sorted(m))})

    return kids.flatmap(with_milestones)


# A tied keyword drawn above the base lr goes up to this multiple of it.
TIE_ABOVE = 4.0


def undocumented(spec: ScheduleSpec, fixed: Mapping[str, Any]) -> str | None:
    """Why a check drawn from the documented space does not apply: a pinned value torch
    accepts (the record's ``accepted``) that the space, on which the invariants and their
    landmarks are stated, leaves out (a fractional step_size, gamma > 1). None: it applies."""
    for dim in spec.space:
        if dim.name not in fixed or dim.name not in spec.accepted:
            continue
        value = fixed[dim.name]
        if isinstance(dim, Int) and not dim.fractions:
            inside = float(value).is_integer()
        elif isinstance(dim, IntList):
            inside = all(v >= dim.low for v in value)
        elif isinstance(dim, Real):
            inside = dim.low <= value <= dim.high
        else:
            continue
        if not inside:
            return (
                f"--hp {dim.name}={value!r} is accepted by torch but outside {spec.name}'s "
                "documented space, on which this check is stated; the closed-form comparisons "
                "(crossval.schedule*) check it"
            )
    return None


def widened(spec: ScheduleSpec) -> ScheduleSpec:
    """``spec`` with its space replaced by what torch accepts (``accepted``)."""
    if not spec.accepted:
        return spec
    return replace(spec, space=tuple(spec.accepted.get(d.name, d) for d in spec.space))


def full_params(spec: ScheduleSpec | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters in force: the drawn ones over the spec's defaults."""
    return {**(spec.defaults if spec else {}), **params}


def group_params(spec: ScheduleSpec | None, p: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Param group ``i``'s parameters: a per-group keyword given as a list gives entry i."""
    names = spec.per_group if spec is not None else ()
    return {k: v[i] if k in names and isinstance(v, list) else v for k, v in p.items()}


def cycles_momentum(spec: ScheduleSpec | None, p: Mapping[str, Any]) -> bool:
    return spec is not None and spec.momentum is not None and bool(p.get("cycle_momentum", True))


def ints_in(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from ints_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from ints_in(v)


def size(p: Mapping[str, Any]) -> int:
    """Sum of every integer parameter (children's too): the span the schedule's structure
    (periods, milestones, warmups) can occupy. Used to decide how long to drive."""
    return sum(max(0, v) for v in ints_in(dict(p)))


def last_step(spec: ScheduleSpec | None, p: Mapping[str, Any]) -> int | None:
    """The last t whose lr an optimizer can apply: OneCycleLR's lr at t = total_steps is
    never used by an optimizer step (the run is over), so the checks stop at N - 1."""
    if spec is not None and spec.horizon is not None:
        return int(spec.horizon(p)) - 1
    return None


def steps_for(
    spec: ScheduleSpec | None, p: Mapping[str, Any], need: int, most: int = MAX_STEPS
) -> int:
    """``need`` steps, at least MIN_STEPS, at most ``most``, never past the last usable t."""
    n = min(max(need, MIN_STEPS), most)
    end = last_step(spec, p)
    return n if end is None else max(0, min(n, end))


def scale_of(spec: ScheduleSpec | None, base_lr: float, p: Mapping[str, Any]) -> float:
    """The schedule's size: the larger bound where the spec gives bounds, else base_lr."""
    if spec is not None and spec.bounds is not None:
        lo, hi = spec.bounds(base_lr, p)
        return float(max(abs(lo), abs(hi)))
    return float(base_lr)


@dataclass(frozen=True)
class RoundOff:
    """Largest |got - exact| round-off allows at epoch t (module note)."""

    scale: float  # the schedule's size (its larger bound)
    slope: float = 0.0  # the steepest change between consecutive epochs
    period: int = 0

    def __call__(self, t: Any, exact: Any) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        size = np.abs(np.asarray(exact, dtype=np.float64)) + self.scale
        return ROUNDOFF_OPS * EPS * ((t + 1.0) * size + (t + 1.0 + self.period) * self.slope)


def steepest(values: Any) -> float:
    """The largest finite change between consecutive values (a NaN or inf is not a slope: the
    checks report it themselves, every comparison with it fails)."""
    v = np.asarray(values, dtype=np.float64)
    d = np.abs(np.diff(v)) if v.size > 1 else np.zeros(0)
    return float(np.max(d[np.isfinite(d)], initial=0.0))


def period_of(spec: ScheduleSpec | None, p: Mapping[str, Any]) -> int:
    return int(spec.period(p)) if spec is not None and spec.period is not None else 0


def roundoff_model(
    spec: ScheduleSpec | None, base_lr: float, p: Mapping[str, Any], values: Any
) -> RoundOff:
    """The model for a run whose lrs are ``values`` (the exact ones where known, else the
    target's own: a broken target's jumps widen it by eps-sized amounts only)."""
    return RoundOff(scale_of(spec, base_lr, p), steepest(values), period_of(spec, p))


def scope(ctx: Context, spec: ScheduleSpec, p: Mapping[str, Any], n: int) -> tuple[int, int]:
    """[lo, hi] of epochs where ``invariant`` holds for these parameters (spec's ``scope``),
    clipped to the trace; NotApplicable where it does not hold at all."""
    invariant = ctx.check_id.removeprefix("schedule.")
    fn = spec.scope.get(ctx.check.fn if ctx.check else None)
    where = fn(p) if fn else (0, None)
    if where is None:
        raise NotApplicable(f"{invariant} does not hold for these parameters")
    lo, hi = where
    hi = n if hi is None else min(int(hi), n)
    if hi < lo:
        raise NotApplicable(f"{invariant} holds on an empty range here")
    return int(lo), hi


# --- driving the target ---------------------------------------------------------------------


@dataclass
class Trace:
    """``lr[t]``/``momentum[t]``: group values after t scheduler steps (t = 0..n);
    ``applied[t]``: the lr the optimizer's (t+1)-th step really applied (t = 0..n-1)."""

    lr: np.ndarray
    applied: np.ndarray
    momentum: np.ndarray | None = None


def make_optimizer(base_lr: float) -> tuple[torch.nn.Parameter, torch.optim.SGD]:
    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    # foreach=False: the single-tensor path, no per-step implementation dispatch.
    return p, torch.optim.SGD([p], lr=base_lr, momentum=0.0, foreach=False)


def read_lr(opt: torch.optim.Optimizer) -> float:
    return float(opt.param_groups[0]["lr"])


def read_momentum(opt: torch.optim.Optimizer) -> float:
    group = opt.param_groups[0]
    return float(group["betas"][0] if "betas" in group else group["momentum"])


def raised_at(exc: Exception, t: int) -> Exception:
    """``exc`` marked with the scheduler step t it was raised at (its ``optcheck_step``), so
    that a check can report where: torch's CosineAnnealingLR divides by zero mid-run."""
    try:
        exc.optcheck_step = t  # type: ignore[attr-defined]
    except AttributeError:  # an exception type with __slots__: unmarked
        pass
    return exc


def step_raised(exc: Exception) -> int | None:
    """The scheduler step ``exc`` was raised at, where raised_at marked it."""
    return getattr(exc, "optcheck_step", None)


class Driver:
    """One optimizer + scheduler pair stepped in the documented order, measuring as it goes."""

    def __init__(self, opt: torch.optim.Optimizer, param: torch.nn.Parameter, sched: Any):
        self.opt, self.param, self.sched = opt, param, sched
        self.buffer: float | None = None  # SGD's momentum buffer, mirrored in float64
        self.lr = [read_lr(opt)]
        self.momentum = [read_momentum(opt)]
        self.applied: list[float] = []

    def step(self, count: int = 1) -> None:
        try:
            self._step(count)
        except Exception as exc:
            raise raised_at(exc, len(self.lr)) from None

    def _step(self, count: int) -> None:
        param, opt, sched = self.param, self.opt, self.sched
        param.grad = torch.ones_like(param)  # SGD never writes to .grad
        for _ in range(count):
            mu = read_momentum(opt)
            with torch.no_grad():
                param.zero_()
            opt.step()
            # torch's SGD (dampening 0): buf = g at first use, then mu * buf + g; step -lr*buf.
            if mu != 0.0:
                self.buffer = 1.0 if self.buffer is None else mu * self.buffer + 1.0
            direction = self.buffer if mu != 0.0 else 1.0
            self.applied.append(-param.item() / direction)
            sched.step()
            self.lr.append(read_lr(opt))
            self.momentum.append(read_momentum(opt))

    def trace(self, momentum: bool) -> Trace:
        return Trace(
            np.array(self.lr),
            np.array(self.applied),
            np.array(self.momentum) if momentum else None,
        )


def drive_groups(
    target: ScheduleTarget,
    params: Mapping[str, Any],
    base_lrs: Sequence[float],
    steps: int,
    *,
    momentum: bool = False,
    betas: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(lr[t, i], momentum[t, i] or None): every param group's values after t scheduler steps,
    one float64 parameter per group, each group with its own initial lr. ``betas``: under
    Adam, whose groups hold betas (a cycled momentum goes to betas[0]), not SGD."""
    ps = [torch.nn.Parameter(torch.zeros((), dtype=torch.float64)) for _ in base_lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, base_lrs, strict=True)]
    opt: torch.optim.Optimizer
    if betas:
        opt = torch.optim.Adam(groups, lr=base_lrs[0], foreach=False)
    else:
        opt = torch.optim.SGD(groups, lr=base_lrs[0], momentum=0.0, foreach=False)

    def read() -> tuple[list[float], list[float]]:
        gs = opt.param_groups
        moms = [float(g["betas"][0] if "betas" in g else g["momentum"]) for g in gs]
        return [float(g["lr"]) for g in gs], moms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sched = target.make(opt, params)
        lrs, moms = read()
        lr_rows, mom_rows = [lrs], [moms]
        for p in ps:
            p.grad = torch.ones_like(p)
        for _ in range(steps):
            opt.step()
            try:
                sched.step()
            except Exception as exc:
                raise raised_at(exc, len(lr_rows)) from None
            lrs, moms = read()
            lr_rows.append(lrs)
            mom_rows.append(moms)
    return np.array(lr_rows), (np.array(mom_rows) if momentum else None)


def start(target: ScheduleTarget, params: Mapping[str, Any], base_lr: float) -> Driver:
    p, opt = make_optimizer(base_lr)
    return Driver(opt, p, target.make(opt, params))


def drive(
    target: ScheduleTarget,
    params: Mapping[str, Any],
    base_lr: float,
    steps: int,
    *,
    momentum: bool = False,
) -> Trace:
    with warnings.catch_warnings():
        # A third-party scheduler's deprecation chatter must not flood the report.
        warnings.simplefilter("ignore", DeprecationWarning)
        driver = start(target, params, base_lr)
        driver.step(steps)
    return driver.trace(momentum)


# --- evidence -------------------------------------------------------------------------------


def _param_source(params: Mapping[str, Any]) -> tuple[list[str], str]:
    """Python source for ``params`` with named callables imported; specs by name."""
    imports: list[str] = []

    def src(v: Any) -> str:
        if isinstance(v, ScheduleSpec):
            return repr(v.name)
        if callable(v) and hasattr(v, "__module__") and hasattr(v, "__qualname__"):
            if "<" not in v.__qualname__:
                imports.append(f"from {v.__module__} import {v.__qualname__}")
                return v.__qualname__
            return f"None  # {v!r}: not importable"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{k!r}: {src(x)}" for k, x in v.items()) + "}"
        if isinstance(v, tuple):
            return "(" + "".join(f"{src(x)}, " for x in v) + ")"
        if isinstance(v, list):
            return "[" + ", ".join(src(x) for x in v) + "]"
        return repr(v)

    body = ", ".join(f"{k}={src(v)}" for k, v in params.items())
    return sorted(set(imports)), body


def snippet_head(target: ScheduleTarget, params: Mapping[str, Any]) -> tuple[str, str] | None:
    """(imports ending in ``make_schedule = ...``, the keyword source for ``params``), or
    None when the target cannot be imported by name."""
    made = getattr(target.factory, "__optcheck_import__", None)
    if made is None and target.import_path and ":" in target.import_path:
        module, _, attr = target.import_path.partition(":")
        made = f"from {module} import {attr} as make_schedule"
    if made is None:
        return None
    imports, body = _param_source(params)
    fixed = ", ".join(f"{k}={v!r}" for k, v in target.fixed.items())
    return "\n".join(["import torch", *imports, made]), ", ".join(x for x in (body, fixed) if x)


def snippet(
    target: ScheduleTarget,
    params: Mapping[str, Any],
    base_lr: float | Sequence[float],
    steps: int,
    show: str,
    *,
    betas: bool = False,
) -> str | None:
    """Standalone Python that runs the target in the checks' loop and prints ``show``; with
    one base lr per param group (a list), every group's lrs (``lrs[t][i]``), under Adam
    with ``betas``."""
    head = snippet_head(target, params)
    if head is None:
        return None
    imports, body = head
    if isinstance(base_lr, (list, tuple)):
        return _group_snippet(imports, body, base_lr, steps, show, betas)
    return "\n".join(
        [
            imports,
            "",
            "p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))",
            f"opt = torch.optim.SGD([p], lr={base_lr!r}, momentum=0.0)",
            f"sched = make_schedule(opt{', ' if body else ''}{body})",
            "lrs, momenta = [opt.param_groups[0]['lr']], [opt.param_groups[0]['momentum']]",
            f"for _ in range({steps}):",
            "    p.grad = torch.ones_like(p)",
            "    opt.step()",
            "    sched.step()",
            "    lrs.append(opt.param_groups[0]['lr'])",
            "    momenta.append(opt.param_groups[0]['momentum'])",
            f"print({show})",
            "",
        ]
    )


def _group_snippet(
    imports: str, body: str, base_lrs: Sequence[float], steps: int, show: str, betas: bool
) -> str:
    make = "torch.optim.Adam(groups)" if betas else "torch.optim.SGD(groups, momentum=0.0)"
    return "\n".join(
        [
            imports,
            "",
            "ps = [torch.nn.Parameter(torch.zeros((), dtype=torch.float64))",
            f"      for _ in {base_lrs!r}]",
            f"groups = [{{'params': [p], 'lr': lr}} for p, lr in zip(ps, {base_lrs!r})]",
            f"opt = {make}",
            f"sched = make_schedule(opt{', ' if body else ''}{body})",
            "lrs = [[g['lr'] for g in opt.param_groups]]",
            "mom = lambda g: g['betas'][0] if 'betas' in g else g['momentum']  # noqa: E731",
            "moms = [[mom(g) for g in opt.param_groups]]",
            f"for _ in range({steps}):",
            "    for p in ps:",
            "        p.grad = torch.ones_like(p)",
            "    opt.step()",
            "    sched.step()",
            "    lrs.append([g['lr'] for g in opt.param_groups])",
            "    moms.append([mom(g) for g in opt.param_groups])",
            f"print({show})",
            "",
        ]
    )


def violation(
    ctx: Context,
    case: Case,
    message: str,
    *,
    t: int,
    expected: Any,
    got: Any,
    tol: float | None,
    steps: int,
    show: str | None = None,
    code: str | None = None,
) -> Violation:
    code = code or snippet(ctx.target, case.params, case.base_lr, steps, show or f"lrs[{t}]")
    return evidence_of(message, t=t, expected=expected, got=got, tol=tol, code=code)


def evidence_of(
    message: str, *, t: int, expected: Any, got: Any, tol: float | None, code: str | None
) -> Violation:
    """A schedule check's violation: the error in units of ``tol`` where both are numbers."""
    err = None
    if tol and isinstance(expected, float | int) and isinstance(got, float | int):
        err = float(abs(float(got) - float(expected)) / tol)
    return Violation(
        Evidence(
            message,
            step=t,
            expected=expected,
            got=got,
            tolerance=tol,
            error_in_tol=err,
            snippet=code,
        )
    )


def quiet(prop: Callable[..., None]) -> Callable[..., None]:
    """Run ``prop`` with NumPy's float warnings off: a target's inf/NaN lr is reported as a
    violation with evidence, not as a warning."""

    def run(*args: Any) -> None:
        with np.errstate(all="ignore"):
            prop(*args)

    return run


def run_schedule_property(
    ctx: Context,
    prop: Callable[[ScheduleSpec, Case, dict[str, Any]], None],
    *,
    cap: int = CAP,
    extra: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> CheckResult:
    spec = schedule_spec(ctx)

    @quiet
    def run(case: Case) -> None:
        prop(spec, case, full_params(spec, case.params))

    return run_property(ctx, schedule_cases(ctx, cap=cap, extra=extra), run)


def fmt(x: float) -> str:
    return f"{x:.17g}"


def first_mismatch(got: np.ndarray, want: np.ndarray, tol: np.ndarray) -> int | None:
    bad = np.flatnonzero(~(np.abs(got - want) <= tol))
    return int(bad[0]) if bad.size else None


def matching_variant(
    spec: ScheduleSpec, t: np.ndarray, got: np.ndarray, base_lr: float, p: Mapping[str, Any]
) -> str | None:
    for v in spec.variants:
        try:
            want = np.asarray(v.fn(t, base_lr, **p), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a variant outside its domain matches nothing
            continue
        if first_mismatch(got, want, roundoff_model(spec, base_lr, p, want)(t, want)) is None:
            return f"{spec.name}:{v.name} ({v.description}; {v.source})"
    return None


def spec_or_none(ctx: Context) -> ScheduleSpec | None:
    return ctx.spec if isinstance(ctx.spec, ScheduleSpec) else None


def steps_on_metric(sched: Any) -> bool:
    """Whether ``sched.step`` requires an argument (a metric, as ReduceLROnPlateau's)."""
    try:
        params = inspect.signature(sched.step).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.default is p.empty and p.kind in positional for p in params)


def require_constructible(ctx: Context) -> None:
    """A check that steps the target without a metric needs one that steps so. Without a spec
    only --hp says what to pass: a target that needs more is skipped (the check cannot run),
    not failed."""
    spec = spec_or_none(ctx)
    if spec is not None and spec.metric_driven:
        raise NotApplicable(f"{spec.name} steps on a metric: the plateau checks drive it")
    if spec is not None:
        return
    try:
        driver = start(ctx.target, ctx.settings.fixed_hp, 0.1)
    except TypeError as exc:
        raise NotApplicable(f"cannot construct without --like or --hp: {exc}") from None
    if steps_on_metric(driver.sched):
        raise NotApplicable(
            "step() takes a metric: validate it --like ReduceLROnPlateau to check it"
        )
