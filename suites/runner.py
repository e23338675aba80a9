"""Run every applicable check against a target and collect a Report.

This is ``optcheck.validate``: the CLI and the nox session call it, the pytest plugin runs
the same checks item by item. The configuration (target, --like, --hp, the probe) comes from
``optcheck.suites.prepare``.
"""

from __future__ import annotations

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
from optcheck.checks.target import OptimizerTarget, ScheduleTarget
from optcheck.suites.prepare import (
    VALIDATE_PROFILE,
    ConfigError,
    Prepared,
    UnknownLike,
    parse_hp,
    prepare,
    resolve_like,
    settings_for,
)
from optcheck.suites.target import TargetError


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
    target: str | OptimizerTarget | ScheduleTarget,
    like: str | None = None,
    *,
    hp: Mapping[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "float64",
    max_examples: int | None = None,
    seed: int = 0,
    profile: str | None = None,
    timeout: float | None = 60.0,
    select: Iterable[str] = (),
    progress: Callable[[CheckResult], None] | None = None,
) -> Report:
    """Validate ``target`` (``module:Attr`` or a Target) against the reference ``like``.

    Raises TargetError, or ConfigError (a ValueError) for a usage mistake, before any check
    runs; returns a Report otherwise.
    """
    start = time.perf_counter()
    prepared = prepare(
        target,
        like,
        hp,
        device=device,
        dtype=dtype,
        max_examples=max_examples,
        seed=seed,
        profile=profile,
        timeout=timeout,
    )
    return run(prepared, select=select, progress=progress, start=start)


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
    failed = [r for r in results if r.id.startswith("crossval.") and r.failed]
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
