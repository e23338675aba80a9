"""Types of the references: step functions, variants and the schedule spec.

Optimizers are described by records (optcheck.checks.records), which hold a reference step
from here; a schedule spec names its closed form, the torch counterpart (as a dotted string:
reference/ never imports torch), its parameter space under torch's names, the invariants that
apply (checked against the registered checks when the catalog is imported) and its variants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optcheck.reference.space import Dimension, defaults

Array = np.ndarray
State = Mapping[str, Any]
Hyper = Mapping[str, Any]
# step(param, grad, state, hp, t) -> (new_param, new_state); t counts steps from 1.
StepFn = Callable[[Array, Array, State, Hyper, int], tuple[Array, dict]]
# constraint(hp) -> None when valid, else why the combination is invalid (torch raises).
Constraint = Callable[[Hyper], "str | None"]


@dataclass(frozen=True)
class ErrorModel:
    """What the tolerance engine (optcheck.checks.errorprop) needs to bound an algorithm's
    rounding errors: nothing but its step and two facts of its domain.

    ``step`` is the float64 reference step, written with reference.ops (``ema``, ``update``)
    where plain NumPy does not say what an operation is: the engine runs *that* code on tracked
    values, so the model cannot describe another algorithm than the reference.
    ``update_scale(hp, exponent)`` is how big one update of a parameter is when gradients are
    ~10^exponent (low-precision cases draw params near it, so updates stay visible).
    ``low_precision_overrides[dtype]`` are dimensions that replace the space's in cases drawn
    for that dtype, to keep every intermediate inside its range (e.g. Adam's betas in
    float16)."""

    name: str
    step: StepFn
    update_scale: Callable[[Hyper, int], float]
    low_precision_overrides: Mapping[str, tuple[Dimension, ...]] = field(default_factory=dict)
    # Why zero-size tensors lie outside the model's domain (None: they are inside), e.g. a
    # counterpart that raises on them, a documented finding the contract reports.
    no_empty_tensors: str | None = None


@dataclass(frozen=True)
class Variant:
    """A named alternative formula a target might implement instead of the spec's."""

    name: str
    fn: Callable[..., Any]  # a StepFn for optimizers, a closed form for schedules
    description: str
    source: str


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning-rate schedule as a closed form eta_t = closed_form(t, base_lr, **params).

    ``t`` is the scheduler's epoch: the number of ``scheduler.step()`` calls since
    construction (torch's ``last_epoch``). ``momentum`` is the closed form of the cycled
    momentum where the scheduler cycles it (OneCycleLR, CyclicLR).
    """

    name: str
    closed_form: Callable[..., Any]
    torch_class: str
    space: tuple[Dimension, ...]
    invariants: tuple[str, ...]
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
    # {invariant: fn(params) -> (t_lo, t_hi | None) | None}: where an invariant holds;
    scope: Mapping[str, Callable[[Hyper], Any]] = field(default_factory=dict)
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

    @property
    def defaults(self) -> dict[str, Any]:
        return defaults(self.space)

    def check_params(self, params: Hyper) -> str | None:
        return self.constraint(params) if self.constraint else None

    def variant(self, name: str) -> Variant:
        return find_variant(self.name, self.variants, name)


def find_variant(owner: str, variants: tuple[Variant, ...], name: str) -> Variant:
    for v in variants:
        if v.name.lower() == name.lower():
            return v
    raise KeyError(f"{owner} has no variant {name!r}")
