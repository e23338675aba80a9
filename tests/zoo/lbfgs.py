"""LBFGS written the way a port on NumPy is written, and broken copies.

``FlatLBFGS`` is *correct*: torch's algorithm on the flattened parameters, computed by a
NumPy implementation of it (optcheck.reference.lbfgs stands in for the port's own code).
Each mutant swaps the step for one usual slip; tests/test_lbfgs_record.py says which check
catches which.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer

from optcheck.reference import lbfgs


class FlatLBFGS(Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ):
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)

    def _step(self, x: np.ndarray, fn: Any, memory: dict, hp: dict) -> tuple[np.ndarray, dict]:
        return lbfgs.lbfgs_step(x, fn, memory, hp)

    def _params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    def _assign(self, x: np.ndarray) -> None:
        at = 0
        for p in self._params():
            chunk = x[at : at + p.numel()].reshape(p.shape)
            p.copy_(torch.as_tensor(chunk, dtype=p.dtype, device=p.device))
            at += p.numel()

    @torch.no_grad()
    def step(self, closure: Any) -> Any:
        hp = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        flat = torch.cat([p.detach().reshape(-1) for p in self._params()])
        x0 = flat.to("cpu", torch.float64).numpy().copy()
        seen = {}

        def fn(x: np.ndarray) -> tuple[float, np.ndarray]:
            self._assign(x)
            with torch.enable_grad():
                seen["loss"] = closure()
            g = torch.cat([p.grad.reshape(-1) for p in self._params()])
            return float(seen["loss"]), g.to("cpu", torch.float64).numpy()

        x, memory = self._step(x0, fn, self._recall(), hp)
        self._keep(memory)
        self._assign(x)
        return seen.get("loss")

    def _recall(self) -> dict:
        """The NumPy step's memory from the first parameter's state, as torch keeps it."""
        return _arrays(dict(self.state[self._params()[0]]))

    def _keep(self, memory: dict) -> None:
        self.state[self._params()[0]].update(_tensors(memory))


def _tensors(value: Any) -> Any:
    """NumPy arrays and floats as tensors and Python floats: a state_dict torch.load takes
    with weights_only=True."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tensors(v) for v in value]
    return float(value) if isinstance(value, np.floating) else value


def _arrays(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).numpy().copy()
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_arrays(v) for v in value]
    return value


class LBFGSMemoryOutsideState(FlatLBFGS):
    """Keeps its history on ``self``, not in ``self.state``: state_dict() does not carry it,
    so a resumed run starts over with no history."""

    def _recall(self) -> dict:
        return getattr(self, "_memory", {})

    def _keep(self, memory: dict) -> None:
        self._memory = memory


class LBFGSUnscaledFirstStep(FlatLBFGS):
    """The first step is t = lr, not min(1, 1/‖g‖₁)·lr (minFunc's guard left out)."""

    def _step(self, x, fn, memory, hp):
        return lbfgs.unscaled_first_step(x, fn, memory, hp)


class LBFGSNoLineSearch(FlatLBFGS):
    """line_search_fn='strong_wolfe' accepted and ignored: a fixed step of lr."""

    def _step(self, x, fn, memory, hp):
        return lbfgs.lbfgs_step(x, fn, memory, {**hp, "line_search_fn": None})


class LBFGSHistoryOffByOne(FlatLBFGS):
    """Keeps history_size + 1 curvature pairs."""

    def _step(self, x, fn, memory, hp):
        return lbfgs.lbfgs_step(x, fn, memory, {**hp, "history_size": hp["history_size"] + 1})


class LBFGSExactLineSearch(FlatLBFGS):
    """Any line search done exactly (secant on φ'): optcheck's exact-line-search variant."""

    def _step(self, x, fn, memory, hp):
        return lbfgs.lbfgs_step(x, fn, memory, {**hp, "line_search_fn": "exact"})
