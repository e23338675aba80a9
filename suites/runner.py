"""Run every applicable check against a target and collect a Report.

This is ``optcheck.validate``: the CLI, the pytest plugin and the nox session all call it.
"""

from __future__ import annotations

import ast
import inspect
import platform
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version
from typing import Any

import numpy as np
import torch

from optcheck.checks import catalog, profiles, registry
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.findings import known_finding
from optcheck.checks.records import OptimizerRecord
from optcheck.checks.registry import Check, Context, Settings
from optcheck.checks.result import CheckResult, Report
from optcheck.checks.target import OptimizerTarget, ScheduleTarget
from optcheck.reference.spec import ScheduleSpec, Variant
from optcheck.suites.target import TargetError, load

VALIDATE_PROFILE = "ci"


class UnknownLike(ValueError):
    pass


def resolve_like(like: str | None) -> tuple[OptimizerRecord | ScheduleSpec | None, Variant | None]:
    if like is None:
        return None, None
    try:
        return catalog.find(like)
    except KeyError:
        raise UnknownLike(f"unknown --like {like!r}; known: {', '.join(catalog.names())}") from None


def parse_hp(items: Iterable[str]) -> dict[str, Any]:
    """``name=value`` pairs; values are Python literals (0.9, (0.9, 0.99), True) or strings."""
    hp: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValueError(f"--hp {item!r} must look like name=value")
        try:
            hp[name.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            hp[name.strip()] = raw.strip()
    return hp


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
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(profiles.EXAMPLES)}")
    return Settings(
        max_examples=max_examples or profiles.EXAMPLES[name],
        seed=seed,
        dtype=dtype,
        device=device,
        fixed_hp=dict(hp or {}),
        timeout=timeout,
    )


def _missing_required(ctx: Context) -> list[str]:
    """Constructor arguments without defaults that neither the spec nor --hp supplies."""
    try:
        params = list(inspect.signature(ctx.target.factory).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    supplied = set(ctx.settings.fixed_hp) | {"lr"}  # checks always pass an lr
    if ctx.spec is not None:
        supplied |= {d.name for d in ctx.spec.space}
    return [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in supplied
    ]


def _probe(ctx: Context) -> CheckResult | None:
    """Build the target once with default hyper-parameters; a failure is a violation that
    stands for every check (they would all fail the same way)."""
    target = ctx.target
    missing = _missing_required(ctx)
    if missing:
        raise TargetError(
            f"{target.label} requires {', '.join(missing)}: give a value with --hp NAME=VALUE"
            + ("" if ctx.spec is not None else " (or name its reference with --like)")
        )
    hp = dict(ctx.settings.fixed_hp)
    if isinstance(target, OptimizerTarget):
        if ctx.spec is not None:
            hp = {k: v for k, v in {**ctx.spec.defaults, **hp}.items() if target.accepts(k)}
        param = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        try:
            made = target.make([param], hp)
        except Exception as exc:  # noqa: BLE001 - the target's constructor is at fault
            return _construct_failure(exc)
        if not isinstance(made, torch.optim.Optimizer):
            raise TargetError(f"{target.label} returned {type(made).__name__}, not an Optimizer")
        return None
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    if ctx.spec is not None and not hp:
        return None  # schedule checks draw their own parameters; many have no defaults
    try:
        target.make(opt, hp)
    except Exception as exc:  # noqa: BLE001
        return _construct_failure(exc)
    return None


def _construct_failure(exc: BaseException) -> CheckResult:
    message = f"constructing the target raised {type(exc).__name__}: {exc}".splitlines()[0]
    return CheckResult("construct", "the target can be constructed", "violation", message)


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

    Raises TargetError or ValueError for bad input; returns a Report otherwise.
    """
    start = time.perf_counter()
    spec, variant = resolve_like(like)
    kind = None
    if spec is not None:
        kind = "optimizer" if isinstance(spec, OptimizerRecord) else "schedule"
    tgt = load(target, kind) if isinstance(target, str) else target
    kind = "optimizer" if isinstance(tgt, OptimizerTarget) else "schedule"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here")
    settings = settings_for(
        profile=profile,
        max_examples=max_examples,
        seed=seed,
        dtype=dtype,
        device=device,
        hp=hp,
        timeout=timeout,
    )
    ctx = Context(target=tgt, spec=spec, variant=variant, settings=settings)
    report = Report(
        target=tgt.label,
        like=like,
        settings={**vars(settings), "profile": profile or VALIDATE_PROFILE},
        environment=environment(),
    )
    failure = _probe(ctx)
    checks = registry.applicable(kind, spec)
    prefixes = tuple(select)
    if prefixes:
        checks = [c for c in checks if c.id.startswith(prefixes)]
    if failure is not None:
        report.results.append(failure)
    else:
        for check in checks:
            result = mark_known(run_check(check, ctx), ctx)
            report.results.append(result)
            if progress is not None:
                progress(result)
        report.matches = identify_variants(ctx, report)
    report.seconds = time.perf_counter() - start
    return report


def mark_known(result: CheckResult, ctx: Context) -> CheckResult:
    """A violation by torch's own class that is a documented torch finding becomes "known"."""
    if result.verdict != "violation":
        return result
    why = known_finding(
        ctx.target,
        result.id,
        ctx.settings.fixed_hp,
        ctx.settings.device,
        result.detail,
        ctx.settings.dtype,
    )
    if why is not None:
        result.verdict = "known"
        result.detail = f"known torch finding: {why} — {result.detail}"
    return result


def identify_variants(ctx: Context, report: Report) -> list[str]:
    """When the trajectory comparison fails, which named variants does the target match?

    Rebuilt from the minimal failing case and probes around it, so "behaves like" names a
    formula, not a guess ("Adam:keras-eps-hat: Keras/TF Adam ...")."""
    if not isinstance(ctx.spec, OptimizerRecord):
        return []
    failed = [r for r in report.results if r.id.startswith("crossval.") and r.failed]
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


__all__ = ["validate", "TargetError", "UnknownLike", "parse_hp", "Report"]
