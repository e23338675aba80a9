"""signSGD / Signum (Bernstein et al. 2018, Alg. 1 and 3): no torch.optim counterpart; validated
against the package that implements it (pytorch-optimizer: tests/test_signsgd_record.py)."""

from __future__ import annotations

from optcheck.checks import decay_checks, sign_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import signsgd

SIGNSGD = OptimizerRecord(
    name="SignSGD",
    step=signsgd.signum_step,
    source=signsgd.SOURCE,
    space=signsgd.SPACE,
    state_keys=signsgd.STATE_KEYS,
    implementations=signsgd.IMPLEMENTATIONS,
    constraint=signsgd.constraint,
    variants=signsgd.VARIANTS,
    error_model=signsgd.SIGNUM_ERROR_MODEL,
    invariants=(
        sign_checks.update,
        sign_checks.constant_gradient,
        sign_checks.memoryless,
        decay_checks.decoupled_pure,
    ),
    decay="decoupled",
    bytes_per_element=signsgd.bytes_per_element,
)

RECORDS = (SIGNSGD,)
