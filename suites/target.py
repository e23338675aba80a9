"""Load a target named ``module.path:Attr`` and decide what it is.

A target is a torch.optim.Optimizer subclass, a factory ``f(params, **hp) -> Optimizer``, or
an LRScheduler subclass (or a factory ``f(optimizer, **params)`` when --like names a
schedule). Every way this can go wrong becomes a TargetError with one line.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import torch

from optcheck.checks.target import OptimizerTarget, ScheduleTarget, import_name

_SCHEDULER_BASES = tuple(
    b
    for b in (
        getattr(torch.optim.lr_scheduler, "LRScheduler", None),
        getattr(torch.optim.lr_scheduler, "_LRScheduler", None),
        torch.optim.lr_scheduler.ReduceLROnPlateau,
    )
    if b is not None
)


class TargetError(Exception):
    """The target cannot be loaded or is not an optimizer or scheduler (exit code 2)."""


class TargetRaised(TargetError):
    """The target's module raised while being imported: the target's fault, so the CLI
    reports it as a finding (exit code 1); elsewhere a TargetError like any other."""


def parse(path: str) -> tuple[str, str]:
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise TargetError(
            f"target {path!r} must be written module.path:Attr (e.g. torch.optim:Adam)"
        )
    return module, attr


def cwd_importable() -> None:
    """The current directory is importable, as with `python -m`, but after the standard
    library and site-packages: a statistics.py there must not shadow the stdlib's."""
    if "" not in sys.path and "." not in sys.path:
        sys.path.append("")


def resolve(path: str) -> Any:
    """Import ``module`` and follow the dotted ``Attr``; errors become one-line TargetErrors."""
    module_name, attr = parse(path)
    cwd_importable()
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise TargetError(f"cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise TargetRaised(
            f"importing {module_name!r} raised {type(exc).__name__}: {first}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def is_scheduler_class(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, _SCHEDULER_BASES)


def told_the_count(obj: Any) -> bool:
    """A scheduler class outside torch's API that is told the count: timm's ``step(epoch)``
    and ``step_update(num_updates)``."""
    return inspect.isclass(obj) and all(
        callable(getattr(obj, m, None)) for m in ("step", "step_update")
    )


def load(path: str, kind: str | None = None) -> OptimizerTarget | ScheduleTarget:
    """``kind`` ("optimizer" or "schedule") comes from --like; it decides what a plain
    function is taken for. Classes say what they are by their base class."""
    return from_object(resolve(path), path, kind, import_path=path)


def from_object(
    obj: Any, label: str, kind: str | None = None, import_path: str | None = None
) -> OptimizerTarget | ScheduleTarget:
    """A loaded class or factory as a target (``load``'s second half; the Python API hands
    live objects here). ``label`` names it in messages and reports."""
    if inspect.isclass(obj):
        if issubclass(obj, torch.optim.Optimizer):
            target: OptimizerTarget | ScheduleTarget = OptimizerTarget(
                label, obj, import_path=import_path
            )
        elif issubclass(obj, _SCHEDULER_BASES) or (kind == "schedule" and told_the_count(obj)):
            # --like a schedule vouches for a class outside torch's API (timm's schedulers)
            target = ScheduleTarget(label, obj, import_path=import_path)
        else:
            hint = (
                ": it is told the count (step(epoch), step_update(n)); validate it --like a "
                "record that tells it (TimmCosine, ...)"
                if told_the_count(obj)
                else ""
            )
            raise TargetError(
                f"{label} is a class but neither a torch.optim.Optimizer nor an LRScheduler "
                f"subclass{hint}"
            )
    elif callable(obj):
        factory_kind = kind or "optimizer"
        cls = OptimizerTarget if factory_kind == "optimizer" else ScheduleTarget
        target = cls(label, obj, import_path=import_path)
    else:
        raise TargetError(
            f"{label} is a {type(obj).__name__}, not an optimizer class, scheduler class or factory"
        )
    actual = "optimizer" if isinstance(target, OptimizerTarget) else "schedule"
    if kind is not None and kind != actual:
        raise TargetError(f"{label} is an {actual} but --like names a {kind}")
    return target


def label_of(obj: Any) -> str:
    """How a live class or factory is named in reports: its import name where it has one."""
    name = import_name(obj)
    if name is not None:
        return name
    qual = getattr(obj, "__qualname__", None)
    if isinstance(qual, str):
        return f"{getattr(obj, '__module__', '?')}:{qual}"
    return repr(obj)[:100]


def torch_target(spec_torch_class: str, label: str | None = None, **fixed: Any) -> OptimizerTarget:
    """A torch.optim class by its dotted name, with fixed keywords (foreach=True, ...)."""
    module, _, name = spec_torch_class.rpartition(".")
    path = f"{module}:{name}"
    return OptimizerTarget(label or path, resolve(path), import_path=path, fixed=fixed)
