"""Drive a torch optimizer open-loop: fixed gradients in, the trajectory out as float64 NumPy.

Every check and the cross-validation feed gradients through here, so the way a target is
driven (grads set on .grad, lr written to every group as a scheduler would) lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

MakeOptimizer = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def make_params(
    params0: Sequence[np.ndarray], dtype: torch.dtype = torch.float64, device: str = "cpu"
) -> list[torch.nn.Parameter]:
    return [
        torch.nn.Parameter(torch.as_tensor(np.asarray(p), dtype=dtype, device=device).clone())
        for p in params0
    ]


def set_grads(params: Sequence[torch.nn.Parameter], grads: Sequence[np.ndarray | None]) -> None:
    for p, g in zip(params, grads, strict=True):
        if g is None:
            p.grad = None
        else:
            p.grad = torch.as_tensor(np.asarray(g), dtype=p.dtype, device=p.device).clone()


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def run_torch(
    make_opt: MakeOptimizer,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    *,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
    lrs: Sequence[float] | None = None,
) -> list[list[np.ndarray]]:
    """Params after each step, as float64 arrays; mirrors optcheck.reference.trajectory.run."""
    params = make_params(params0, dtype, device)
    opt = make_opt(params)
    out = []
    for k, gs in enumerate(grads):
        if lrs is not None:
            set_lr(opt, float(lrs[k]))
        set_grads(params, gs)
        opt.step()
        out.append([to_numpy(p) for p in params])
    return out
