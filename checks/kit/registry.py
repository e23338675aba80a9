"""Checks: registration, the context they run in, and the hypothesis driver that turns a
failing property into evidence (minimal case, step, expected vs got, snippet).

A check is a plain function ``fn(ctx) -> CheckResult``; most are written as a property over
drawn cases and use ``run_property``. Modules named ``*_checks.py`` in optcheck.checks
register their checks on import (``load_all``), so adding a check touches one file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import pkgutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import hypothesis
import torch
from hypothesis import strategies as st

from optcheck.checks.kit.harness import graph_gradients, shape_kinds_left_out, sparse_gradients
from optcheck.checks.records import Limits, OptimizerRecord, ScheduleSpec
from optcheck.checks.result import CheckResult, Evidence
from optcheck.checks.target import OptimizerTarget, ScheduleTarget
from optcheck.reference.spec import CoupledStep, ErrorModel, Variant

Kind = Literal["optimizer", "schedule"]


class Violation(Exception):
    """Raised by a property when the target breaks it; carries the evidence."""

    def __init__(self, evidence: Evidence):
        super().__init__(evidence.message)
        self.evidence = evidence


class NotApplicable(Exception):
    """Raised when the check cannot apply to this target; the message is the reason."""


class ReferenceRaised(BaseException):
    """optcheck's own reference raised on a case: an error of optcheck, never a finding about
    the target. A BaseException (as pytest's outcome exceptions are) so that no ``except
    Exception`` that judges what the target raised can take it for the target's."""

    def __init__(self, cause: BaseException):
        text = str(cause).strip().splitlines()
        super().__init__(f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": "))
        self.cause = cause


@contextlib.contextmanager
def reference_side() -> Iterator[None]:
    """Runs optcheck's reference: what it raises comes out as ReferenceRaised."""
    try:
        yield
    except (NotApplicable, Violation):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the reference is optcheck's
        raise ReferenceRaised(exc) from exc


def as_reference(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a reference step or closed form) with its exceptions made ReferenceRaised."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with reference_side():
            return fn(*args, **kwargs)

    return call


def reference_error(check_: Check, exc: ReferenceRaised, case: Any = None) -> CheckResult:
    """The check could not judge the target: its reference raised (on ``case``, if drawn)."""
    evidence = Evidence(
        f"the reference (optcheck's) raised {exc}: an error of optcheck, not of the target",
        case=None if case is None else describe_case(case),
    )
    return CheckResult(check_.id, check_.title, "error", evidence.message, evidence)


@dataclass
class Settings:
    max_examples: int = 25
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    fixed_hp: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = 60.0
    derandomize: bool = False  # with False, `seed` fixes the draw; True hashes the test source
    # Parameter kinds (checks.kit.kinds.PARAM_KINDS) no check draws a tensor of: the target
    # raises on them or declines them, which contract.param_kinds reports once. None: not
    # probed yet; the first check that draws cases probes (inside its own time limit: a
    # target hanging in step() hangs a check, not the set-up). The probe is the same whoever
    # runs it (fixed seeds, default keywords), so what a check draws does not depend on order.
    skip_kinds: tuple[str, ...] | None = None
    # The crashing combinations of kinds that each step alone, as the probe found them (one kind
    # of each is in skip_kinds); probed with skip_kinds. None: not probed (or skip_kinds given).
    kind_combos: tuple[tuple[str, ...], ...] | None = None
    # Kinds whose tensors never move (contract.param_kinds): the contract's and interplay's
    # cases draw none, cross-validation measures them against the reference. None: not probed.
    stall_kinds: tuple[str, ...] | None = None
    # --shapes: the parameter kinds (checks.kit.kinds.PARAM_KINDS) drawn at all; None:
    # every kind.
    kinds: tuple[str, ...] | None = None
    # torch's default dtype while the checks run (None: leave it); only to run a class past
    # a known default-dtype finding (checks.findings, ``default_dtype``).
    default_dtype: str | None = None
    # What the target's cases must hold when no record says it: the ranks suites.prepare
    # infers from the constructor, sparse gradients the first contract check infers from
    # step() (checks.kit.contract.ensure_limits; limits_probed: done).
    limits: Limits | None = None
    limits_probed: bool = False
    sparse_because: str = ""  # what step() raised on a dense gradient
    # --create-graph: gradients carry an autograd graph (harness.graph_gradients), as
    # loss.backward(create_graph=True) leaves them for Hessian-vector products (Adahessian).
    create_graph: bool = False


