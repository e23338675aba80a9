"""RMSprop (Tieleman & Hinton 2012) with torch's momentum and centering."""

from __future__ import annotations

from optcheck.checks import rmsprop_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import rmsprop

RMSPROP = OptimizerRecord(
    name="RMSprop",
    step=rmsprop.rmsprop_step,
    source=rmsprop.SOURCE,
    space=rmsprop.SPACE,
    state_keys=rmsprop.STATE_KEYS,
    torch_class="torch.optim.RMSprop",
    implementations=rmsprop.IMPLEMENTATIONS,
    constraint=rmsprop.constraint,
    variants=rmsprop.VARIANTS,
    decay="coupled",
    error_model=rmsprop.RMSPROP_ERROR_MODEL,
    invariants=(inv.first_step, inv.constant_gradient, inv.centered_dominates),
    bytes_per_element=rmsprop.bytes_per_element,
)

RECORDS = (RMSPROP,)
