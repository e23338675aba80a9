"""Exhaustive parametrizations keep a deterministic sample in the default run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

# Records whose catalog-wide cases cost seconds each (Prodigy: 768 corners of its space, a
# Python loop over tensors per step; 31 s for its variant sweep, 4 s for its interplay run on 2
# cores): --thorough only, wherever every_nth puts them. So are the Schedule-Free forms added
# once the default run's budget was spent (3.9 s for one interplay run): their own record
# tests (tests/test_schedulefree_more.py) run each of their checks by default.
HEAVY_RECORDS = (
    "Prodigy",
    "AdamWScheduleFreeClosure",
    "SGDScheduleFreeClosure",
    "RAdamScheduleFree",
    "RAdamScheduleFreeClosure",
)


def every_nth(values: Sequence[Any], n: int, ids: Callable[[Any], str] | None = None) -> list[Any]:
    """Each value as a pytest.param; all but every n-th (from the first) carry the thorough
    marker, so the default run keeps a spread-out sample and --thorough runs them all. A value
    naming a record of HEAVY_RECORDS carries it always."""
    return [
        pytest.param(
            *(v if isinstance(v, tuple) else (v,)),
            marks=() if i % n == 0 and v not in HEAVY_RECORDS else pytest.mark.thorough,
            id=ids(v) if ids else None,
        )
        for i, v in enumerate(values)
    ]


def first_mutant_each(caught: dict[str, Sequence[Any]]) -> list[Any]:
    """(check id, mutant) params from a {check: [mutants]} table: the first mutant each check
    lists in the default run, the rest with --thorough."""
    return [
        pytest.param(c, m, id=f"{c}-{m.__name__}", marks=() if j == 0 else pytest.mark.thorough)
        for c, ms in caught.items()
        for j, m in enumerate(ms)
    ]
