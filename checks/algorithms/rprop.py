"""Rprop (torch's is iRprop−, Igel & Hüsken 2000)."""

from __future__ import annotations

from optcheck.checks import rprop_checks as inv
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import rprop

RPROP = OptimizerRecord(
    name="Rprop",
    step=rprop.rprop_step,
    source=rprop.SOURCE,
    space=rprop.SPACE,
    state_keys=rprop.STATE_KEYS,
    torch_class="torch.optim.Rprop",
    implementations=rprop.IMPLEMENTATIONS,
    constraint=rprop.constraint,
    variants=rprop.VARIANTS,
    decay="none",
    error_model=rprop.RPROP_ERROR_MODEL,
    invariants=(inv.step_sizes, inv.sign_only, inv.flip_skips),
    bytes_per_element=rprop.bytes_per_element,
)

RECORDS = (RPROP,)