@dataclass
class Worst:
    """How close a passing check came to its tolerance: a passing result says it."""

    ratio: float = 0.0
    where: str = ""  # e.g. " in float32": what the ratio was measured in
    seen: bool = False

    def note(self, ratio: float) -> float:
        self.seen, self.ratio = True, max(self.ratio, ratio)
        return ratio


@dataclass
class Context:
    target: OptimizerTarget | ScheduleTarget
    spec: OptimizerRecord | ScheduleSpec | None = None
    # When --like names a variant, comparisons use that variant's formula.
    variant: Variant | None = None
    settings: Settings = field(default_factory=Settings)
    # The running check (set by ``execute``): its id reaches evidence and snippets from here.
    check: Check | None = None
    worst: Worst = field(default_factory=Worst)
    # What the running check drew differently, and why: added to its result's detail.
    notes: list[str] = field(default_factory=list)

    @property
    def check_id(self) -> str:
        if self.check is None:
            raise RuntimeError("no check is running in this context (use registry.execute)")
        return self.check.id

    @property
    def reference(self) -> Callable[..., Any]:
        if self.variant is not None:
            fn = self.variant.fn
            return fn if isinstance(fn, CoupledStep) else as_reference(fn)
        if isinstance(self.spec, OptimizerRecord):
            step = self.spec.step
            # a CoupledStep keeps its type (its drivers step it jointly, under reference_side)
            return step if isinstance(step, CoupledStep) else as_reference(step)
        if isinstance(self.spec, ScheduleSpec):
            return as_reference(self.spec.closed_form)
        raise NotApplicable("needs --like to name a reference")

    @property
    def error_model(self) -> ErrorModel | None:
        """The record's error model run on the formula compared with: the --like variant's
        step where one is named. On the record's own step, a branch the variant takes within
        round-off of its boundary (LAMB:no-bias-correction at ‖θ‖ = 0, reference exactly 0,
        target 1e-17) was bounded by another formula's two sides, and read as a violation."""
        model = self.spec.error_model if isinstance(self.spec, OptimizerRecord) else None
        if model is None or self.variant is None:
            return model
        name = f"{model.name}:{self.variant.name}"
        return dataclasses.replace(model, name=name, step=self.variant.fn)


@dataclass(frozen=True)
class Check:
    id: str  # dotted, grouped by prefix: "adam.first_step", "contract.resume", "crossval.f32"
    title: str
    kind: Kind
    fn: Callable[[Context], CheckResult]
    # An invariant runs only for records that list it (optimizer records list the check
    # functions; schedule specs name them); False: part of the generic contract.
    invariant: bool = False
    # Constructor keywords the check must set; a target rejecting one gets a skip.
    needs: tuple[str, ...] = ()
    # Only with --like (cross-validation needs a reference even if not an invariant).
    needs_reference: bool = False
    # Keywords every case of the check holds at one value (contract.zero_lr's lr = 0): a
    # record whose space excludes them cannot be judged by it (premise_excluded).
    premise: Mapping[str, Any] = field(default_factory=dict)
    # Takes seconds where most checks take a fraction of one: handed out first when checks
    # run side by side (suites.supervise), so that it does not end the run alone.
    long: bool = False


CHECKS: dict[str, Check] = {}


def check(
    id: str,
    title: str,
    *,
    kind: Kind = "optimizer",
    invariant: bool = False,
    needs: tuple[str, ...] = (),
    needs_reference: bool = False,
    premise: Mapping[str, Any] | None = None,
    long: bool = False,
) -> Callable[[Callable[[Context], CheckResult]], Callable[[Context], CheckResult]]:
    def register(fn: Callable[[Context], CheckResult]) -> Callable[[Context], CheckResult]:
        if id in CHECKS and CHECKS[id].fn is not fn:
            raise ValueError(f"check id {id!r} registered twice")
        CHECKS[id] = Check(
            id, title, kind, fn, invariant, needs, needs_reference, dict(premise or {}), long
        )
        fn.check_id = id  # type: ignore[attr-defined]  # records list checks by function
        return fn

    return register


def load_all() -> dict[str, Check]:
    """Import every ``*_checks`` module of optcheck.checks (each registers its checks)."""
    package = importlib.import_module("optcheck.checks")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.endswith("_checks"):
            importlib.import_module(f"optcheck.checks.{info.name}")
    return CHECKS


