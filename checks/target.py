"""What checks run against: an optimizer factory or a scheduler factory, plus how to name it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from optcheck.checks.harness import MakeOptimizer


def _accepted_keywords(fn: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword names ``fn`` takes; None when it takes **kwargs (anything may work)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return frozenset(
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


@dataclass(frozen=True)
class OptimizerTarget:
    """``factory(params, **hp) -> torch.optim.Optimizer``: a class or a function.

    ``fixed`` keywords are always passed (foreach=True, fused=True for torch's
    implementations). ``import_path`` (``module:Attr``) lets evidence snippets import it.
    """

    label: str
    factory: Callable[..., torch.optim.Optimizer]
    import_path: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, keyword: str) -> bool:
        known = _accepted_keywords(self.factory)
        return known is None or keyword in known

    def missing(self, keywords: tuple[str, ...]) -> list[str]:
        return [k for k in keywords if not self.accepts(k)]

    def make(
        self, params: list[torch.nn.Parameter], hp: Mapping[str, Any]
    ) -> torch.optim.Optimizer:
        return self.factory(params, **{**hp, **self.fixed})

    def maker(self, hp: Mapping[str, Any]) -> MakeOptimizer:
        return lambda params: self.make(params, hp)


@dataclass(frozen=True)
class ScheduleTarget:
    """``factory(optimizer, **params) -> LRScheduler`` following torch's convention."""

    label: str
    factory: Callable[..., Any]
    import_path: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, keyword: str) -> bool:
        known = _accepted_keywords(self.factory)
        return known is None or keyword in known

    def missing(self, keywords: tuple[str, ...]) -> list[str]:
        return [k for k in keywords if not self.accepts(k)]

    def make(self, optimizer: torch.optim.Optimizer, params: Mapping[str, Any]) -> Any:
        return self.factory(optimizer, **{**params, **self.fixed})


Target = OptimizerTarget | ScheduleTarget
