"""Adamax (Kingma & Ba 2015, §7.1)."""

from __future__ import annotations

from optcheck.checks import adamax_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adamax

ADAMAX = OptimizerRecord(
    name="Adamax",
    step=adamax.adamax_step,
    source=adamax.SOURCE,
    space=adamax.SPACE,
    state_keys=adamax.STATE_KEYS,
    torch_class="torch.optim.Adamax",
    implementations=adamax.IMPLEMENTATIONS,
    constraint=adamax.constraint,
    variants=adamax.VARIANTS,
    decay="coupled",
    error_model=adamax.ADAMAX_ERROR_MODEL,
    invariants=(inv.first_step, inv.step_bound, inv.impulse_response),
    bytes_per_element=adamax.bytes_per_element,
)

RECORDS = (ADAMAX,)