def applicable(kind: Kind, spec: OptimizerRecord | ScheduleSpec | None) -> list[Check]:
    """The generic contract of ``kind`` plus, with a record, its invariants and comparisons."""
    load_all()
    ids = spec.invariant_ids if spec is not None else frozenset()
    return [
        c
        for c in CHECKS.values()
        if c.kind == kind
        and (c.id in ids if c.invariant else (spec is not None or not c.needs_reference))
    ]


def unknown_invariants(spec: OptimizerRecord | ScheduleSpec) -> set[str]:
    """Invariants a record lists that are not registered invariant checks."""
    load_all()
    return set(spec.invariant_ids) - {i for i, c in CHECKS.items() if c.invariant}


WITHOUT_LR = "the target runs without an lr (--hp lr=None): no lr to set or schedule"


def runs_without_lr(ctx: Context) -> bool:
    """The user said the target takes no lr (transformers' Adafactor with relative_step)."""
    return "lr" in ctx.settings.fixed_hp and ctx.settings.fixed_hp["lr"] is None


def execute(check_: Check, ctx: Context) -> CheckResult:
    """Run one check; skips for missing keywords; an exception from the check is an error.
    Its cases hold no tensor of a shape kind the run leaves out (``shape_kinds_left_out``)."""
    with shape_kinds_left_out(_shape_kinds_left_out(ctx)):
        if (broken := _variant_breaks(check_, ctx)) is not None:
            return skipped(check_, broken)
        return _execute(check_, ctx)


def _shape_kinds_left_out(ctx: Context) -> frozenset[str]:
    """The shape kinds no case of an optimizer's run holds (contract.shape_kinds_left_out:
    --shapes, or a kind step() raises on, told once by contract.param_kinds). Probed on the
    run's target (never a variant's reference: the probe is the run's, kept in its Settings)
    and as its checks step it (``_stepping``: sparse or graph gradients)."""
    if not isinstance(ctx.target, OptimizerTarget) or isinstance(ctx.spec, ScheduleSpec):
        return frozenset()
    from optcheck.checks.kit.contract import shape_kinds_left_out  # it imports the kit

    try:
        with _stepping(ctx):
            return shape_kinds_left_out(ctx)
    except (Exception, ReferenceRaised):  # noqa: BLE001 - the check meets it and says what
        return frozenset()  # a probe that cannot run leaves the draws as they are


def _stepping(ctx: Context) -> contextlib.ExitStack:
    """What a check of ``ctx`` steps the target under: sparse gradients where it takes only
    those, gradients with a graph (--create-graph), one thread, the run's default dtype."""
    lim = limits_of(ctx)
    stack = contextlib.ExitStack()
    stack.enter_context(sparse_gradients(lim is not None and lim.sparse_grads))
    stack.enter_context(graph_gradients(with_graph(ctx)))
    stack.enter_context(one_thread())
    stack.enter_context(default_dtype(ctx.settings.default_dtype))
    return stack


def _variant_breaks(check_: Check, ctx: Context) -> str | None:
    """Why the --like variant does not keep this invariant of its record, or None if it does.
    The variant carries what it keeps in its own formula: the invariant runs first on the
    variant's reference (a ReferenceOptimizer), and one the reference itself fails is not
    the variant's (AdaBelief:coupled-decay is no decoupled decay, so decay.decoupled_pure
    and the closed forms written for decoupled decay do not hold for it)."""
    if not check_.invariant or ctx.variant is None or not isinstance(ctx.spec, OptimizerRecord):
        return None
    from optcheck.checks.reference_optimizer import reference_factory  # it imports the kit

    ref = OptimizerTarget(
        label=f"{ctx.spec.name}:{ctx.variant.name} (reference)",
        factory=reference_factory(ctx.spec, ctx.variant.fn),
    )
    probe = _execute(check_, dataclasses.replace(ctx, target=ref))
    if probe.verdict != "violation":  # a crash or skip of the probe leaves it to the target
        return None
    return (
        f"the variant {ctx.variant.name} does not keep this invariant of {ctx.spec.name}: its "
        f"own reference fails it ({probe.detail.splitlines()[0][:120] if probe.detail else ''})"
    )


