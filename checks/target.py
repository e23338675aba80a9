"""What checks run against: an optimizer factory or a scheduler factory, plus how to name it."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from optcheck.checks.kit.harness import MakeOptimizer


def import_name(obj: Any) -> str | None:
    """``module:qualname`` under which a fresh process imports this very object, or None.

    None for what no import reaches (defined in a function, a lambda, ``__main__``'s, a
    module not found through the import system) and for an object whose ``__module__`` or
    ``__qualname__`` name something else (a class claiming to be torch.optim's). Imports
    nothing: the module must be loaded already, as it is when ``obj`` came from it."""
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qual, str)) or module == "__main__":
        return None
    if "<" in qual or module not in sys.modules:
        return None
    if not _findable(module.partition(".")[0]):
        return None  # loaded from a file by hand: a fresh process would not find it
    found: Any = sys.modules[module]
    for part in qual.split("."):
        found = getattr(found, part, None)
    return f"{module}:{qual}" if found is obj else None


def _findable(top: str) -> bool:
    """Whether the import system finds the top-level module ``top`` (not from sys.modules)."""
    for finder in sys.meta_path:
        try:
            if finder.find_spec(top, None) is not None:
                return True
        except Exception:  # noqa: BLE001 - a third-party finder's failure: not found by it
            continue
    return False


@functools.lru_cache(maxsize=256)
def _signature_keywords(fn: Callable[..., Any]) -> tuple[frozenset[str], bool] | None:
    """(keywords ``fn`` names, whether it also takes **kwargs); None when it has no signature."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    named = frozenset(
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    return named, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def signature_keywords(fn: Callable[..., Any]) -> tuple[frozenset[str], bool] | None:
    try:
        return _signature_keywords(fn)
    except TypeError:  # an unhashable callable: not cached
        return _signature_keywords.__wrapped__(fn)


class _Keywords:
    """Which constructor keywords a target is handed (shared by both kinds of target).

    A target naming its keywords gets those. A target taking ``**kwargs`` would take anything;
    once prepared (``optcheck.suites.prepare``) its ``keywords`` lists what it is handed beyond
    the keywords it names: the user's and those a check needs (``allowing``). ``None`` (not
    prepared): any keyword.
    """

    factory: Callable[..., Any]
    keywords: frozenset[str] | None

    def named_keywords(self) -> frozenset[str] | None:
        """Keywords the factory names; None when it has no signature to read."""
        sig = signature_keywords(self.factory)
        return None if sig is None else sig[0]

    def takes_var_keywords(self) -> bool:
        sig = signature_keywords(self.factory)
        return sig is None or sig[1]

    def accepts(self, keyword: str) -> bool:
        sig = signature_keywords(self.factory)
        if sig is None:
            return True
        named, var = sig
        if keyword in named:
            return True
        return var and (self.keywords is None or keyword in self.keywords)

    def missing(self, keywords: tuple[str, ...]) -> list[str]:
        return [k for k in keywords if not self.accepts(k)]

    def allowing(self, keywords: Iterable[str]) -> Any:
        """This target also handed ``keywords`` (a check's needs) when it takes **kwargs."""
        extra = frozenset(keywords)
        if self.keywords is None or extra <= self.keywords or not self.takes_var_keywords():
            return self
        return dataclasses.replace(self, keywords=self.keywords | extra)  # type: ignore[type-var]


@dataclass(frozen=True)
class OptimizerTarget(_Keywords):
    """``factory(params, **hp) -> torch.optim.Optimizer``: a class or a function.

    ``fixed`` keywords are always passed (foreach=True, fused=True for torch's
    implementations; keywords of the user's that the reference does not know).
    ``import_path`` (``module:Attr``) lets evidence snippets import it. ``per_group``: the
    keywords the target keeps in each param group (read off ``param_groups[0]`` after a
    construction); None: unknown, every keyword may be drawn per group. ``setup``: methods
    called on each optimizer right after it is built (``--setup train``), checked by prepare.
    ``closure_step``: step() requires a closure (schedulefree's Closure forms, whose record
    says so): a plain ``step()`` passes ``leave_gradients``, so the gradients the checks set
    drive it open-loop, and a closure given is passed on.
    """

    label: str
    factory: Callable[..., torch.optim.Optimizer]
    import_path: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    keywords: frozenset[str] | None = None
    per_group: frozenset[str] | None = None
    setup: tuple[str, ...] = ()
    closure_step: bool = False

    def keeps_per_group(self, keyword: str) -> bool:
        return self.per_group is None or keyword in self.per_group

    def make(
        self, params: list[torch.nn.Parameter], hp: Mapping[str, Any]
    ) -> torch.optim.Optimizer:
        with _numpy_state_kept() as kept:
            opt = self.factory(params, **{**hp, **self.fixed})
            for name in self.setup:
                getattr(opt, name)()
        if self.closure_step and isinstance(opt, torch.optim.Optimizer):
            # a subclass, not an instance attribute: deep copies and LR schedulers (which wrap
            # ``opt.step.__func__``) keep it
            opt.__class__ = given_a_closure(type(opt))
        if isinstance(opt, torch.optim.Optimizer):
            opt.register_step_post_hook(lambda *_: np.seterr(**kept))
        return opt

    def maker(self, hp: Mapping[str, Any]) -> MakeOptimizer:
        return lambda params: self.make(params, hp)


def leave_gradients() -> None:
    """The closure a closure-only step() gets: the gradients were set before the call (the
    open-loop sequence, taken wherever the closure is evaluated); no loss."""
    return None


@functools.cache
def given_a_closure(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """``cls`` whose step() without a closure is given ``leave_gradients`` (same name)."""

    def step(self: Any, closure: Callable[[], Any] | None = None) -> Any:
        return super(sub, self).step(leave_gradients if closure is None else closure)

    sub = type(cls.__name__, (cls,), {"step": step, "__qualname__": cls.__qualname__})
    sub.__module__ = cls.__module__
    return sub


@dataclass(frozen=True)
class ScheduleTarget(_Keywords):
    """``factory(optimizer, **params) -> LRScheduler`` following torch's convention."""

    label: str
    factory: Callable[..., Any]
    import_path: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    keywords: frozenset[str] | None = None

    def make(self, optimizer: torch.optim.Optimizer, params: Mapping[str, Any]) -> Any:
        with _numpy_state_kept():
            return self.factory(optimizer, **{**params, **self.fixed})


@contextlib.contextmanager
def _numpy_state_kept() -> Iterator[dict[str, str]]:
    """NumPy's error handling as it was, whatever the target's code sets: a target leaving
    ``np.seterr(all="raise")`` behind must not turn the checks' own arithmetic (reference
    steps, tolerances) into FloatingPointErrors blamed on it. Its optimizer's steps restore
    it too (a post hook), as they may set it as well."""
    kept = np.geterr()
    try:
        yield kept
    finally:
        np.seterr(**kept)


Target = OptimizerTarget | ScheduleTarget
