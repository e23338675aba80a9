"""Types of the references: step functions, error models and variants.

Optimizers and schedules are described by records (optcheck.checks.records), which hold a
reference step or closed form from here (reference/schedules.py) and its variants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optcheck.reference.space import Dimension

Array = np.ndarray
State = Mapping[str, Any]
Hyper = Mapping[str, Any]
# step(param, grad, state, hp, t) -> (new_param, new_state); t counts steps from 1.
StepFn = Callable[[Array, Array, State, Hyper, int], tuple[Array, dict]]
# joint(params, grads, state, hps, t) -> (new_params, new_state): one step of a whole optimizer
# whose state couples its tensors; grads[i] None: tensor i has no gradient this step (it keeps
# its value and state); hps[i]: the hyper-parameters of tensor i's param group.
JointStepFn = Callable[
    [Sequence[Array], Sequence["Array | None"], State, Sequence[Hyper], int], tuple[list, dict]
]


@dataclass(frozen=True)
class CoupledStep:
    """The step of an optimizer whose state couples every tensor (Prodigy's one d, from sums
    over all coordinates): ``joint`` steps the whole optimizer; called as a StepFn it is the
    optimizer of one tensor (then the whole optimizer), its state flat: ``tensor_keys`` of the
    tensor's own state beside the shared keys. The joint state holds the tensors' own states
    as a list under "tensors". Every driver of a reference (reference.trajectory.run_optimizer,
    the tolerance engine) steps a CoupledStep's tensors together through ``joint``."""

    joint: JointStepFn
    tensor_keys: tuple[str, ...]

    def __call__(
        self, param: Array, grad: Array, state: State, hp: Hyper, t: int
    ) -> tuple[Array, dict]:
        own = {k: v for k, v in state.items() if k in self.tensor_keys}
        shared = {k: v for k, v in state.items() if k not in self.tensor_keys}
        (x,), new = self.joint([param], [grad], {**shared, "tensors": [own]}, [hp], t)
        (mine,) = new.pop("tensors")
        return x, {**mine, **new}


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


def find_variant(owner: str, variants: tuple[Variant, ...], name: str) -> Variant:
    for v in variants:
        if v.name.lower() == name.lower():
            return v
    raise KeyError(f"{owner} has no variant {name!r}")
