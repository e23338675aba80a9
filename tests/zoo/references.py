"""Broken references: optcheck's oracle failing, so the checks must say optcheck erred, not the
target (tests/test_reference_raises.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from optcheck.reference.adam import adam_step

REFUSAL = "this reference cannot take step 2"


def adam_refusing_step_2(
    param: np.ndarray, grad: np.ndarray, state: dict[str, Any], hp: dict[str, Any], t: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Adam's reference that raises from its second step on (a case it cannot take)."""
    if t >= 2:
        raise ValueError(REFUSAL)
    return adam_step(param, grad, state, hp, t)
