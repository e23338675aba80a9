"""Run every applicable check against a target and collect a Report.

This is ``optcheck.validate`` (the CLI runs the same supervised worker, the pytest plugin the
same checks item by item). The configuration (target, --like, --hp, the probe) comes from
``optcheck.suites.prepare``.
"""

from __future__ import annotations

import math
import pickle
import platform
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version
from typing import Any

import numpy as np
import torch

from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.findings import known_finding
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Check, Context
from optcheck.checks.records import OptimizerRecord
from optcheck.checks.result import CheckResult, Report
from optcheck.checks.target import OptimizerTarget, ScheduleTarget, import_name
from optcheck.suites import supervise
from optcheck.suites.hp import MAX_SECONDS
from optcheck.suites.prepare import (
    VALIDATE_PROFILE,
    ConfigError,
    Prepared,
    UnknownLike,
    parse_hp,
    parse_shapes_option,
    prepare,
    resolve_like,
    settings_for,
)
from optcheck.suites.target import TargetError, label_of


def run_check(check: Check, ctx: Context) -> CheckResult:
    """``registry.execute`` under the per-check timeout; a hung target cannot stall the run."""
    timeout = ctx.settings.timeout
    if not timeout:
        return registry.execute(check, ctx)
    box: dict[str, CheckResult] = {}
    worker = threading.Thread(
        target=lambda: box.setdefault("result", registry.execute(check, ctx)),
        name=f"optcheck:{check.id}",
        daemon=True,  # an abandoned hung check must not keep the process alive
    )
    worker.start()
    worker.join(timeout)
    if "result" in box:
        return box["result"]
    return CheckResult(
        check.id,
        check.title,
        "violation",
        f"timed out after {timeout:g} s (the target hangs)",
        seconds=float(timeout),
    )


def validate(
    target: Any,
    like: str | None = None,
    *,
    hp: Mapping[str, Any] | Iterable[str] | None = None,
    device: str = "cpu",
    dtype: str = "float64",
    max_examples: int | None = None,
    seed: int = 0,
    profile: str | None = None,
    timeout: float | None = 60.0,
    total_timeout: float | None = 1800.0,
    warmup: float = 0.0,
    select: Iterable[str] | str = (),
    progress: Callable[[CheckResult], None] | None = None,
    in_process: bool = False,
    setup: Iterable[str] | str = (),
    shapes: str | None = None,
    create_graph: bool = False,
    jobs: int | None = None,
) -> Report:
    """Validate ``target`` against the generic contract and, with ``like``, the reference.

    ``target`` is ``"module.path:Attr"``, an optimizer or scheduler class, or a factory
    ``f(params, **hp)`` (``f(optimizer, **params)`` with a schedule's ``like``); ``hp`` a
    mapping or ``"NAME=VALUE"`` strings, as ``--hp``; ``setup`` methods called on the optimizer
    once built, as ``--setup`` (``"train"`` for schedulefree's; a record may declare them).
    ``shapes`` restricts the parameter kinds drawn, as ``--shapes`` (``"no-complex"``,
    ``"matrices"``). ``create_graph`` hands gradients over with an autograd graph, as
    ``--create-graph`` (checks.kit.harness.graph_grad).

    Where it runs. A string, or a class or factory that a fresh process imports as this very
    object under its ``__module__`` and ``__qualname__``, runs in a supervised worker process,
    as with ``optcheck validate``: an exit, crash or hang of the target is a violation in the
    report, ``timeout`` bounds each check and ``total_timeout`` the run. Anything else runs in
    this process and the report's first note says so: an object defined in a function or in
    ``__main__`` (a script, a notebook), a lambda or ``functools.partial``, an
    ``OptimizerTarget``/``ScheduleTarget``, ``hp`` values that cannot be pickled, or
    ``in_process=True`` (a debugger, state shared with the caller). There a hung check is
    abandoned on its thread after ``timeout``, ``total_timeout`` does not apply, and a target
    that exits or crashes ends this process.

    ``jobs``: worker processes running checks side by side, started at once, as ``--jobs``
    (default: a second one where a CPU is free, once the run proves long:
    supervise._Helpers); the report is the same, in the checks' order.

    ``warmup``: seconds the first step() of each new optimizer may take outside ``timeout``
    (a target compiling itself on its first call, as heavyball does); in this process they
    are added to each check's ``timeout`` instead.

    Raises TargetError, or ConfigError (a ValueError) for a usage mistake, one line, before
    any check runs; returns a Report otherwise.
    """
    start = time.perf_counter()
    # Usage mistakes that need no target, here and before any process starts.
    settings_for(
        profile=profile, max_examples=max_examples, seed=seed, dtype=dtype, device=device,
        timeout=timeout,
    )  # fmt: skip
    parse_shapes_option(shapes)
    if total_timeout is not None and not (
        math.isfinite(total_timeout) and 0 <= total_timeout <= MAX_SECONDS
    ):
        raise ConfigError(
            f"total_timeout must be between 0 and {MAX_SECONDS:g} s, got {total_timeout!r}"
        )
    hp = [hp] if isinstance(hp, str) else hp  # one NAME=VALUE, not its characters
    select = [select] if isinstance(select, str) else list(select)
    if not (math.isfinite(warmup) and 0 <= warmup <= MAX_SECONDS):
        raise ConfigError(f"warmup must be between 0 and {MAX_SECONDS:g} s, got {warmup!r}")
    setup = [setup] if isinstance(setup, str) else list(setup)
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    name, why = _where(target, hp, in_process)
    if name is None:
        prepared = prepare(
            target, like, hp, device=device, dtype=dtype, max_examples=max_examples, seed=seed,
            profile=profile, timeout=timeout + warmup if timeout else timeout,
            setup=setup or None, shapes=shapes, create_graph=create_graph,
        )  # fmt: skip
        report = run(prepared, select=select, progress=progress, start=start)
        report.notes.insert(
            0,
            f"ran in this process, not in a supervised worker ({why}): an exit or crash of "
            "the target would end this process, and a hung check is left running on a thread",
        )
        return report
    config = supervise.Config(
        target=name, like=like, hp=dict(hp) if isinstance(hp, Mapping) else list(hp or []),
        device=device, dtype=dtype, max_examples=max_examples, seed=seed, profile=profile,
        timeout=timeout or None, select=select, warmup=warmup, setup=setup,
        shapes=shapes, create_graph=create_graph,
    )  # fmt: skip
    try:
        return supervise.run(
            config, total=total_timeout or None, progress=progress, start=start, jobs=jobs
        )
    except supervise.UsageFromWorker as exc:
        raise (TargetError if exc.kind == "target" else ConfigError)(str(exc)) from None


