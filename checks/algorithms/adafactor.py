"""torch.optim.Adafactor (Shazeer & Stern 2018, torch's form)."""

from __future__ import annotations

from optcheck.checks import adafactor_checks as inv
from optcheck.checks import decay_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adafactor

ADAFACTOR = OptimizerRecord(
    name="Adafactor",
    step=adafactor.adafactor_step,
    source=adafactor.SOURCE,
    space=adafactor.SPACE,
    state_keys=adafactor.STATE_KEYS,
    torch_class="torch.optim.Adafactor",
    implementations=adafactor.IMPLEMENTATIONS,
    constraint=adafactor.constraint,
    variants=adafactor.VARIANTS,
    decay="decoupled",
    error_model=adafactor.ADAFACTOR_ERROR_MODEL,
    bytes_per_element=adafactor.bytes_per_element,
    invariants=(inv.rank_one_steps, inv.relative_step, decay_checks.decoupled_pure),
)

RECORDS = (ADAFACTOR,)
