"""LAMB (You et al. 2020, Alg. 2): no torch.optim counterpart; validated against the package
that implements it (pytorch-optimizer: tests/test_lamb_record.py)."""

from __future__ import annotations

from optcheck.checks import lamb_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import lamb

LAMB = OptimizerRecord(
    name="LAMB",
    step=lamb.lamb_step,
    source=lamb.SOURCE,
    space=lamb.SPACE,
    state_keys=lamb.STATE_KEYS,
    implementations=lamb.IMPLEMENTATIONS,
    constraint=lamb.constraint,
    variants=lamb.VARIANTS,
    error_model=lamb.LAMB_ERROR_MODEL,
    invariants=(lamb_checks.trust_ratio, lamb_checks.first_step),
    # λθ joins the Adam ratio inside the trust ratio: neither L2 in g nor θ(1-ηλ).
    decay="coupled",
    bytes_per_element=lamb.bytes_per_element,
)

RECORDS = (LAMB,)