def _execute(check_: Check, ctx: Context) -> CheckResult:
    start = time.perf_counter()
    # A prepared target taking **kwargs is handed a check's needs only in that check.
    target = ctx.target.allowing(check_.needs) if check_.needs else ctx.target
    ctx = dataclasses.replace(ctx, target=target, check=check_, worst=Worst(), notes=[])
    if "lr" in check_.needs and runs_without_lr(ctx):
        return skipped(check_, WITHOUT_LR)
    missing = ctx.target.missing(check_.needs)
    if missing:
        return skipped(check_, f"target does not accept {', '.join(map(repr, missing))}")
    if (refused := _refused_through_kwargs(check_, ctx)) is not None:
        return skipped(check_, refused)
    lim = limits_of(ctx)
    if lim is not None and (why := lim.not_applicable(check_.id)):
        return skipped(check_, why)
    if (why := premise_excluded(check_, ctx.spec, ctx.settings.fixed_hp)) is not None:
        return skipped(check_, why)
    try:
        with _stepping(ctx):
            result = check_.fn(ctx)
    except NotApplicable as exc:
        result = skipped(check_, str(exc))
    except Violation as exc:
        result = violated(check_, exc.evidence)
    except ReferenceRaised as exc:
        result = reference_error(check_, exc)
    except Exception as exc:  # noqa: BLE001 - a crash in a check must not lose the others
        result = CheckResult(
            check_.id, check_.title, "error", f"check crashed: {type(exc).__name__}: {exc}"
        )
    if result.verdict == "pass" and ctx.worst.seen:
        result.detail += f"{ctx.worst.where}; worst {ctx.worst.ratio:.2g} of tolerance"
    if ctx.notes and result.verdict != "skip":
        result.detail += "".join(f"; {n}" for n in dict.fromkeys(ctx.notes))
    result.seconds = time.perf_counter() - start
    return result


def premise_excluded(
    check_: Check,
    spec: OptimizerRecord | ScheduleSpec | None,
    fixed_hp: Mapping[str, Any] | None = None,
) -> str | None:
    """Why the record's hyper-parameter space excludes the check's premise (torch's SparseAdam
    raises on lr = 0, and its record keeps that), or None. Without this, every drawn case was
    filtered out and the check skipped as "no valid case could be drawn"."""
    if not check_.premise or not isinstance(spec, OptimizerRecord):
        return None
    why = spec.check_hp({**spec.defaults, **(fixed_hp or {}), **check_.premise})
    if why is None:
        return None
    premise = ", ".join(f"{k} = {v!r}" for k, v in check_.premise.items())
    return f"{spec.name}'s hyper-parameter space excludes this check's premise {premise} ({why})"


