"""RAdam (Liu et al. 2020); decoupled_weight_decay is a flag."""

from __future__ import annotations

from optcheck.checks import decay_checks
from optcheck.checks import radam_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import radam

RADAM = OptimizerRecord(
    name="RAdam",
    step=radam.radam_step,
    source=radam.SOURCE,
    space=radam.SPACE,
    state_keys=radam.STATE_KEYS,
    torch_class="torch.optim.RAdam",
    implementations=radam.IMPLEMENTATIONS,
    constraint=radam.constraint,
    variants=radam.VARIANTS,
    decay="coupled",
    error_model=radam.RADAM_ERROR_MODEL,
    bytes_per_element=radam.bytes_per_element,
    invariants=(inv.sgd_phase, inv.constant_gradient, decay_checks.decoupled_pure),
)

RECORDS = (RADAM,)
