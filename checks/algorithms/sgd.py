"""SGD with momentum, dampening, Nesterov (torch.optim.SGD's convention)."""

from __future__ import annotations

from optcheck.checks import sgd_checks as inv
from optcheck.checks.records import BenchPreset, OptimizerRecord
from optcheck.reference import sgd
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import Hyper, Variant


def _bytes_per_element(hp: Hyper, itemsize: int) -> float:
    # read p, g; write p — plus read and write the momentum buffer when μ > 0.
    return (3 + (2 if hp.get("momentum", 0.0) else 0)) * itemsize


SGD = OptimizerRecord(
    name="SGD",
    step=sgd.sgd_step,
    source="torch.optim.SGD docs; Polyak 1964; Sutskever et al. 2013",
    space=(
        Real("lr", 1e-6, 1.0, 1e-3, log=True),
        Real("momentum", 0.0, 0.999, 0.0, special=(0.0, 0.9)),
        Real("dampening", 0.0, 0.99, 0.0, special=(0.0,)),
        Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
        Flag("nesterov"),
        Flag("maximize"),
    ),
    state_keys=("momentum_buffer",),
    torch_class="torch.optim.SGD",
    implementations=("forloop", "foreach", "fused"),
    constraint=sgd.sgd_constraint,
    variants=(
        Variant(
            "classic-momentum",
            sgd.classic_momentum_step,
            "lr inside the momentum buffer (v = μv + ηg; θ -= v): equals SGD only at constant lr",
            "Polyak 1964 eq. 9; Sutskever et al. 2013 eq. 1",
        ),
        Variant(
            "dampened-start",
            sgd.dampened_start_step,
            "momentum buffer started at (1-τ)·g (an EMA from zero) instead of g",
            "common implementation variant",
        ),
    ),
    error_model=sgd.SGD_ERROR_MODEL,
    invariants=(
        inv.linearity,
        inv.buffer_closed_form,
        inv.classic_equivalence,
        inv.nesterov_relation,
    ),
    decay="coupled",
    bytes_per_element=_bytes_per_element,
    bench=(
        BenchPreset("SGD"),
        BenchPreset("Momentum", {"momentum": 0.9}),
        BenchPreset("Nesterov", {"momentum": 0.9, "nesterov": True}),
    ),
)

RECORDS = (SGD,)
