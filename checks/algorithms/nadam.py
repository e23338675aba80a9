"""NAdam (Dozat 2016) with torch's momentum schedule; decoupled_weight_decay is a flag."""

from __future__ import annotations

from optcheck.checks import decay_checks
from optcheck.checks import nadam_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import nadam

NADAM = OptimizerRecord(
    name="NAdam",
    step=nadam.nadam_step,
    source=nadam.SOURCE,
    space=nadam.SPACE,
    state_keys=nadam.STATE_KEYS,
    torch_class="torch.optim.NAdam",
    implementations=nadam.IMPLEMENTATIONS,
    constraint=nadam.constraint,
    variants=nadam.VARIANTS,
    decay="coupled",
    error_model=nadam.NADAM_ERROR_MODEL,
    bytes_per_element=nadam.bytes_per_element,
    invariants=(inv.first_step, inv.constant_gradient, decay_checks.decoupled_pure),
)

RECORDS = (NADAM,)
