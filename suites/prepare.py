"""One configuration path: (target, --like, --hp) -> what every consumer runs.

``prepare`` is the only place a target is loaded, its hyper-parameters checked and split, and
it is built once (the start-up probe). ``optcheck.validate`` (and so the CLI), the pytest
plugin and ``optcheck bench --target`` all call it, so they agree on:

- the user's keywords reach the target in every check: those the reference knows become
  ``Settings.fixed_hp`` (every drawn case is pinned to them), the others go into the target's
  ``fixed`` keywords (always passed, never given to the reference);
- a usage mistake (unknown keyword, a value of the wrong form, a combination the reference
  rejects) is a ``ConfigError``, one line, before any check runs;
- the probe builds the target with the spec's defaults plus the user's keywords, and reads
  off which keywords it keeps per param group (only those are drawn per group);
- a target taking ``**kwargs`` is handed only lr, the user's keywords and, in each check, the
  keywords that check needs (``OptimizerTarget.keywords``); the report says so.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from optcheck.checks import catalog, findings, profiles
from optcheck.checks.kit import registry
from optcheck.checks.kit.contract import describe_exploration
from optcheck.checks.kit.harness import DTYPES
from optcheck.checks.kit.kinds import parse_shapes
from optcheck.checks.kit.registry import Check, Context, Kind, Settings
from optcheck.checks.kit.strategies import fit_shape
from optcheck.checks.records import Limits, OptimizerRecord, ScheduleSpec
from optcheck.checks.result import CheckResult
from optcheck.checks.target import OptimizerTarget, ScheduleTarget, import_name
from optcheck.reference.space import Choice, Dimension, Flag, Int, IntList, Pair, Real
from optcheck.reference.spec import Variant
from optcheck.suites.hp import MAX_SECONDS, ConfigError, Word, parse_hp
from optcheck.suites.target import TargetError, from_object, label_of, load, told_the_count

VALIDATE_PROFILE = "ci"
# The lr contract checks use without a spec (checks.kit.contract.LR_WITHOUT_SPEC).
LR_WITHOUT_SPEC = 1e-2


class UnknownLike(ConfigError):
    pass


# --- parsing -----------------------------------------------------------------------------------


def resolve_like(like: str | None) -> tuple[OptimizerRecord | ScheduleSpec | None, Variant | None]:
    if like is None:
        return None, None
    try:
        return catalog.find(like)
    except KeyError:
        raise UnknownLike(f"unknown --like {like!r}; {_close_names(like)}") from None


def _close_names(like: str) -> str:
    """A few names close to a misspelt ``like`` (difflib), not the whole catalog."""
    import difflib

    names = catalog.names()
    by_key = {n.lower(): n for n in names}
    close = difflib.get_close_matches(like.strip().lower(), list(by_key), n=3, cutoff=0.6)
    if close:
        shown = [by_key[c] for c in close]
        head = ", ".join(shown[:-1])
        return f"did you mean {head + ' or ' if head else ''}{shown[-1]}?"
    return (
        f"no close match among the {len(names)} names optcheck knows (a torch class name such "
        "as Adam or StepLR, or NAME:variant; the README's catalog table lists them)"
    )


def settings_for(
    *,
    profile: str | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    dtype: str = "float64",
    device: str = "cpu",
    hp: Mapping[str, Any] | None = None,
    timeout: float | None = 60.0,
) -> Settings:
    # 25 examples (the ci profile) unless told otherwise: below that, rare-flag bugs slip by.
    name = profile or VALIDATE_PROFILE
    if name not in profiles.EXAMPLES:
        raise ConfigError(f"unknown profile {name!r}; known: {', '.join(profiles.EXAMPLES)}")
    if max_examples is not None and (isinstance(max_examples, bool) or max_examples < 1):
        raise ConfigError(f"max_examples must be at least 1, got {max_examples!r}")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
        raise ConfigError(f"unknown device {device!r}; known: cpu, cuda")
    if timeout is not None and not (math.isfinite(timeout) and 0 <= timeout <= MAX_SECONDS):
        raise ConfigError(f"timeout must be between 0 and {MAX_SECONDS:g} s, got {timeout!r}")
    return Settings(
        max_examples=max_examples or profiles.EXAMPLES[name],
        seed=seed,
        dtype=dtype,
        device=device,
        fixed_hp=dict(hp or {}),
        timeout=timeout,
    )


# --- the prepared configuration -----------------------------------------------------------------


@dataclass
class Prepared:
    """What a run needs, decided once.

    ``context.target`` is the loaded target with the user's keywords the reference does not
    know in its ``fixed``, the keywords it keeps per group and, for a ``**kwargs`` target,
    the keywords it is handed; ``context.settings.fixed_hp`` holds the user's keywords the
    reference knows (all of them without --like). ``failure`` is the probe's construction
    violation, which stands for every check. ``notes`` say what was passed where."""

    context: Context
    kind: Kind
    like: str | None
    hp: dict[str, Any]  # the user's keywords, as given (checked)
    profile: str
    failure: CheckResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def target(self) -> OptimizerTarget | ScheduleTarget:
        return self.context.target

    @property
    def spec(self) -> OptimizerRecord | ScheduleSpec | None:
        return self.context.spec

    @property
    def settings(self) -> Settings:
        return self.context.settings

    def checks(self, select: Iterable[str] = ()) -> list[Check]:
        """The checks that apply, restricted to ids starting with a ``select`` prefix."""
        checks = registry.applicable(self.kind, self.spec)
        prefixes = tuple(select)
        return [c for c in checks if c.id.startswith(prefixes)] if prefixes else checks


def prepare(
    target: str | OptimizerTarget | ScheduleTarget | Any,
    like: str | None = None,
    hp: Mapping[str, Any] | Iterable[str] | None = None,
    *,
    device: str = "cpu",
    dtype: str = "float64",
    max_examples: int | None = None,
    seed: int = 0,
    profile: str | None = None,
    timeout: float | None = 60.0,
    source: str = "--hp",
    setup: Iterable[str] | str | None = None,
    shapes: str | None = None,
    create_graph: bool = False,
) -> Prepared:
    """Load ``target`` (``module:Attr``, a Target, or a live class or factory), check ``hp``
    against it and the reference ``like`` names, and build it once.

    ``hp`` is a mapping or ``NAME=VALUE`` strings; ``source`` names where it came from in
    messages (``--hp``, ``--optcheck-hp``). Raises ConfigError (a ValueError) for a usage
    mistake and TargetError for a target that cannot be loaded, both one line, before any
    check runs. ``setup`` names methods called on each optimizer right after it is built
    (``--setup train``); without it, those the record declares. ``shapes`` restricts the
    parameter kinds drawn (``--shapes``, checks.kit.strategies.parse_shapes). ``create_graph``:
    gradients carry an autograd graph (``--create-graph``, checks.kit.harness.graph_grad)."""
    # Everything that needs no target first: a usage mistake costs no import of it.
    settings = settings_for(
        profile=profile,
        max_examples=max_examples,
        seed=seed,
        dtype=dtype,
        device=device,
        timeout=timeout,
    )
    kinds, matrices = parse_shapes_option(shapes)
    settings.kinds = kinds
    settings.create_graph = create_graph
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device}: no CUDA device is available here")
    spec, variant = resolve_like(like)
    if create_graph and isinstance(spec, OptimizerRecord) and spec.sparse_grads:
        raise ConfigError(
            f"--create-graph: {spec.name} takes sparse gradients, which carry no graph"
        )
    if matrices and isinstance(spec, OptimizerRecord):
        spec = matrices_only(spec)
    if isinstance(hp, str):
        hp = [hp]
    user = parse_hp(hp, source) if _is_items(hp) else dict(hp or {})  # type: ignore[arg-type]
    kind: Kind | None = None
    if spec is not None:
        kind = "optimizer" if isinstance(spec, OptimizerRecord) else "schedule"
    if isinstance(target, str):
        tgt = load(target, kind)
    elif isinstance(target, (OptimizerTarget, ScheduleTarget)):
        tgt = target
    else:  # a live class or factory (the Python API)
        tgt = from_object(target, label_of(target), kind, import_path=import_name(target))
    kind = "optimizer" if isinstance(tgt, OptimizerTarget) else "schedule"
    if isinstance(spec, ScheduleSpec) and not spec.steps_by_index and told_the_count(tgt.factory):
        raise ConfigError(
            f"{tgt.label} is told the count (step(epoch), step_update(n)): --like "
            f"{spec.name} drives step() alone; use a record that tells it (--like TimmCosine, ...)"
        )
    if isinstance(spec, ScheduleSpec) and spec.steps_by_index and isinstance(tgt, ScheduleTarget):
        # timm-style: told the count, not stepped (checks/algorithms/timm_schedules.py)
        from optcheck.checks.kit.schedules import index_stepped

        tgt = dataclasses.replace(tgt, factory=index_stepped(tgt.factory, tgt.import_path))
    _check_hp(tgt, spec, user, source)
    known = {d.name for d in spec.space} if spec is not None else set(user)
    reference_hp = {k: v for k, v in user.items() if k in known}
    target_only = {k: v for k, v in user.items() if k not in known}
    settings.fixed_hp = dict(reference_hp)
    notes: list[str] = []
    default = findings.default_dtype_finding(tgt)
    if default is not None and settings.dtype == default.default_dtype:
        settings.default_dtype = default.default_dtype
        notes.append(
            f"torch's default dtype set to {default.default_dtype} while checking: known torch "
            f"finding: {default.why}"
        )
    if target_only:
        tgt = dataclasses.replace(tgt, fixed={**tgt.fixed, **target_only})
        names = ", ".join(f"{k}={v!r}" for k, v in target_only.items())
        notes.append(
            f"{names}: passed to the target in every check; the {spec.name} reference has no "
            f"such keyword{'s' if len(target_only) > 1 else ''}"
        )
    tgt = _hand_keywords(tgt, kind, spec, user, notes)
    _require(tgt, spec, user, kind)
    if isinstance(tgt, OptimizerTarget) and getattr(spec, "closure_step", False):
        tgt = dataclasses.replace(tgt, closure_step=True)
        notes.append(
            f"step() is given a closure that leaves the gradients set (the {spec.name} record: "
            "step requires one)"
        )
    ctx = Context(target=tgt, spec=spec, variant=variant, settings=settings)
    if spec is None and isinstance(tgt, OptimizerTarget):
        settings.limits = Limits(param_ndims=(2,)) if matrices else _infer_limits(ctx, notes)
    failure, made = _probe(ctx)
    if isinstance(tgt, OptimizerTarget):
        tgt = ctx.target = _with_setup(tgt, spec, made, setup, notes)
    elif setup:
        raise ConfigError(f"--setup {', '.join(_names(setup))}: a schedule takes no set-up calls")
    if isinstance(made, torch.optim.Optimizer) and isinstance(tgt, OptimizerTarget):
        per_group = frozenset(made.param_groups[0]) - {"params"}
        ctx.target = dataclasses.replace(tgt, per_group=per_group)
        if spec is None and (line := describe_exploration(ctx)) is not None:
            notes.append(line)
        if spec is not None:
            solo = [
                d.name
                for d in spec.space
                if tgt.accepts(d.name) and d.name not in per_group and d.name not in user
            ]
            if solo:
                notes.append(
                    f"{', '.join(solo)}: not kept per param group by the target "
                    "(not in param_groups[0]), so drawn for the constructor only"
                )
    return Prepared(
        context=ctx,
        kind=kind,
        like=like,
        hp=user,
        profile=profile or VALIDATE_PROFILE,
        failure=failure,
        notes=notes,
    )


def _is_items(hp: Any) -> bool:
    return hp is not None and not isinstance(hp, Mapping)


# --- checking the user's keywords ---------------------------------------------------------------


def _first_argument(target: OptimizerTarget | ScheduleTarget) -> str:
    return "params" if isinstance(target, OptimizerTarget) else "optimizer"


def _check_hp(
    target: OptimizerTarget | ScheduleTarget,
    spec: OptimizerRecord | ScheduleSpec | None,
    hp: Mapping[str, Any],
    source: str,
) -> None:
    """Every keyword taken by the target, every value of the form the spec's space says, and
    the combination (over the spec's defaults) one the reference accepts."""
    dims = {d.name: d for d in spec.space} if spec is not None else {}
    if isinstance(spec, ScheduleSpec):  # what torch accepts, not only what invariants hold on
        dims |= spec.accepted
    first = _first_argument(target)
    for name, value in hp.items():
        if name in (first, "self"):
            raise ConfigError(f"{source} {name}: the target's {name!r} is not a hyper-parameter")
        if not target.accepts(name):
            named = sorted((target.named_keywords() or frozenset()) - {first, "self"})
            takes = f"; it takes {', '.join(named)}" if named else ""
            raise ConfigError(f"{source} {name}: {target.label} does not take {name!r}{takes}")
        if name in dims and (want := _form_error(dims[name], value)) is not None:
            raise ConfigError(f"{source} {name}={value!r}: {name} takes {want}")
        if name in dims and (want := _sign_error(dims[name], value)) is not None:
            raise ConfigError(f"{source} {name}={value!r}: {name} takes {want}")
        if name not in dims and (want := _default_form_error(target, name, value)) is not None:
            raise ConfigError(f"{source} {name}={value!r}: {name} takes {want}")
    given = {k: v for k, v in hp.items() if k in dims}
    if spec is not None and given:
        full = {**spec.defaults, **given}
        check = spec.check_hp if isinstance(spec, OptimizerRecord) else spec.check_params
        why = check(full)
        if why is not None:
            rest = ", ".join(f"{k}={v!r}" for k, v in spec.defaults.items() if k not in given)
            shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise ConfigError(
                f"{source} {shown}: {why} (with the other keywords at the {spec.name} "
                f"reference's defaults: {rest}); fix those with {source} too"
            )


def _is_real(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.dtype == torch.bool
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _form(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if _is_real(value):
        return "real"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (tuple, list)):
        return "sequence"
    if callable(value):
        return "callable"
    return type(value).__name__


def _form_error(dim: Dimension, value: Any) -> str | None:
    """What ``dim`` takes, when ``value`` is not of that form (None when it is).

    Ranges are not checked (a space's range is what the checks draw, not what is valid);
    forms are: a number, an integer, True/False, a pair of numbers, or a value like the
    choices (one of them, for named options)."""
    if isinstance(dim, Real):
        return None if _is_real(value) else f"a number (e.g. {dim.default!r}), got {value!r}"
    if isinstance(dim, Int) and dim.fractions:  # torch documents an int, takes a float
        return None if _is_real(value) else f"a number (e.g. {dim.default!r}), got {value!r}"
    if isinstance(dim, Int):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return None if ok else f"an integer (e.g. {dim.default!r}), got {value!r}"
    if isinstance(dim, Flag):
        return None if isinstance(value, bool) else f"True or False, got {value!r}"
    if isinstance(dim, Pair):
        n = len(dim.parts)
        ok = isinstance(value, (tuple, list)) and len(value) == n and all(map(_is_real, value))
        form = "a pair of numbers" if n == 2 else f"{n} numbers"
        return None if ok else f"{form} such as {dim.default!r}, got {value!r}"
    if isinstance(dim, Choice):
        return _choice_error(dim, value)
    if isinstance(dim, IntList):
        ok = isinstance(value, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
        )
        return None if ok else f"a list of integers such as {list(dim.default)!r}, got {value!r}"
    return None


def _sign_error(dim: Dimension, value: Any) -> str | None:
    """A non-finite number, or a negative one where the space starts at 0 or above (lr,
    eps, weight_decay...): impossible values, not merely ones the checks do not draw."""
    halves = list(zip(dim.parts, value, strict=False)) if isinstance(dim, Pair) else []
    for d, v in halves or [(dim, value)]:
        if not isinstance(d, (Real, Int)) or not _is_real(v):
            continue
        number = float(v)
        if not math.isfinite(number):
            return f"a finite number, got {value!r}"
        if d.low >= 0 and number < 0:
            return f"a number ≥ 0 (e.g. {dim.default!r}), got {value!r}"
    return None


def _default_form_error(
    target: OptimizerTarget | ScheduleTarget, name: str, value: Any
) -> str | None:
    """A keyword no spec describes: a bare word on the command line (not a quoted string)
    where the target's own default is True/False or a number is a typo
    (weight_decouple=flase), not a value."""
    if not isinstance(value, Word):
        return None
    try:
        param = inspect.signature(target.factory).parameters.get(name)
    except (TypeError, ValueError):
        return None
    default = None if param is None else param.default
    if isinstance(default, bool):
        return f"True or False like its default, got {value!r}"
    if isinstance(default, (int, float)):
        return f"a number like its default {default!r}, got {value!r}"
    return None


def _choice_error(dim: Choice, value: Any) -> str | None:
    for v in dim.values:
        try:
            if v is value or (_form(v) == _form(value) and v == value):
                return None
        except Exception:  # noqa: BLE001 - an incomparable value is simply not this choice
            continue
    words = [v for v in dim.values if isinstance(v, str)]
    if isinstance(value, str) or (words and len(words) == len(dim.values)):
        return f"one of {', '.join(map(repr, dim.values))}, got {value!r}"
    forms = {_form(v) for v in dim.values}
    if "real" in forms:
        forms.add("int")
    if _form(value) not in forms:
        return f"a value like {dim.default!r}, got {value!r}"
    if _form(value) == "sequence":
        inner = {_form(x) for v in dim.values if isinstance(v, (tuple, list)) for x in v}
        if "real" in inner:
            inner.add("int")
        if inner and not {_form(x) for x in value} <= inner:
            return f"a sequence like {dim.default!r}, got {value!r}"
    return None


def _hand_keywords(
    target: OptimizerTarget | ScheduleTarget,
    kind: Kind,
    spec: OptimizerRecord | ScheduleSpec | None,
    hp: Mapping[str, Any],
    notes: list[str],
) -> OptimizerTarget | ScheduleTarget:
    """A target taking **kwargs is handed lr and the user's keywords (checks add their needs);
    a schedule's parameters define it, so a schedule factory is handed all of them."""
    if not target.takes_var_keywords() or target.named_keywords() is None:
        return target
    named = target.named_keywords() or frozenset()
    handed = set(hp)
    if kind == "schedule":
        handed |= {d.name for d in spec.space} if spec is not None else set()
        return dataclasses.replace(target, keywords=frozenset(handed))
    handed.add("lr")
    target = dataclasses.replace(target, keywords=frozenset(handed))
    # What the note says: the spec's keywords (or, without one, the checks' needs) the
    # target does not name, and which of them it is handed where.
    unnamed = [d.name for d in spec.space if d.name not in named] if spec is not None else []
    needs: dict[str, list[str]] = {}
    for check in registry.applicable(kind, spec):
        for k in check.needs:
            if k not in named and k not in handed:
                needs.setdefault(k, []).append(check.id)
    if not unnamed and not needs:
        return target
    what = f" without naming {', '.join(unnamed)}" if unnamed else ""
    given = [k for k in unnamed if k in handed] or (["lr"] if "lr" not in named else [])
    note = f"{target.label} takes **kwargs{what}: it is handed "
    note += ", ".join(given) if given else "none of them"
    if needs:
        note += (
            "; in a check, what that check needs ("
            + "; ".join(f"{k} in {', '.join(ids)}" for k, ids in needs.items())
            + ")"
        )
    left = [k for k in unnamed if k not in handed]
    if left and spec is not None:
        defaults = spec.defaults
        note += (
            f"; otherwise {', '.join(f'{k}={defaults[k]!r}' for k in left)} stay at its own "
            f"defaults, taken to be the {spec.name} reference's"
        )
    notes.append(note)
    return target


def _require(
    target: OptimizerTarget | ScheduleTarget,
    spec: OptimizerRecord | ScheduleSpec | None,
    hp: Mapping[str, Any],
    kind: Kind,
) -> None:
    """Constructor arguments without defaults that neither the spec nor the user supplies."""
    try:
        params = list(inspect.signature(target.factory).parameters.values())[1:]
    except (TypeError, ValueError):
        return
    supplied = set(hp) | set(target.fixed) | ({"lr"} if kind == "optimizer" else set())
    if spec is not None:
        supplied |= {d.name for d in spec.space}
    missing = [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in supplied
    ]
    if missing:
        raise TargetError(
            f"{target.label} requires {', '.join(missing)}: give a value with --hp NAME=VALUE"
            + ("" if spec is not None else " (or name its reference with --like)")
        )


# --- set-up calls ------------------------------------------------------------------------------


def _names(setup: Iterable[str] | str) -> list[str]:
    return [setup] if isinstance(setup, str) else list(setup)


def _with_setup(
    target: OptimizerTarget,
    spec: OptimizerRecord | ScheduleSpec | None,
    made: Any,
    setup: Iterable[str] | str | None,
    notes: list[str],
) -> OptimizerTarget:
    """``target`` calling ``setup`` (the user's, else the record's) on every optimizer it
    builds; a name that is no method of what the probe built is a usage error. The probe
    itself builds without them: a set-up call that raises is the first check's finding."""
    given = setup is not None and bool(_names(setup))
    names = _names(setup) if given else list(getattr(spec, "setup", ()))
    whose = "--setup" if given else f"the {getattr(spec, 'name', '')} record"
    lacking = []
    for name in names:
        if not (isinstance(name, str) and name.isidentifier()):
            raise ConfigError(f"--setup {name!r}: not a method name")
        if made is not None and not callable(getattr(made, name, None)):
            if given:
                raise ConfigError(f"--setup {name}: {target.label} has no method {name}()")
            lacking.append(name)
    if lacking:  # a record's call the target does without (schedulefree's Closure classes)
        names = [n for n in names if n not in lacking]
        calls = ", ".join(f"{n}()" for n in lacking)
        notes.append(f"{calls} not called: {whose} declares it, {target.label} has no such method")
    if not names:
        hinted = [m for m in catalog.declared_setup() if callable(getattr(made, m, None))]
        if hinted and not given:  # e.g. schedulefree's, validated without --like
            calls = ", ".join(f"{m}()" for m in hinted)
            notes.append(
                f"{target.label} has {calls}, which records of the catalog call once built "
                f"(Schedule-Free): if it needs them, say so with --setup {hinted[0]}"
            )
        return target
    calls = ", ".join(f"{n}()" for n in names)
    notes.append(f"{calls} called on the optimizer once built, in every check ({whose})")
    return dataclasses.replace(target, setup=tuple(names))


# --- the start-up probe --------------------------------------------------------------------------


def probe_hp(ctx: Context) -> dict[str, Any]:
    """What the probe builds the target with: the spec's defaults (for the keywords it is
    handed) under the user's; without a spec, lr = 1e-2 as the contract checks use."""
    target, spec = ctx.target, ctx.spec
    if spec is not None:
        base = {k: v for k, v in spec.defaults.items() if target.accepts(k)}
    elif isinstance(target, OptimizerTarget) and target.accepts("lr"):
        base = {"lr": LR_WITHOUT_SPEC}
    else:
        base = {}
    return {**base, **ctx.settings.fixed_hp}


def _probe(ctx: Context) -> tuple[CheckResult | None, Any]:
    """Build the target once: (a violation standing for every check, or None; what was
    built). A constructor that raises is the target's fault; one that returns something other
    than an optimizer is a target error."""
    target, hp = ctx.target, probe_hp(ctx)
    if isinstance(target, OptimizerTarget):
        shape = fit_shape(registry.limits_of(ctx), (3,))
        param = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64))
        try:
            made = target.make([param], hp)
        except Exception as exc:  # noqa: BLE001 - the target's constructor is at fault
            return _construct_failure(exc), None
        if not isinstance(made, torch.optim.Optimizer):
            raise TargetError(f"{target.label} returned {type(made).__name__}, not an Optimizer")
        return None, made
    from optcheck.checks.kit.schedules import make_optimizer

    _, opt = make_optimizer(0.1)
    try:
        return None, target.make(opt, hp)
    except Exception as exc:  # noqa: BLE001
        return _construct_failure(exc), None