def _where(target: Any, hp: Any, in_process: bool) -> tuple[str | None, str]:
    """(the name a worker imports ``target`` by, or None and why it runs in this process)."""
    if in_process:
        return None, "in_process=True"
    if isinstance(target, (OptimizerTarget, ScheduleTarget)):
        return None, f"{target.label} was handed over as a {type(target).__name__}"
    try:
        pickle.dumps(dict(hp) if isinstance(hp, Mapping) else hp)
    except Exception:  # noqa: BLE001 - whatever pickling raises, the values stay here
        return None, "its hp values cannot be sent to another process"
    if isinstance(target, str):
        return target, ""
    name = import_name(target)
    if name is None:
        return None, (
            f"{label_of(target)} cannot be imported by name in another process: defined in a "
            "function or in __main__, a lambda, or not what its __module__ and __qualname__ name"
        )
    return name, ""


def run(
    prepared: Prepared,
    *,
    select: Iterable[str] = (),
    progress: Callable[[CheckResult], None] | None = None,
    start: float | None = None,
) -> Report:
    """Run the applicable checks (those ``select`` names) of a prepared configuration."""
    start = time.perf_counter() if start is None else start
    ctx = prepared.context
    report = Report(
        target=prepared.target.label,
        like=prepared.like,
        settings={**vars(ctx.settings), "profile": prepared.profile, "hp": dict(prepared.hp)},
        environment=environment(),
        notes=list(prepared.notes),
    )
    if prepared.failure is not None:
        report.results.append(prepared.failure)
    else:
        for check in prepared.checks(select):
            result = mark_known(run_check(check, ctx), ctx)
            report.results.append(result)
            if progress is not None:
                progress(result)
        report.matches = identify_variants(ctx, report.results)
    report.seconds = time.perf_counter() - start
    return report


def mark_known(result: CheckResult, ctx: Context) -> CheckResult:
    """A violation by torch's own class that is a documented torch finding becomes "known"."""
    if result.verdict != "violation":
        return result
    # The code path is the failing case's (foreach, fused may be drawn), else the run's.
    case = result.evidence.case if result.evidence is not None else None
    drawn = case.get("hp") if isinstance(case, dict) else None
    why = known_finding(
        ctx.target,
        result.id,
        {**ctx.settings.fixed_hp, **(drawn if isinstance(drawn, dict) else {})},
        ctx.settings.device,
        result.detail,
        ctx.settings.dtype,
    )
    if why is not None:
        result.verdict = "known"
        result.detail = f"known torch finding: {why} — {result.detail}"
    return result


def identify_variants(ctx: Context, results: Iterable[CheckResult]) -> list[str]:
    """When the trajectory comparison fails, which named variants does the target match?

    Rebuilt from the minimal failing case and probes around it, so "behaves like" names a
    formula, not a guess ("Adam:keras-eps-hat: Keras/TF Adam ...")."""
    if not isinstance(ctx.spec, OptimizerRecord):
        return []
    # a violation only: an error (the reference raised) compared nothing
    failed = [r for r in results if r.id.startswith("crossval.") and r.verdict == "violation"]
    for result in failed:
        case = evidence_case(result)
        if case is None:
            continue
        names = behaves_like(ctx, case)
        descriptions = {v.name: v.description for v in ctx.spec.variants}
        descriptions[ctx.spec.name] = f"the {ctx.spec.name} reference itself"
        return [f"{ctx.spec.name}:{n} — {descriptions.get(n, '')}".rstrip(" —") for n in names]
    return []


def environment() -> dict[str, str]:
    return {
        "optcheck": version("optcheck"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


__all__ = [
    "validate",
    "run",
    "prepare",
    "Prepared",
    "ConfigError",
    "TargetError",
    "UnknownLike",
    "parse_hp",
    "resolve_like",
    "settings_for",
    "Report",
    "VALIDATE_PROFILE",
]
