"""The curvature of the loss behind graph gradients (``--create-graph``).

Optimizers that take Hessian-vector products of ``p.grad`` (Adahessian: Yao et al. 2021,
AAAI, Alg. 1, Hutchinson's estimator) need gradients from ``loss.backward(create_graph=True)``.
The checks hand over the drawn gradient g as the gradient of

    L(θ) = Σ g·θ + ½ Σ h·(θ − θ₀)²   at θ = θ₀,

whose gradient there is g exactly and whose Hessian is diag(h), h = ``hessian_diagonal``. A
diagonal Hessian makes Hutchinson's estimate exact for every Rademacher z: z ⊙ (Hz) = h and
|Hz| = |h|, so a randomised method has a deterministic expected value to compare with.
"""

from __future__ import annotations

import numpy as np


def hessian_diagonal(shape: tuple[int, ...]) -> np.ndarray:
    """h for a tensor of ``shape``: 0.5, −1, 1.5, −2, repeating in C order. Magnitudes differ
    (a step that ignores h shows), signs alternate (|h| against h shows), none is zero."""
    j = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.float64)
    return ((1 + j % 4) / 2 * (1 - 2 * (j % 2))).reshape(shape)