def parse_shapes_option(shapes: str | None) -> tuple[tuple[str, ...] | None, bool]:
    """--shapes as (the kinds drawn, matrices only); None: every kind. A usage error is one
    ConfigError line naming the vocabulary."""
    if shapes is None:
        return None, False
    try:
        return parse_shapes(shapes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def matrices_only(spec: OptimizerRecord) -> OptimizerRecord:
    """The record with its cases drawn as matrices (--shapes matrices)."""
    if spec.param_ndims is not None and 2 not in spec.param_ndims:
        raise ConfigError(f"--shapes matrices: {spec.name} steps no matrices")
    return dataclasses.replace(spec, param_ndims=(2,))


def _infer_limits(ctx: Context, notes: list[str]) -> Limits | None:
    """Without a record, the ranks the target takes, from its constructor alone (nothing here
    may step it: a step() that hangs must hang a check, inside its time limit, not the set-up):
    one that rejects a vector but takes a matrix (torch's Muon) gets matrices only, said in a
    note. Whether step() takes only sparse gradients is probed by the first contract check
    (checks.kit.contract.ensure_limits)."""
    hp = probe_hp(ctx)

    def builds(shape: tuple[int, ...]) -> str | None:
        try:
            ctx.target.make([torch.nn.Parameter(torch.ones(shape, dtype=torch.float64))], hp)
        except Exception as exc:  # noqa: BLE001 - what the target raises is the evidence
            return f"{type(exc).__name__}: {exc}".splitlines()[0]
        return None

    vector = builds((3,))
    if vector is None or builds((3, 2)) is not None:
        return None  # vectors are fine, or nothing builds: the probe reports it
    notes.append(
        f"the target rejects vectors ({vector}) and builds on matrices: the contract draws "
        "matrices only"
    )
    return Limits(param_ndims=(2,))


def _construct_failure(exc: BaseException) -> CheckResult:
    message = f"constructing the target raised {type(exc).__name__}: {exc}".splitlines()[0]
    return CheckResult("construct", "the target can be constructed", "violation", message)


__all__ = [
    "ConfigError",
    "Prepared",
    "UnknownLike",
    "parse_hp",
    "prepare",
    "resolve_like",
    "settings_for",
]
