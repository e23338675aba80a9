"""Deliberately broken pieces of the real-workload benchmark (tests/test_workloads.py): each
must be caught by the test that guards the real one."""

from __future__ import annotations

import numpy as np
import torch


def first_crossing(metric: list[float], target: float) -> int | None:
    """Steps to target as the first evaluation below it (the transient the protocol rejects)."""
    below = np.flatnonzero(np.asarray(metric) <= target)
    return int(below[0]) if below.size else None


def standardize_with_all_rows(
    x: np.ndarray, train: np.ndarray, per_feature: bool = True
) -> np.ndarray:
    """Leaks held-out statistics: mean and spread of every row, not of the training rows."""
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


class AdamWithHiddenCopy(torch.optim.Adam):
    """Adam that also keeps the previous gradient in its state: 4 more bytes a parameter."""

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 - torch's signature
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.state[p]["previous_grad"] = p.grad.clone()
        return loss


def init_from_global_rng(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Ignores the run's generator: weights depend on whatever ran before."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.1)
