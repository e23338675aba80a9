"""The algorithm record: everything optcheck knows about one optimizer, in one place.

torch's ``OptimizerInfo`` (torch/testing/_internal/common_optimizers.py) is the model: one
record per algorithm, and every consumer — strategies, checks, validator, tests, nox, .ci/gpu,
benchmarks — iterates the catalog (``optcheck.checks.catalog``) instead of naming algorithms.
A record lives in ``checks/algorithms/<name>.py``; adding an algorithm is its reference file,
its record, its invariants module and its tests.

Invariants are the check functions themselves (decorated with ``@check(..., invariant=True)``),
so a misspelt invariant fails when the record is imported, and a record never runs a check it
does not list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optcheck.reference.space import Dimension, defaults
from optcheck.reference.spec import (
    Constraint,
    CoupledStep,
    ErrorModel,
    Hyper,
    StepFn,
    Variant,
    find_variant,
)

Implementation = Literal["forloop", "foreach", "fused"]
# The torch.optim constructor keywords that choose each implementation.
IMPLEMENTATION_KEYWORDS: dict[str, dict[str, bool]] = {
    "forloop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}
Decay = Literal["coupled", "decoupled", "none"]


def sparse_closure_reason(name: str) -> str:
    return (
        f"{name} takes sparse gradients, and the contract's closure backpropagates a dense "
        "loss, whose gradient is dense"
    )


# Generic checks whose cases hold several tensors or param groups, each compared with its own
# reference run: they cannot judge a record whose state couples the tensors.
PER_TENSOR_CHECKS = ("contract.param_groups", "interplay.optimizer_lr_reference")


@dataclass(frozen=True)
class Limits:
    """What a target's cases must hold when no record says it: inferred by suites.prepare
    (a constructor that rejects vectors but takes matrices, a step that rejects dense
    gradients but takes sparse ones). Read like the record fields of the same names."""

    param_ndims: tuple[int, ...] | None = None
    sparse_grads: bool = False

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        return self.param_ndims is None or len(shape) in self.param_ndims

    def not_applicable(self, check_id: str) -> str | None:
        if self.sparse_grads and check_id == "contract.closure":
            return sparse_closure_reason("the target")
        return None


@dataclass(frozen=True)
class BenchPreset:
    """One line of the convergence benchmark: the record's algorithm with these keywords."""

    label: str
    hp: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerRecord:
    name: str
    # The float64 reference step, step(param, grad, state, hp, t) -> (param, state); for a
    # closure-driven record step(x, closure_fn, state, hp) -> (x, state) on the flat vector.
    step: StepFn | Callable[..., Any]
    source: str
    # Constructor keywords under torch's names, their defaults and safe drawing ranges.
    space: tuple[Dimension, ...]
    # Per-parameter state tensors (torch's names), for the dtype and resume checks.
    state_keys: tuple[str, ...]
    # Dotted torch class; None when torch has no counterpart (then no torch cross-validation).
    torch_class: str | None = None
    # torch code paths of torch_class ("forloop" is plain foreach=False).
    implementations: tuple[Implementation, ...] = ("forloop",)
    constraint: Constraint | None = None
    variants: tuple[Variant, ...] = ()
    # The tolerance model: the step run on tracked values (reference.ops, checks.errorprop),
    # with its update scale and low-precision domain; None: no cross-validation yet (skipped,
    # with that reason).
    error_model: ErrorModel | None = None
    # Check functions that hold for this algorithm (beyond the generic contract).
    invariants: tuple[Callable[..., Any], ...] = ()
    # How weight_decay enters: into the gradient (L2), decoupled θ(1-ηλ), or not at all.
    decay: Decay = "coupled"
    # Bytes one step moves per parameter element (reads + writes), from hp and the item size.
    bytes_per_element: Callable[[Hyper, int], float] | None = None
    # Lines of the convergence benchmark (none: not benchmarked).
    bench: tuple[BenchPreset, ...] = ()
    # Keywords the torch class reads from its constructor only, ignoring a param group's own
    # value (a documented torch finding, e.g. Adagrad's initial_accumulator_value): drawn
    # cases never vary them per group, since the reference reads every keyword per group.
    constructor_only: tuple[str, ...] = ()
    # Parameter ranks the algorithm steps (None: any); torch's Muon raises on all but
    # matrices. Drawn cases (checks.kit.strategies, the contract's problems) hold only these.
    param_ndims: tuple[int, ...] | None = None
    # Gradients are sparse COO tensors (torch's SparseAdam raises on dense ones): drawn
    # gradients leave rows out, NaN-encoded as in reference.sparse_adam, and the harness
    # hands them to the target as torch.sparse_coo_tensor.
    sparse_grads: bool = False
    # step() takes a closure and evaluates it several times (LBFGS): no fixed gradient
    # sequence drives it, so the open-loop checks (contract, interplay, crossval.trajectory)
    # do not apply; its invariants drive it by closures on drawn problems (checks.kit.closures).
    closure_driven: bool = False
    notes: str = ""
    # Methods called on the optimizer right after construction, in order, in every check
    # (schedulefree's train(): its parameters hold the training point only after it).
    setup: tuple[str, ...] = ()
    # step() takes a closure it must be given (schedulefree's Closure forms evaluate it at
    # another point than the parameter holds): the checks pass one that leaves the gradients
    # they set, so the fixed sequence still drives it (checks.target.OptimizerTarget).
    closure_step: bool = False
    # step() takes Hessian-vector products of p.grad (Adahessian): gradients carry the graph
    # of a loss with a known Hessian (checks.kit.harness.graph_grad), as --create-graph.
    create_graph: bool = False

    def __post_init__(self) -> None:
        if self.error_model is not None and self.error_model.step is not self.step:
            raise TypeError(f"{self.name}: the error model must run the record's own step")
        _registered(self.name, self.invariants)

    @property
    def defaults(self) -> dict[str, Any]:
        return defaults(self.space)

    def check_hp(self, hp: Hyper) -> str | None:
        return self.constraint(hp) if self.constraint else None

    def variant(self, name: str) -> Variant:
        return find_variant(self.name, self.variants, name)

    def not_applicable(self, check_id: str) -> str | None:
        """Why a generic check cannot drive this algorithm (None: it can), from the fields
        above; the runner reports the check as skipped with this reason."""
        if self.closure_driven and check_id not in self.invariant_ids:
            return (
                f"{self.name}.step() is closure-driven (it evaluates the closure at points it "
                "chooses): this check feeds fixed gradients; the record's closure checks "
                "drive it instead"
            )
        if self.sparse_grads and check_id == "contract.closure":
            return sparse_closure_reason(f"{self.name} (its record: sparse_grads)")
        if self.couples_tensors and check_id in PER_TENSOR_CHECKS:
            return (
                f"{self.name} couples every tensor through one state (its record: "
                "couples_tensors): this check compares several tensors or param groups, each "
                "against its own per-tensor reference run"
            )
        return None

    @property
    def couples_tensors(self) -> bool:
        """One state couples every tensor (Prodigy's d, from sums over all coordinates): the
        step is a reference.spec.CoupledStep, which every reference driver steps jointly."""
        return isinstance(self.step, CoupledStep)

    @property
    def structured(self) -> bool:
        """Its cases need structure beyond dense tensors of any shape (matrices, sparse)."""
        return self.param_ndims is not None or self.sparse_grads or self.closure_driven

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        return self.param_ndims is None or len(shape) in self.param_ndims

    @property
    def invariant_ids(self) -> frozenset[str]:
        return frozenset(fn.check_id for fn in self.invariants)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning-rate schedule as a closed form eta_t = closed_form(t, base_lr, **params).

    ``t`` is the scheduler's epoch: the number of ``scheduler.step()`` calls since
    construction (torch's ``last_epoch``). ``momentum`` is the closed form of the cycled
    momentum where the scheduler cycles it (OneCycleLR, CyclicLR).
    """

    name: str
    closed_form: Callable[..., Any]
    torch_class: str | None  # None: torch ships none (a library's factory, see ``source``)
    space: tuple[Dimension, ...]
    # Check functions that hold for this schedule (a wrong one fails at import).
    invariants: tuple[Callable[..., Any], ...]
    source: str
    constraint: Constraint | None = None
    momentum: Callable[..., Any] | None = None
    variants: tuple[Variant, ...] = ()
    notes: str = ""
    # What the checks need to know, each None/False where it does not apply:
    # bounds(base_lr, params) -> (lo, hi), the range "bounded" asserts;
    bounds: Callable[[float, Hyper], tuple[float, float]] | None = None
    # landmarks(base_lr, params) -> ((t, lr), ...), paper values at named epochs;
    landmarks: Callable[[float, Hyper], tuple[tuple[float, float], ...]] | None = None
    # {invariant check: fn(params) -> (t_lo, t_hi | None) | None}: where it holds;
    scope: Mapping[Callable[..., Any], Callable[[Hyper], Any]] = field(default_factory=dict)
    # torch's get_lr multiplies the current lr, so its round-off accumulates with t;
    chainable: bool = False
    # period(params): the period where "periodic" applies;
    period: Callable[[Hyper], int] | None = None
    # horizon(params): the last t torch accepts (OneCycleLR);
    horizon: Callable[[Hyper], int] | None = None
    # the scheduler sets the lr itself (it ignores the optimizer's lr);
    ignores_optimizer_lr: bool = False
    # recipe(params) -> {"schedulers", "milestones"}: how to build a named composite in torch.
    recipe: Callable[[Hyper], Mapping[str, Any]] | None = None
    # step(metric) decides the lr (ReduceLROnPlateau): closed_form takes ``metrics=``, and
    # the t-driven checks leave it to its own (checks/plateau_checks.py).
    metric_driven: bool = False
    # keywords torch also takes as one value per param group (a list, group i gets entry i).
    per_group: tuple[str, ...] = ()
    # every group's lr is its initial lr times ONE multiplier, formed from the optimizer's
    # constructor lr (transformers' polynomial factory reads lr_init = optimizer.defaults["lr"]).
    one_multiplier: bool = False
    # step(epoch) takes any epoch >= 0, fractions too (CosineAnnealingWarmRestarts).
    float_epochs: bool = False
    # keywords also drawn equal to the base lr (eta_min = base: base - eta_min vanishes).
    ties_to_base_lr: tuple[str, ...] = ()
    # Where torch accepts more than the invariants hold for (gamma > 1, OneCycleLR's
    # div_factor < 1, a composite's children drawn): dimension replacements the closed-form
    # comparisons (crossval.*) draw; they also draw each ties_to_base_lr keyword above base.
    accepted: Mapping[str, Dimension] = field(default_factory=dict)
    # the scheduler takes the count itself, step(t) / step_update(t) (timm's): the checks
    # drive it through the kit's IndexStepped adapter.
    steps_by_index: bool = False
    # a metric-driven record's reference run, (metrics, base_lrs, **params) -> PlateauRun
    # (reference.plateau); None: torch's ReduceLROnPlateau rule.
    metric_run: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        _registered(self.name, (*self.invariants, *self.scope))

    @property
    def defaults(self) -> dict[str, Any]:
        return defaults(self.space)

    @property
    def invariant_ids(self) -> frozenset[str]:
        return frozenset(fn.check_id for fn in self.invariants)  # type: ignore[attr-defined]

    def check_params(self, params: Hyper) -> str | None:
        return self.constraint(params) if self.constraint else None

    def variant(self, name: str) -> Variant:
        return find_variant(self.name, self.variants, name)


def _registered(name: str, fns: Any) -> None:
    for fn in fns:
        if getattr(fn, "check_id", None) is None:
            raise TypeError(f"{name}: invariant {fn!r} is not a registered check")
