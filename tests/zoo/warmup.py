"""An optimizer whose first step() of each instance is slow, as a torch.compile warm-up is
(heavyball compiles its update on the first call): slow once, not hung."""

from __future__ import annotations

import time
from typing import Any

import torch

FIRST_STEP_SECONDS = 0.6


class CompilesOnFirstStep(torch.optim.SGD):
    def step(self, closure: Any = None) -> Any:
        if not getattr(self, "_warm", False):
            self._warm = True
            time.sleep(FIRST_STEP_SECONDS)
        return super().step(closure)