def _refused_through_kwargs(check_: Check, ctx: Context) -> str | None:
    """A target taking **kwargs may still refuse keywords it does not name (heavyball raises
    TypeError "unknown keyword arguments: ['maximize']"): it does not take that keyword, so
    the check does not apply, as for a signature without it."""
    if not isinstance(ctx.target, OptimizerTarget) or not ctx.target.takes_var_keywords():
        return None
    named = ctx.target.named_keywords() or frozenset()
    handed = [k for k in check_.needs if k not in named and k != "lr"]
    if not handed:
        return None
    defaults = ctx.spec.defaults if isinstance(ctx.spec, OptimizerRecord) else {}
    param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    base = {k: v for k, v in ctx.settings.fixed_hp.items() if k != "lr" or v is not None}
    for keyword in handed:
        try:
            ctx.target.make([param], {**base, keyword: defaults.get(keyword, False)})
        except TypeError as exc:
            if keyword in str(exc):
                line = str(exc).splitlines()[0] if str(exc) else ""
                return f"target takes **kwargs but refuses {keyword!r} (TypeError: {line})"
        except Exception:  # noqa: BLE001 - another complaint is the check's to judge
            pass
    return None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Checks drive tensors of a few elements: torch's intra-op threads only add contention
    (a bf16 3x4 matmul chain, Muon's NS: ~0.6 ms on one thread, ~80 ms on two busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def with_graph(ctx: Context) -> bool:
    """Whether gradients carry a graph: --create-graph, or the record says so."""
    spec = ctx.spec
    return ctx.settings.create_graph or (isinstance(spec, OptimizerRecord) and spec.create_graph)


def limits_of(ctx: Context) -> OptimizerRecord | Limits | None:
    """What the cases must hold (ranks, sparse gradients): the record's fields, or without
    a record what suites.prepare inferred from the target."""
    if isinstance(ctx.spec, OptimizerRecord):
        return ctx.spec
    return ctx.settings.limits


@contextlib.contextmanager
def default_dtype(name: str | None) -> Iterator[None]:
    before = torch.get_default_dtype()
    if name is not None:
        torch.set_default_dtype(getattr(torch, name))
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def passed(check_: Check, detail: str, examples: int = 0) -> CheckResult:
    return CheckResult(check_.id, check_.title, "pass", detail, examples=examples)


def skipped(check_: Check, reason: str) -> CheckResult:
    return CheckResult(check_.id, check_.title, "skip", reason)


def violated(check_: Check, evidence: Evidence, examples: int = 0) -> CheckResult:
    return CheckResult(check_.id, check_.title, "violation", evidence.message, evidence, examples)


def run_property(
    ctx: Context,
    cases: st.SearchStrategy[Any],
    prop: Callable[[Any], None],
    *,
    max_examples: int | None = None,
) -> CheckResult:
    """Draw cases; ``prop(case)`` raises Violation (or any exception from the target) to fail.

    Hypothesis shrinks the failing case and replays the minimal one last, so the evidence
    kept is the minimal counterexample's. The strategy's fixed cases (``explicit_cases``: flag
    and switch plans) run after the drawn ones, and only if those all pass: hypothesis does
    not shrink a fixed case, so one failing first would stand in for the minimal one.
    """
    check_ = ctx.check
    assert check_ is not None, "run_property runs inside a check (registry.execute)"
    s = ctx.settings
    seen: dict[str, Any] = {"n": 0}

    def test(case: Any) -> None:
        try:
            prop(case)
        except NotApplicable:
            hypothesis.reject()  # a rejected draw is not counted as a checked case
        except ReferenceRaised:
            seen["case"] = case  # not shrunk: hypothesis lets a BaseException through
            raise
        except Violation as exc:
            seen["n"] += 1
            seen["evidence"], seen["case"] = exc.evidence, case
            raise
        except Exception as exc:
            seen["n"] += 1
            message = f"target raised {type(exc).__name__}: {exc}".splitlines()[0]
            seen["evidence"], seen["case"] = Evidence(message), case
            raise
        else:
            seen["n"] += 1

    given = hypothesis.given(cases)(test)
    explicit = explicit_cases(cases)
    runner = hypothesis.settings(
        # the fixed cases count toward the run's examples: the same number of cases in all
        max_examples=max(1, (max_examples or s.max_examples) - len(explicit)),
        derandomize=s.derandomize,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )(given)
    if not s.derandomize:
        runner = hypothesis.seed(s.seed)(runner)
    drawn = True  # some drawn case applied (else hypothesis says Unsatisfiable)
    try:
        try:
            runner()
        except hypothesis.errors.Unsatisfiable:
            drawn = False
        for case in explicit:
            try:
                test(case)
            except hypothesis.errors.UnsatisfiedAssumption:
                continue  # the case does not apply to this check (NotApplicable)
    except ReferenceRaised as exc:
        return reference_error(check_, exc, seen.get("case"))
    except Exception:  # noqa: BLE001 - the evidence was captured in `seen`
        if "evidence" not in seen:
            raise
        evidence = seen["evidence"]
        if evidence.case is None:
            evidence.case = describe_case(seen["case"])
        return violated(check_, evidence, seen["n"])
    if not drawn and not seen["n"]:
        return skipped(check_, "no valid case could be drawn for this target")
    return passed(check_, f"{seen['n']} cases", seen["n"])


def explicit_cases(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """The cases a strategy's ``explicit`` attribute asks every run to contain, run after
    (strategies.cases' flag plans, contract.cases' switch plans)."""
    return getattr(strategy, "explicit", list)()


def first_draw(strategy: st.SearchStrategy[Any]) -> Any:
    """The first value a derandomized run draws from ``strategy``: a fixed case, not shrunk."""
    return hypothesis.find(
        strategy,
        lambda _: True,
        settings=hypothesis.settings(
            max_examples=1,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        ),
    )


def describe_case(case: Any) -> dict[str, Any]:
    """A JSON-able summary of a drawn case (cases may define ``describe()``)."""
    if hasattr(case, "describe"):
        return case.describe()
    if isinstance(case, dict):
        return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in case.items()}
    return {"case": repr(case)}
