"""Hyper-parameter spaces as plain data.

reference/ imports nothing of the project and no test library, so a spec's space is
described here as data; checks/kit/strategies.py turns it into hypothesis strategies and the
validator reads the same names to build constructor keywords.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Real:
    """A float in [low, high]; drawn log-uniformly when ``log`` (then low > 0)."""

    name: str
    low: float
    high: float
    default: float
    log: bool = False
    # Values that hypothesis should try first: edges such as 0 or 1 where formulas change.
    special: tuple[float, ...] = ()


@dataclass(frozen=True)
class Int:
    """An int in [low, high]; with ``fractions`` also a fraction k/q (q = 2, 3, 4) up to
    FRACTIONS_MOST, where torch documents an int and takes a float."""

    name: str
    low: int
    high: int
    default: int
    fractions: bool = False


# Largest fractional value an Int with ``fractions`` draws: short enough to drive past.
FRACTIONS_MOST = 48


@dataclass(frozen=True)
class IntList:
    """A tuple of ints in [low, high] in any order, with repeats (MultiStepLR's milestones:
    torch counts them), at most ``most`` distinct values."""

    name: str
    low: int
    high: int
    default: tuple[int, ...]
    most: int = 5


@dataclass(frozen=True)
class Choice:
    name: str
    values: tuple[Any, ...]
    default: Any


@dataclass(frozen=True)
class Flag:
    """A boolean constructor keyword (nesterov, amsgrad, maximize, ...)."""

    name: str
    default: bool = False


@dataclass(frozen=True)
class Pair:
    """A 2-tuple hyper-parameter such as Adam's ``betas`` (a 3-tuple with ``third``: Adan's);
    each part is a Real (a Choice where a domain restricts the draws, e.g. an error model's
    low-precision overrides)."""

    name: str
    first: Real | Choice
    second: Real | Choice
    third: Real | Choice | None = None

    @property
    def parts(self) -> tuple[Real | Choice, ...]:
        return (self.first, self.second) + ((self.third,) if self.third is not None else ())

    @property
    def default(self) -> tuple[float, ...]:
        return tuple(p.default for p in self.parts)


@dataclass(frozen=True)
class Children:
    """A composite's child schedules, each ``(name, params)`` with its params drawn from that
    schedule's own space: 1 to ``most`` of them from ``allowed``. With ``milestones``, also
    the composite's sorted milestones, one fewer than children, repeats and 0 included
    (SequentialLR). Drawn by the schedule kit, which knows the children's spaces."""

    name: str
    allowed: tuple[str, ...]
    default: tuple[Any, ...]
    most: int = 3
    milestones: bool = False


Dimension = Real | Int | IntList | Choice | Flag | Pair | Children


def defaults(space: tuple[Dimension, ...]) -> dict[str, Any]:
    return {d.name: d.default for d in space}
