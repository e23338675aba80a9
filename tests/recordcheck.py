"""Running one check of a catalog record, for the record tests of algorithms torch does not
ship (a zoo port through the harness, or a real package as ``optcheck validate`` runs it)."""

from __future__ import annotations

from typing import Any

import hypothesis

from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
from optcheck.checks.records import OptimizerRecord
from optcheck.checks.target import OptimizerTarget
from optcheck.suites.prepare import prepare

registry.load_all()


def target(cls: type, path: str | None = None) -> OptimizerTarget:
    """A class of tests/zoo (or a real package's, with its import path) as a target."""
    return OptimizerTarget(cls.__name__, cls, path or f"{cls.__module__}:{cls.__name__}")


def context(
    record: OptimizerRecord, tgt: OptimizerTarget, dtype: str = "float64", examples: int = 0
) -> Context:
    examples = examples or hypothesis.settings.default.max_examples
    return Context(tgt, record, settings=Settings(max_examples=examples, dtype=dtype))


def prepared(
    path: str, like: str, hp: dict[str, Any] | None = None, dtype: str = "float64"
) -> Context:
    """The context ``optcheck validate PATH --like LIKE --hp ... --dtype DTYPE`` runs its
    checks in (keywords the target keeps per group learned by prepare)."""
    examples = hypothesis.settings.default.max_examples
    return prepare(path, like, hp, dtype=dtype, max_examples=examples).context


def run(ctx: Context, check_id: str):
    return execute(CHECKS[check_id], ctx)


def named(ctx: Context) -> list[str]:
    """The variants that crossval.trajectory's evidence names for a failing target."""
    return behaves_like(ctx, evidence_case(run(ctx, "crossval.trajectory")))
