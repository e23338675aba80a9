"""Slips every decoupled-decay port can make, as mixins over a port whose ``_decay(p, g, lr,
wd)`` applies θ(1−ηλ) and returns the gradient the moments see (tests/zoo/lion.py,
tests/zoo/adabelief.py): put the mixin first, ``class XCoupledDecay(CoupledDecay, ZooX)``."""

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
