"""The slips every port with decoupled decay and maximize can make, as mixins over a zoo class
whose step calls ``_decay(p, g, lr, wd) -> g`` and reads ``group["maximize"]`` (tests/zoo/lion.py,
tests/zoo/signsgd.py): one place, so each record's mutants are the same slip."""

from __future__ import annotations

from typing import Any


class CoupledDecay:
    """Weight decay added to the gradient (L2) instead of θ(1−ηλ)."""

    def _decay(self, p, g, lr, wd):
        return g + wd * p


class DecayWithoutLr:
    """θ(1−λ): the decay not scaled by the learning rate."""

    def _decay(self, p, g, lr, wd):
        p.mul_(1 - wd)
        return g


class MaximizeIgnored:
    """Accepts maximize and ignores it."""

    def __init__(self, params: Any, maximize: bool = False, **kw: Any):
        super().__init__(params, maximize=False, **kw)
