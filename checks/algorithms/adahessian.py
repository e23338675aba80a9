"""Adahessian (Yao et al. 2021, Alg. 1): no torch.optim counterpart; its gradients carry the
graph of a loss with a known diagonal Hessian (create_graph), validated against
torch-optimizer's Adahessian (tests/test_adahessian_record.py)."""

from __future__ import annotations

from optcheck.checks import decay_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adahessian

ADAHESSIAN = OptimizerRecord(
    name="Adahessian",
    step=adahessian.adahessian_step,
    source=adahessian.SOURCE,
    space=adahessian.SPACE,
    state_keys=adahessian.STATE_KEYS,
    implementations=adahessian.IMPLEMENTATIONS,
    constraint=adahessian.constraint,
    error_model=adahessian.ADAHESSIAN_ERROR_MODEL,
    invariants=(decay_checks.decoupled_pure,),
    decay="decoupled",
    bytes_per_element=adahessian.bytes_per_element,
    create_graph=True,
)

RECORDS = (ADAHESSIAN,)
