"""Prodigy (Mishchenko & Defazio 2024, Alg. 3): no torch.optim counterpart; validated against the
packages that implement it (prodigyopt, pytorch-optimizer: tests/test_prodigy_record.py)."""

from __future__ import annotations

from optcheck.checks import prodigy_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import prodigy

PRODIGY = OptimizerRecord(
    name="Prodigy",
    step=prodigy.prodigy_step,
    source=prodigy.SOURCE,
    space=prodigy.SPACE,
    state_keys=prodigy.STATE_KEYS,
    implementations=prodigy.IMPLEMENTATIONS,
    constraint=prodigy.constraint,
    variants=prodigy.VARIANTS,
    error_model=prodigy.PRODIGY_ERROR_MODEL,
    invariants=(
        prodigy_checks.first_step,
        prodigy_checks.d_never_decreases,
        prodigy_checks.zero_gradient,
    ),
    # θ(1 − λ·d·lr) scaled by the distance estimate, and nothing at all on a step whose ‖s‖₁
    # is 0: neither plain decoupled θ(1−ηλ) nor L2 (prodigy.first_step checks it).
    decay="none",
    bytes_per_element=prodigy.bytes_per_element,
    # Read from the first param group only (one d, one lr for the whole optimizer: both
    # packages; reference.prodigy._group): drawn cases vary only eps, weight_decay,
    # safeguard_warmup and slice_p per group.
    constructor_only=(
        "lr",
        "betas",
        "d0",
        "d_coef",
        "growth_rate",
        "decouple",
        "use_bias_correction",
        "maximize",
    ),
)

RECORDS = (PRODIGY,)
