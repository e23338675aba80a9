"""The spec types: one entry per algorithm, read by references, checks, validator and benchmarks.

A spec names the reference function, the torch counterpart (as a dotted string: reference/
never imports torch), the constructor's hyper-parameter space under torch's names, the
invariants that apply (names resolved by optcheck.checks) and the named variants.
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


@dataclass(frozen=True)
class Variant:
    """A named alternative formula a target might implement instead of the spec's."""

    name: str
    fn: Callable[..., Any]  # a StepFn for optimizers, a closed form for schedules
    description: str
    source: str


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    step: StepFn
    torch_class: str
    space: tuple[Dimension, ...]
    invariants: tuple[str, ...]
    source: str
    state_keys: tuple[str, ...]
    constraint: Constraint | None = None
    variants: tuple[Variant, ...] = ()
    # torch implementations that exist for this class ("forloop" always).
    implementations: tuple[str, ...] = ("forloop", "foreach")
    # Keyword overrides torch needs for the spec's defaults to mean the same thing.
    notes: str = ""

    @property
    def defaults(self) -> dict[str, Any]:
        return defaults(self.space)

    def check_hp(self, hp: Hyper) -> str | None:
        return self.constraint(hp) if self.constraint else None

    def variant(self, name: str) -> Variant:
        return _find_variant(self.name, self.variants, name)


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
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        return defaults(self.space)

    def check_params(self, params: Hyper) -> str | None:
        return self.constraint(params) if self.constraint else None

    def variant(self, name: str) -> Variant:
        return _find_variant(self.name, self.variants, name)


def _find_variant(owner: str, variants: tuple[Variant, ...], name: str) -> Variant:
    for v in variants:
        if v.name.lower() == name.lower():
            return v
    raise KeyError(f"{owner} has no variant {name!r}")
