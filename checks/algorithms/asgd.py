"""ASGD (Polyak & Juditsky 1992) in torch's arrangement."""

from __future__ import annotations

from optcheck.checks import asgd_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import asgd

ASGD = OptimizerRecord(
    name="ASGD",
    step=asgd.asgd_step,
    source=asgd.SOURCE,
    space=asgd.SPACE,
    state_keys=asgd.STATE_KEYS,
    torch_class="torch.optim.ASGD",
    implementations=asgd.IMPLEMENTATIONS,
    constraint=asgd.constraint,
    variants=asgd.VARIANTS,
    decay="coupled",
    error_model=asgd.ASGD_ERROR_MODEL,
    bytes_per_element=asgd.bytes_per_element,
    invariants=(inv.first_step, inv.eta_schedule, inv.average_is_state),
)

RECORDS = (ASGD,)
