"""Adagrad (Duchi, Hazan & Singer 2011) in torch's arrangement."""

from __future__ import annotations

from optcheck.checks import adagrad_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adagrad

ADAGRAD = OptimizerRecord(
    name="Adagrad",
    step=adagrad.adagrad_step,
    source=adagrad.SOURCE,
    space=adagrad.SPACE,
    state_keys=adagrad.STATE_KEYS,
    torch_class="torch.optim.Adagrad",
    implementations=adagrad.IMPLEMENTATIONS,
    constraint=adagrad.constraint,
    variants=adagrad.VARIANTS,
    decay="coupled",
    error_model=adagrad.ADAGRAD_ERROR_MODEL,
    invariants=(inv.first_step, inv.accumulator_monotone, inv.step_bound),
    bytes_per_element=adagrad.bytes_per_element,
    # torch 2.13 starts every sum at the constructor's value, whatever a group says
    # (tests/test_reference_elementwise.py::test_torch_adagrad_ignores_per_group_...).
    constructor_only=("initial_accumulator_value",),
)

RECORDS = (ADAGRAD,)
