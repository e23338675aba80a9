"""Schedule-Free AdamW and SGD (Defazio et al. 2024, Alg. 1): no torch.optim counterpart;
validated against the packages that implement them (schedulefree, pytorch-optimizer:
tests/test_schedulefree_record.py). Their parameters hold the training point y only after
``optimizer.train()``: the records declare that set-up call."""

from __future__ import annotations

from optcheck.checks import schedulefree_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import schedulefree as sf

INVARIANTS = (schedulefree_checks.first_step, schedulefree_checks.eval_point)

ADAMW = OptimizerRecord(
    name="AdamWScheduleFree",
    step=sf.adamw_step,
    source=sf.SOURCE_ADAMW,
    space=sf.SPACE_ADAMW,
    state_keys=sf.STATE_KEYS_ADAMW,
    implementations=sf.IMPLEMENTATIONS,
    constraint=sf.constraint,
    variants=sf.VARIANTS_ADAMW,
    error_model=sf.ADAMW_ERROR_MODEL,
    invariants=INVARIANTS,
    # λ·y joins the normalised gradient: decoupled from the Adam ratio, but not θ(1−ηλ) on θ.
    decay="none",
    bytes_per_element=sf.bytes_per_element_adamw,
    setup=sf.SETUP,
)
SGD = OptimizerRecord(
    name="SGDScheduleFree",
    step=sf.sgd_step,
    source=sf.SOURCE_SGD,
    space=sf.SPACE_SGD,
    state_keys=sf.STATE_KEYS_SGD,
    implementations=sf.IMPLEMENTATIONS,
    constraint=sf.constraint,
    variants=sf.VARIANTS_SGD,
    error_model=sf.SGD_ERROR_MODEL,
    invariants=INVARIANTS,
    decay="none",
    bytes_per_element=sf.bytes_per_element_sgd,
    setup=sf.SETUP,
)

RECORDS = (ADAMW, SGD)
