"""AdaBelief (Zhuang et al. 2020, Alg. 2): no torch.optim counterpart; validated against the
package that implements it (pytorch-optimizer: tests/test_adabelief_record.py)."""

from __future__ import annotations

from optcheck.checks import adabelief_checks, decay_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adabelief

ADABELIEF = OptimizerRecord(
    name="AdaBelief",
    step=adabelief.adabelief_step,
    source=adabelief.SOURCE,
    space=adabelief.SPACE,
    state_keys=adabelief.STATE_KEYS,
    implementations=adabelief.IMPLEMENTATIONS,
    constraint=adabelief.constraint,
    variants=adabelief.VARIANTS,
    error_model=adabelief.ADABELIEF_ERROR_MODEL,
    invariants=(
        adabelief_checks.first_step,
        adabelief_checks.constant_gradient,
        decay_checks.decoupled_pure,
    ),
    decay="decoupled",
    bytes_per_element=adabelief.bytes_per_element,
)

RECORDS = (ADABELIEF,)
