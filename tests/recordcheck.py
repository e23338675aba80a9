"""Running one check of a catalog record, for the record tests of algorithms torch does not
ship (a zoo port through the harness, or a real package as ``optcheck validate`` runs it)."""

from __future__ import annotations

import copy
from typing import Any

import hypothesis
import torch

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


# --- hand reproductions of the findings real packages share ----------------------------------

GRAD = (1.0, -2.0, 3.0)


def grad_after_step(cls: type, **hp: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of ``cls([p], **hp)`` from θ = (1, 1, 1) with g = (1, −2, 3): (g, p.grad
    after the step), which a conforming optimizer leaves equal."""
    p = torch.nn.Parameter(torch.ones(3))
    g = torch.tensor(GRAD)
    p.grad = g.clone()
    cls([p], **hp).step()
    return g, p.grad


def deepcopy_then_step(cls: type, **hp: Any) -> None:
    """Step, deep-copy the optimizer, step the copy: raises what the copy's step raises
    (Optimizer.__getstate__ keeps defaults, state and param_groups only, so attributes an
    __init__ sets on self are lost)."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = cls([p], **hp)
    p.grad = torch.ones(3)
    opt.step()
    clone = copy.deepcopy(opt)
    clone.param_groups[0]["params"][0].grad = torch.ones(3)
    clone.step()
