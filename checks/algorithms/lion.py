"""Lion (Chen et al. 2023, Alg. 2): no torch.optim counterpart; validated against the packages
that implement it (lion-pytorch, pytorch-optimizer: tests/test_lion_record.py)."""

from __future__ import annotations

from optcheck.checks import decay_checks, sign_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import lion

LION = OptimizerRecord(
    name="Lion",
    step=lion.lion_step,
    source=lion.SOURCE,
    space=lion.SPACE,
    state_keys=lion.STATE_KEYS,
    implementations=lion.IMPLEMENTATIONS,
    constraint=lion.constraint,
    variants=lion.VARIANTS,
    error_model=lion.LION_ERROR_MODEL,
    invariants=(
        sign_checks.update,
        sign_checks.constant_gradient,
        decay_checks.decoupled_pure,
    ),
    decay="decoupled",
    bytes_per_element=lion.bytes_per_element,
)

RECORDS = (LION,)
