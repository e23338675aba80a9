"""Adan (Xie et al. 2022, Alg. 1): no torch.optim counterpart; validated against the package that
implements it (pytorch-optimizer: tests/test_adan_record.py)."""

from __future__ import annotations

from optcheck.checks import adan_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adan

ADAN = OptimizerRecord(
    name="Adan",
    step=adan.adan_step,
    source=adan.SOURCE,
    space=adan.SPACE,
    state_keys=adan.STATE_KEYS,
    implementations=adan.IMPLEMENTATIONS,
    constraint=adan.constraint,
    variants=adan.VARIANTS,
    error_model=adan.ADAN_ERROR_MODEL,
    invariants=(adan_checks.first_step, adan_checks.constant_gradient, adan_checks.prox_decay),
    # Proximal θ/(1+ηλ): neither L2 in the gradient nor θ(1−ηλ) (adan.prox_decay checks it).
    decay="none",
    bytes_per_element=adan.bytes_per_element,
)

RECORDS = (ADAN,)
