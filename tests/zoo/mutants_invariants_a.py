"""Broken Adagrad, RMSprop, Adadelta, Adamax and Rprop for the invariants of issue 15 (part a).

Each is a transcription of torch's forloop arithmetic with one slip, on the same scaffolding
as tests/zoo/optimizers_numeric.py (the torch class's constructor and param groups, own state
keys), so that an invariant can be shown to fail on it. The mutants there are reused as well.
"""

from __future__ import annotations

import torch

from zoo.optimizers_numeric import _coupled, _TorchCopy


class AdagradLeakyAccumulator(_TorchCopy, torch.optim.Adagrad):
    """s ← 0.9·s + g² (an RMSprop-style leak): the accumulator forgets, so it can shrink."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        s.mul_(0.9).addcmul_(g, g, value=1)
        lr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-lr)


class AdagradLrDecayIgnored(_TorchCopy, torch.optim.Adagrad):
    """lr_decay accepted and stored, never applied: every step uses the group's lr."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        s.addcmul_(g, g, value=1)
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-group["lr"])


class AdagradAccumulateAfterStep(_TorchCopy, torch.optim.Adagrad):
    """Divides by the previous sum and adds g² afterwards (an ordering slip)."""

    def _update(self, p, grad, state, group, t):
        g = _coupled(p, grad, group)
        s = state.setdefault("acc", torch.full_like(p, group["initial_accumulator_value"]))
        lr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-lr)
        s.addcmul_(g, g, value=1)


ADAGRAD = [AdagradLeakyAccumulator, AdagradLrDecayIgnored, AdagradAccumulateAfterStep]
