"""Schedule-Free AdamW, SGD and RAdam (Defazio et al. 2024, Alg. 1): no torch.optim
counterpart; validated against the packages that implement them (schedulefree,
pytorch-optimizer: tests/test_schedulefree_record.py, tests/test_schedulefree_more.py). Their
parameters hold the training point y only after ``optimizer.train()``: the records declare
that set-up call. The Closure forms hold x instead and step only with a closure: their
records' steps take and return x, and declare ``closure_step``."""

from __future__ import annotations

from optcheck.checks import schedulefree_checks as C
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import schedulefree as sf

INVARIANTS = (C.first_step, C.eval_point)
CLOSURE_INVARIANTS = (C.first_step, C.closure_point)

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
ADAMW_CLOSURE = OptimizerRecord(
    name="AdamWScheduleFreeClosure",
    step=sf.adamw_closure_step,
    source=sf.SOURCE_ADAMW + sf.CLOSURE_FORM,
    space=sf.SPACE_ADAMW,
    state_keys=sf.STATE_KEYS_ADAMW,
    implementations=sf.IMPLEMENTATIONS,
    constraint=sf.constraint,
    error_model=sf.ADAMW_CLOSURE_ERROR_MODEL,
    invariants=CLOSURE_INVARIANTS,
    decay="none",
    bytes_per_element=sf.bytes_per_element_adamw,
    closure_step=True,
)
SGD_CLOSURE = OptimizerRecord(
    name="SGDScheduleFreeClosure",
    step=sf.sgd_closure_step,
    source=sf.SOURCE_SGD + sf.CLOSURE_FORM,
    space=sf.SPACE_SGD,
    state_keys=sf.STATE_KEYS_SGD,
    implementations=sf.IMPLEMENTATIONS,
    constraint=sf.constraint,
    error_model=sf.SGD_CLOSURE_ERROR_MODEL,
    invariants=CLOSURE_INVARIANTS,
    decay="none",
    bytes_per_element=sf.bytes_per_element_sgd,
    closure_step=True,
)
RADAM = OptimizerRecord(
    name="RAdamScheduleFree",
    step=sf.radam_step,
    source=sf.SOURCE_RADAM,
    space=sf.SPACE_RADAM,
    state_keys=sf.STATE_KEYS_ADAMW,
    implementations=sf.IMPLEMENTATIONS,
    constraint=sf.constraint,
    variants=sf.VARIANTS_RADAM,
    error_model=sf.RADAM_ERROR_MODEL,
    invariants=(C.silent_phase, C.eval_point),
    decay="none",
    bytes_per_element=sf.bytes_per_element_adamw,
    setup=sf.SETUP,
)
RADAM_CLOSURE = OptimizerRecord(
    name="RAdamScheduleFreeClosure",
    step=sf.radam_closure_step,
    source=sf.SOURCE_RADAM + sf.CLOSURE_FORM,
    space=sf.SPACE_RADAM,
    state_keys=sf.STATE_KEYS_ADAMW,
    implementations=sf.IMPLEMENTATIONS,
    constraint=sf.constraint,
    error_model=sf.RADAM_CLOSURE_ERROR_MODEL,
    invariants=(C.silent_phase, C.closure_point),
    decay="none",
    bytes_per_element=sf.bytes_per_element_adamw,
    closure_step=True,
)

RECORDS = (ADAMW, SGD, ADAMW_CLOSURE, SGD_CLOSURE, RADAM, RADAM_CLOSURE)
