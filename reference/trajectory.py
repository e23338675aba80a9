"""Open-loop runs of a reference: a fixed gradient sequence in, the parameter trajectory out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optcheck.reference.spec import Array, Hyper, StepFn


def run(
    step: StepFn,
    params0: Sequence[Array],
    grads: Sequence[Sequence[Array]],
    hp: Hyper,
    lrs: Sequence[float] | None = None,
) -> list[list[Array]]:
    """Apply ``step`` to every tensor for each gradient list; returns params after each step.

    ``grads[k][i]`` is the gradient of tensor i at step k+1; None skips the tensor, which then
    keeps its own step count, as torch does. ``lrs[k]``, when given, replaces hp['lr'] at
    step k+1, as a scheduler writing group['lr'] would.
    """
    params = [np.asarray(p, dtype=np.float64) for p in params0]
    states: list[dict[str, Any]] = [{} for _ in params]
    counts = [0] * len(params)
    out = []
    for k, gs in enumerate(grads):
        hp_k = hp if lrs is None else {**hp, "lr": float(lrs[k])}
        for i, g in enumerate(gs):
            if g is None:
                continue
            counts[i] += 1
            g64 = np.asarray(g, dtype=np.float64)
            params[i], states[i] = step(params[i], g64, states[i], hp_k, counts[i])
        out.append([p.copy() for p in params])
    return out
