"""Hand reproductions shared by the real-package record tests: each runs the package's class
directly, outside optcheck, so that a verdict is believed only when plain torch shows it too."""

from __future__ import annotations

import copy
from typing import Any

import hypothesis
import torch

from optcheck.checks.kit.registry import CHECKS, execute
from optcheck.suites.prepare import prepare


def grad_after_step(cls: type, g: torch.Tensor, **hp: Any) -> torch.Tensor:
    """p.grad after one step of ``cls([p], **hp)`` from p = 1 with p.grad = g."""
    p = torch.nn.Parameter(torch.ones_like(g))
    p.grad = g.clone()
    cls([p], **hp).step()
    return p.grad


def deepcopy_step_error(cls: type, **hp: Any) -> BaseException | None:
    """What step() of a deep copy (taken after one step) raises, or None."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = cls([p], **hp)
    p.grad = torch.ones(3)
    opt.step()
    clone = copy.deepcopy(opt)
    clone.param_groups[0]["params"][0].grad = torch.ones(3)
    try:
        clone.step()
    except Exception as exc:  # the finding is the exception itself
        return exc
    return None


def assert_deepcopy_loses(cls: type, path: str, like: str, attribute: str) -> None:
    """By hand: Optimizer.__getstate__ keeps defaults, state and param_groups only, so a deep
    copy loses what __init__ set on self and its step() raises AttributeError naming it; and
    ``optcheck validate PATH --like LIKE`` reports it (contract.resume, via deepcopy)."""
    error = deepcopy_step_error(cls, lr=1e-3)
    assert isinstance(error, AttributeError) and attribute in str(error), error
    ctx = prepare(path, like, max_examples=hypothesis.settings.default.max_examples).context
    result = execute(CHECKS["contract.resume"], ctx)
    assert result.verdict == "violation" and "deepcopy" in result.detail, result.detail
