"""Adadelta (Zeiler 2012) with torch's lr."""

from __future__ import annotations

from optcheck.checks import adadelta_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adadelta

ADADELTA = OptimizerRecord(
    name="Adadelta",
    step=adadelta.adadelta_step,
    source=adadelta.SOURCE,
    space=adadelta.SPACE,
    state_keys=adadelta.STATE_KEYS,
    torch_class="torch.optim.Adadelta",
    implementations=adadelta.IMPLEMENTATIONS,
    constraint=adadelta.constraint,
    variants=adadelta.VARIANTS,
    decay="coupled",
    error_model=adadelta.ADADELTA_ERROR_MODEL,
    invariants=(inv.first_step, inv.step_bound, inv.lr_scale),
    bytes_per_element=adadelta.bytes_per_element,
)

RECORDS = (ADADELTA,)
