"""Records whose inputs have structure: Muon (matrices only), SparseAdam (sparse gradients)
and LBFGS (closure-driven: its step evaluates f and ∇f at points it chooses).

Their fields say what the drawn cases must hold (``param_ndims``, ``sparse_grads``); the
strategies, the contract's problems and the harness read them, so every generic check and
the cross-validation drive them as they are meant to be driven. (One module, sorted after
the dense records, so catalog-wide samples of the tests keep their members.)
"""

from __future__ import annotations

from optcheck.checks import crossval_checks, lbfgs_checks, muon_checks, sparse_adam_checks
from optcheck.checks.records import OptimizerRecord
from optcheck.reference import adam, lbfgs, muon, sparse_adam
from optcheck.reference.spec import ErrorModel, Hyper, Variant


def _muon_update_scale(hp: Hyper, exponent: int) -> float:
    """One update is γ'·O with σ(O) ≲ 1.2, entries ≲ 1: about the adjusted lr."""
    return float(hp.get("lr", 1e-3))


# torch 2.13 runs NS in bfloat16 whatever the parameter dtype: the record's step is that
# computation (NS emulated bit for bit, the rest float64); the float64 algorithm is a variant.
MUON_ERROR_MODEL = ErrorModel(
    "Muon",
    muon.bfloat16_ns_step,
    _muon_update_scale,
    no_empty_tensors="torch's Muon divides by the column count in _adjust_lr: a zero-column "
    "matrix raises ZeroDivisionError (a torch finding, tests/test_structural_records.py)",
)

MUON = OptimizerRecord(
    name="Muon",
    step=muon.bfloat16_ns_step,
    source=muon.SOURCE,
    space=muon.SPACE,
    state_keys=muon.STATE_KEYS,
    torch_class="torch.optim.Muon",
    implementations=muon.IMPLEMENTATIONS,
    constraint=muon.constraint,
    variants=(
        Variant(
            "float64-ns",
            muon.muon_step,
            "Newton-Schulz in float64 (the algorithm without torch's bfloat16 rounding)",
            "Keller Jordan 2024; reference.muon.muon_step",
        ),
        *(v for v in muon.VARIANTS if v.name != "bfloat16-ns"),
    ),
    error_model=MUON_ERROR_MODEL,
    invariants=(muon_checks.singular_values, muon_checks.scale_invariance),
    decay="decoupled",
    bytes_per_element=muon.bytes_per_element,
    param_ndims=(2,),
)

# Adam's domain in float16 (its coarse betas keep (1-β2)g² and the bias corrections inside
# float16's range); one ε̂-Adam update is about the lr, as Adam's.
SPARSE_ADAM_ERROR_MODEL = ErrorModel(
    "SparseAdam",
    sparse_adam.sparse_adam_step,
    adam.adam_update_scale,
    adam.ADAM_ERROR_MODEL.low_precision_overrides,
)

SPARSE_ADAM = OptimizerRecord(
    name="SparseAdam",
    step=sparse_adam.sparse_adam_step,
    source=sparse_adam.SOURCE,
    space=sparse_adam.SPACE,
    state_keys=sparse_adam.STATE_KEYS,
    torch_class="torch.optim.SparseAdam",
    implementations=sparse_adam.IMPLEMENTATIONS,
    constraint=sparse_adam.constraint,
    variants=sparse_adam.VARIANTS,
    error_model=SPARSE_ADAM_ERROR_MODEL,
    invariants=(sparse_adam_checks.untouched_rows, sparse_adam_checks.touched_rows_dense),
    decay="none",
    bytes_per_element=sparse_adam.bytes_per_element,
    # rows are the first index: an embedding table (2-D), a vector, or a stack of matrices
    param_ndims=(1, 2, 3),
    sparse_grads=True,
)

# No per-tensor error model: the closed loop's round-off is measured per case
# (checks.kit.closures), so cross-validation is the closure_trajectory invariant.
LBFGS = OptimizerRecord(
    name="LBFGS",
    step=lbfgs.lbfgs_step,
    source=lbfgs.SOURCE,
    space=lbfgs.SPACE,
    state_keys=lbfgs.STATE_KEYS,
    torch_class="torch.optim.LBFGS",
    implementations=lbfgs.IMPLEMENTATIONS,
    constraint=lbfgs.constraint,
    variants=lbfgs.VARIANTS,
    invariants=(
        crossval_checks.closure_trajectory,
        lbfgs_checks.first_iteration,
        lbfgs_checks.sufficient_decrease,
        lbfgs_checks.resume,
    ),
    decay="none",
    bytes_per_element=lbfgs.bytes_per_element,
    closure_driven=True,
)

RECORDS = (MUON, SPARSE_ADAM, LBFGS)
