"""Open-loop runs of a reference: a fixed gradient sequence in, the parameter trajectory out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optcheck.reference.spec import Array, CoupledStep, Hyper, StepFn


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


def run_optimizer(
    step: StepFn,
    params0: Sequence[Array],
    grads: Sequence[Sequence[Array | None]],
    hps: Sequence[Hyper],
    lrs: Sequence[float] | None = None,
) -> list[list[Array]]:
    """One optimizer over every tensor, ``hps[i]`` the hyper-parameters of tensor i's param
    group: tensor by tensor (``run``, each with its own step count), or, for a step whose
    state couples the tensors (spec.CoupledStep), all of them together, step t the optimizer's
    own count."""
    if not isinstance(step, CoupledStep):
        out: list[list[Array]] = [[] for _ in grads]
        for i, p0 in enumerate(params0):
            # a per-tensor step meets the lr each step as run writes it into its hp
            traj = run(step, [p0], [[gs[i]] for gs in grads], hps[i], lrs)
            for k, (p,) in enumerate(traj):
                out[k].append(p)
        return out
    params = [np.asarray(p, dtype=np.float64) for p in params0]
    state: dict[str, Any] = {}
    out = []
    for t, gs in enumerate(grads, start=1):
        hp_t = list(hps) if lrs is None else [{**hp, "lr": float(lrs[t - 1])} for hp in hps]
        g64 = [None if g is None else np.asarray(g, dtype=np.float64) for g in gs]
        params, state = step.joint(params, g64, state, hp_t, t)
        out.append([p.copy() for p in params])
    return out
