"""hypothesis strategies built from the specs' hyper-parameter spaces, and drawn open-loop cases.

Hyper-parameters are drawn under torch's constructor names; flags a target does not accept
stay at their defaults and are not passed (the checks that need them are skipped instead).

A ``Case`` is everything one open-loop run needs: hyper-parameters (per param group), the
initial parameters, a fixed gradient sequence and, optionally, the lr a scheduler writes before
each step. Its arrays are regenerated from a small ``recipe`` (seed, gradient kind per tensor,
magnitude exponents), so hypothesis shrinks towards few steps, small shapes, the simplest
gradient kind and seed 0, and ``describe()`` gives a JSON-able minimal counterexample.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import numpy as np
import torch
from hypothesis import strategies as st

from optcheck.checks.kit.harness import DTYPES, LAYOUTS, run_torch, shape_drawn
from optcheck.checks.kit.registry import (
    NotApplicable,
    explicit_cases,
    first_draw,
    reference_side,
)
from optcheck.checks.records import Limits, OptimizerRecord, ScheduleSpec
from optcheck.checks.target import OptimizerTarget
from optcheck.reference.space import (
    FRACTIONS_MOST,
    Children,
    Choice,
    Dimension,
    Flag,
    Int,
    IntList,
    Pair,
    Real,
)
from optcheck.reference.spec import StepFn
from optcheck.reference.trajectory import run_optimizer


def real(dim: Real) -> st.SearchStrategy[float]:
    if dim.log:
        # log-uniform over [low, high]: draw the exponent; edges first, then the specials.
        lo, hi = math.log10(dim.low), math.log10(dim.high)
        body = st.floats(lo, hi, allow_nan=False).map(lambda e: float(10.0**e))
    else:
        body = st.floats(dim.low, dim.high, allow_nan=False)
    body = body.map(lambda x: min(max(x, dim.low), dim.high))
    return st.one_of(st.sampled_from(dim.special), body) if dim.special else body


def int_list(dim: IntList) -> st.SearchStrategy[tuple[int, ...]]:
    """Distinct values, some of them repeated, then shuffled: repeats and orders are drawn,
    not left to chance collisions."""

    def repeated(base: list[int]) -> st.SearchStrategy[tuple[int, ...]]:
        if not base:
            return st.just(())
        extra = st.lists(st.sampled_from(base), max_size=len(base))
        return extra.flatmap(lambda more: st.permutations(base + more)).map(tuple)

    values = st.lists(st.integers(dim.low, dim.high), max_size=dim.most, unique=True)
    return values.flatmap(repeated)


def fractions(dim: Int) -> st.SearchStrategy[float]:
    """k/q in [low, min(high, FRACTIONS_MOST)], q = 2, 3 or 4, never an integer: halves and
    quarters are exact in binary, thirds are not (an epoch never lands on them exactly)."""
    top = min(dim.high, FRACTIONS_MOST)

    def over(q: int) -> st.SearchStrategy[float]:
        ks = st.integers(dim.low * q, top * q).filter(lambda k: k % q != 0)
        return ks.map(lambda k: k / q)

    return st.sampled_from((2, 3, 4)).flatmap(over)


def dimension(dim: Dimension) -> st.SearchStrategy[Any]:
    if isinstance(dim, Real):
        return real(dim)
    if isinstance(dim, Int):
        ints = st.integers(dim.low, dim.high)
        return ints | fractions(dim) if dim.fractions else ints
    if isinstance(dim, IntList):
        return int_list(dim)
    if isinstance(dim, Choice):
        return st.sampled_from(dim.values)
    if isinstance(dim, Flag):
        return st.booleans()
    if isinstance(dim, Pair):
        return st.tuples(*(dimension(p) for p in dim.parts))
    if isinstance(dim, Children):
        raise TypeError(f"{dim.name}: child schedules are drawn by kit.schedules.children")
    raise TypeError(f"unknown dimension {dim!r}")


def hyperparams(
    spec: OptimizerRecord | ScheduleSpec,
    *,
    fixed: Mapping[str, Any] | None = None,
    accepts: Callable[[str], bool] = lambda _: True,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid hyper-parameter dicts for ``spec``: ``fixed`` values win, ``overrides`` replace a
    dimension's strategy, keywords the target rejects are left out, and the spec's
    constraint filters invalid combinations (as torch would reject them)."""
    fixed = dict(fixed or {})
    overrides = dict(overrides or {})
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for dim in spec.space:
        if dim.name in fixed:
            parts[dim.name] = st.just(fixed[dim.name])
        elif not accepts(dim.name):
            continue
        else:
            parts[dim.name] = overrides.get(dim.name, dimension(dim))
    check = spec.check_hp if isinstance(spec, OptimizerRecord) else spec.check_params
    return st.fixed_dictionaries(parts).filter(lambda hp: check(hp) is None)


# --- gradient sequences ----------------------------------------------------------------------

# Simplest first: hypothesis shrinks a sampled_from towards its first element.
GRAD_KINDS = (
    "constant",  # the same values every step
    "zeros",
    "random",  # N(0, 1) · 10^e, fresh each step
    "sign_flip",  # constant magnitude, sign alternating each step
    "sparse",  # random with ~70 % exact zeros
    "spike",  # one large step (10^e), then 10^-4 of it: the second moment must decay
    "ramp",  # magnitude growing by 10^3 over the run: maximises Adam's |m̂|/√v̂
    "mixed",  # every element its own magnitude in 10^[lo, hi]
    "near_eps",  # |g| ≈ ε (Adam): where ε-hat and ε placement differ
    "near_sqrt_eps",  # |g| ≈ √ε: where √(v̂+ε) and √v̂+ε differ most
)
# 0-d, one element, ≥ 8 elements, empty, 2-d, 2-d empty, 3-d.
SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (8,), (0,), (3, 4), (2, 0), (2, 3, 2))
# Matrices of every aspect, for records that step only 2-D parameters (Muon).
MATRIX_SHAPES: tuple[tuple[int, ...], ...] = ((3, 4), (4, 3), (1, 5), (4, 4), (0, 3))
# The layout (harness.LAYOUTS) each layout kind draws, and the shapes it draws.
KIND_LAYOUT = {
    "non-contiguous": "transposed",
    "channels-last": "channels-last",
    "complex": "complex",
}
LAYOUT_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "transposed": ((3, 4), (4, 3), (2, 5)),
    "channels-last": ((2, 3, 2, 2), (1, 4, 2, 3)),
}
MANY_TENSORS = (20, 24)  # past torch's foreach chunk sizes and any "first 16" shortcut
# The second dtype of a mixed-dtypes case, by the run's dtype.
OTHER_DTYPE = {
    "float64": "float32",
    "float32": "float64",
    "bfloat16": "float32",
    "float16": "float32",
}
# Exponent range of gradient magnitudes (the issue: 1e-12 to 1e6).
EXPONENTS = (-12, 6)
# How a scheduler may change the lr between steps; "constant" leaves group['lr'] alone.
SCHEDULES = ("constant", "step", "cosine", "warmup", "exponential", "random")


def corners(
    space: Sequence[Dimension], constraint: Callable[[Mapping[str, Any]], str | None] | None
) -> list[dict[str, Any]]:
    """Every combination of each dimension's distinguished values (where formulas change:
    both sides of a flag, the ``special`` values and one interior value of a range), minus
    the combinations the constraint rejects; lr stays at its default. For exhaustive,
    deterministic sweeps such as float64 cross-validation over every flag combination."""

    def interior(d: Real) -> float:
        if d.log:
            return float(np.sqrt(d.low * d.high) if d.low > 0 else d.high / 10)
        return float(d.low + 0.1 * (d.high - d.low)) if d.high > d.low else float(d.low)

    def values(d: Dimension) -> list[Any]:
        if isinstance(d, Flag):
            return [False, True]
        if isinstance(d, Choice):
            return list(d.values)
        if isinstance(d, Int):
            return sorted({d.low, d.default})
        if isinstance(d, IntList):
            return [d.default]
        if isinstance(d, Pair):
            return list(itertools.product(*(values(p) for p in d.parts)))
        if d.name == "lr":
            return [d.default]
        return list(dict.fromkeys([*d.special, d.default, interior(d)]))

    out = []
    for combo in itertools.product(*(values(d) for d in space)):
        hp = dict(zip((d.name for d in space), combo, strict=True))
        if constraint is None or constraint(hp) is None:
            out.append(hp)
    return out


def _magnitudes(rng: np.random.Generator, shape: tuple[int, ...], e: float) -> np.ndarray:
    """Random signs, magnitudes within a factor 3 of 10^e (never exactly zero)."""
    sign = rng.choice([-1.0, 1.0], size=shape)
    return sign * 10.0 ** (e + rng.uniform(-0.5, 0.5, size=shape))


def _scalar_eps(eps: Any) -> float | None:
    """The ε "near_eps" gradients sit at: a number; Adafactor's (ε1, ε2) pair names none (its
    ε1 may be None), so those kinds fall back to the drawn exponent."""
    return eps if isinstance(eps, int | float) and not isinstance(eps, bool) else None


def gradient_sequence(
    kind: str,
    shape: tuple[int, ...],
    steps: int,
    exponent: int,
    seed: int,
    *,
    eps: float | None = None,
    exponents: tuple[int, int] = EXPONENTS,
) -> list[np.ndarray]:
    """``steps`` gradients of one tensor, regenerated exactly from (kind, shape, exponent, seed)."""
    rng = np.random.default_rng(seed)
    lo, hi = exponents
    if kind == "near_eps" and eps:
        exponent = math.log10(eps)
    elif kind == "near_sqrt_eps" and eps:
        exponent = 0.5 * math.log10(eps)
    if kind in ("constant", "near_eps", "near_sqrt_eps"):
        c = _magnitudes(rng, shape, exponent)
        return [c.copy() for _ in range(steps)]
    if kind == "zeros":
        return [np.zeros(shape) for _ in range(steps)]
    if kind == "random":
        return [rng.normal(size=shape) * 10.0**exponent for _ in range(steps)]
    if kind == "sign_flip":
        c = _magnitudes(rng, shape, exponent)
        return [c * (-1.0) ** k for k in range(steps)]
    if kind == "sparse":
        return [
            np.where(rng.uniform(size=shape) < 0.7, 0.0, rng.normal(size=shape) * 10.0**exponent)
            for _ in range(steps)
        ]
    if kind == "spike":
        c = _magnitudes(rng, shape, exponent)
        small = 10.0 ** (max(exponent - 4, lo) - exponent)
        return [
            c if k == 0 else c * small * rng.uniform(0.5, 1.0, size=shape) for k in range(steps)
        ]
    if kind == "ramp":
        c = _magnitudes(rng, shape, 0.0)
        start = max(exponent - 3, lo)
        growth = (exponent - start) / max(steps - 1, 1)
        return [c * 10.0 ** (start + growth * k) for k in range(steps)]
    if kind == "mixed":
        return [
            rng.choice([-1.0, 1.0], size=shape) * 10.0 ** rng.uniform(lo, hi, size=shape)
            for _ in range(steps)
        ]
    raise ValueError(f"unknown gradient kind {kind!r}")


def fit_shapes(
    record: OptimizerRecord, shapes: Sequence[tuple[int, ...]]
) -> tuple[tuple[int, ...], ...]:
    """The shapes of ``shapes`` the record steps (OptimizerRecord.param_ndims), plus
    MATRIX_SHAPES for a record that steps matrices."""
    pool = [tuple(s) for s in shapes if record.accepts_shape(tuple(s))]
    if record.param_ndims is not None and 2 in record.param_ndims:
        pool += [s for s in MATRIX_SHAPES if s not in pool]
    return tuple(pool)


def fit_shape(record: OptimizerRecord | Limits | None, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` brought to the nearest rank the record (or inferred Limits) steps (trailing
    1s added, or leading dimensions merged), the same number of elements."""
    if record is None or record.accepts_shape(shape) or not record.param_ndims:
        return shape
    n = min(record.param_ndims, key=lambda d: (abs(d - len(shape)), d))
    if n > len(shape):
        return tuple(shape) + (1,) * (n - len(shape))
    return (math.prod(shape[: len(shape) - n + 1]), *shape[len(shape) - n + 1 :])


def untouched_rows(g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``g`` with each row (first index) left out of the sparse gradient with probability 1/2,
    NaN-encoded (reference.sparse_adam); an explicit 0 stays a touched entry."""
    if g.ndim == 0:
        return g
    out = np.array(g, dtype=np.float64)
    out[rng.uniform(size=g.shape[0]) < 0.5] = np.nan
    return out


def lr_schedule(kind: str, lr: float, steps: int, seed: int) -> tuple[float, ...] | None:
    """The lr written to every group before each step (None: never written), all > 0."""
    k = np.arange(steps)
    if kind == "constant":
        return None
    if kind == "step":
        f = 0.5 ** (k // 2)
    elif kind == "cosine":
        f = 0.1 + 0.45 * (1 + np.cos(np.pi * k / steps))
    elif kind == "warmup":
        f = (k + 1) / steps
    elif kind == "exponential":
        f = 0.8**k
    elif kind == "random":
        f = 10.0 ** np.random.default_rng(seed).uniform(-1, 0, size=steps)
    else:
        raise ValueError(f"unknown lr schedule {kind!r}")
    return tuple(float(lr * x) for x in f)


# --- cases -----------------------------------------------------------------------------------


class TargetRaised(Exception):
    """The target raised while being driven; ``step`` is 1-based (0: while constructing)."""

    def __init__(self, step: int, cause: Exception):
        super().__init__(f"{type(cause).__name__}: {cause}".splitlines()[0])
        self.step, self.cause = step, cause


@dataclass(frozen=True)
class Case:
    """One open-loop run: ``grads[k][i]`` is tensor i's gradient at step k+1 (None: skipped).

    ``groups`` lists tensor indices per param group; ``group_hp[j]`` overrides ``hp`` (the
    constructor keywords) for group j. ``lrs[k]``, when given, is written to every group
    before step k+1, as a scheduler would. ``defaults``: the spec's values of keywords the
    target is not handed (it keeps its own, taken to be these); the reference and
    ``tensor_hp`` use them, the target never gets them. ``layouts[i]`` (harness.LAYOUTS) and
    ``dtypes[i]`` (None: the run's dtype) say how the target holds tensor i; its arrays are
    the values either way (a complex tensor's: its view_as_real), which the reference steps.
    ``devices[i]`` (None: the run's device) is where the target holds tensor i, in the same
    dtype (tolerance.case_tolerance says why the bound is the same on either device).
    """

    hp: dict[str, Any]
    params0: tuple[np.ndarray, ...]
    grads: tuple[tuple[np.ndarray | None, ...], ...]
    lrs: tuple[float, ...] | None = None
    groups: tuple[tuple[int, ...], ...] = ()
    group_hp: tuple[dict[str, Any], ...] = ()
    recipe: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    layouts: tuple[str, ...] = ()
    dtypes: tuple[str | None, ...] = ()
    devices: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.groups:
            object.__setattr__(self, "groups", (tuple(range(len(self.params0))),))
        if len(self.group_hp) < len(self.groups):
            pad = ({},) * (len(self.groups) - len(self.group_hp))
            object.__setattr__(self, "group_hp", (*self.group_hp, *pad))

    @property
    def steps(self) -> int:
        return len(self.grads)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(p.shape) for p in self.params0]

    def tensor_hp(self, i: int) -> dict[str, Any]:
        """The hyper-parameters tensor ``i`` is stepped with (its group's overrides applied)."""
        for idx, ghp in zip(self.groups, self.group_hp, strict=True):
            if i in idx:
                return {**self.defaults, **self.hp, **ghp}
        raise IndexError(i)

    def dtype_of(self, i: int, dtype: str) -> str:
        """The dtype tensor ``i`` is held in when the run's dtype is ``dtype``."""
        return (self.dtypes[i] if i < len(self.dtypes) else None) or dtype

    def lr_at(self, i: int, k: int) -> float:
        """The lr tensor ``i`` sees at step k+1."""
        return float(self.lrs[k]) if self.lrs is not None else float(self.tensor_hp(i)["lr"])

    def replace(self, **changes: Any) -> Case:
        return dataclasses.replace(self, **changes)

    def rounded(self, dtype: str) -> Case:
        """Params and grads rounded to ``dtype`` (as the target will hold them), kept as float64.

        The reference then runs on exactly the values the target sees, so the comparison
        measures the target's arithmetic, not the rounding of its inputs.
        """
        names = [self.dtype_of(i, dtype) for i in range(len(self.params0))]
        if all(n == "float64" for n in names):
            return self

        def r(a: np.ndarray | None, i: int) -> np.ndarray | None:
            if a is None or names[i] == "float64":
                return a
            return torch.as_tensor(np.asarray(a)).to(DTYPES[names[i]]).double().numpy().copy()

        return self.replace(
            params0=tuple(r(p, i) for i, p in enumerate(self.params0)),
            grads=tuple(tuple(r(g, i) for i, g in enumerate(gs)) for gs in self.grads),
        )

    def param_groups(self, params: Sequence[torch.nn.Parameter]) -> Any:
        """What the target's constructor gets: a plain list for one plain group, else dicts."""
        if len(self.groups) == 1 and not self.group_hp[0]:
            return list(params)
        return [
            {"params": [params[i] for i in idx], **ghp}
            for idx, ghp in zip(self.groups, self.group_hp, strict=True)
        ]

    def run_target(
        self,
        target: OptimizerTarget,
        dtype: str = "float64",
        device: str = "cpu",
        on_step: Callable[[torch.optim.Optimizer, list[torch.nn.Parameter]], None] | None = None,
    ) -> list[list[np.ndarray]]:
        """The target's params after each step, as float64 (driven by the shared harness).

        ``on_step(opt, params)`` runs after every step (to look at state). An exception from
        the target comes out as ``TargetRaised`` naming the step (0: the constructor)."""
        steps = [0]

        def make(ps: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
            opt = target.make(self.param_groups(ps), self.hp)
            original = opt.step

            def step(*args: Any, **kwargs: Any) -> Any:
                steps[0] += 1
                out = original(*args, **kwargs)
                if on_step is not None:
                    on_step(opt, ps)
                return out

            opt.step = step  # type: ignore[method-assign]
            return opt

        try:
            return run_torch(
                make,
                self.params0,
                self.grads,
                dtype=DTYPES[dtype],
                device=device,
                lrs=self.lrs,
                layouts=self.layouts,
                dtypes=[DTYPES[d] if d else None for d in self.dtypes],
                devices=self.devices,
            )
        except Exception as exc:
            raise TargetRaised(steps[0], exc) from exc

    def run_reference(self, step: StepFn) -> list[list[np.ndarray]]:
        """The float64 reference's params after each step (reference.trajectory.run_optimizer:
        tensor by tensor, or together where the step couples them)."""
        hps = [self.tensor_hp(i) for i in range(len(self.params0))]
        with reference_side():
            return run_optimizer(step, self.params0, self.grads, hps, lrs=self.lrs)

    def describe(self) -> dict[str, Any]:
        """JSON-able: hyper-parameters, shapes, the values themselves and the recipe."""
        extra = {"defaults": _jsonable(self.defaults)} if self.defaults else {}
        if any(x != "plain" for x in self.layouts):
            extra["layouts"] = list(self.layouts)
        if any(self.dtypes):
            extra["dtypes"] = list(self.dtypes)
        if any(self.devices):
            extra["devices"] = list(self.devices)
        return {
            "hp": _jsonable(self.hp),
            "shapes": [list(s) for s in self.shapes],
            "params0": [p.tolist() for p in self.params0],
            "grads": [[None if g is None else g.tolist() for g in gs] for gs in self.grads],
            "lrs": None if self.lrs is None else list(self.lrs),
            "groups": [list(g) for g in self.groups],
            "group_hp": [_jsonable(g) for g in self.group_hp],
            "recipe": _jsonable(self.recipe),
            **extra,
        }

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> Case:
        """Inverse of ``describe`` (tuples such as betas come back as tuples)."""
        shapes = [tuple(s) for s in d["shapes"]]

        def arr(v: Any, shape: tuple[int, ...]) -> np.ndarray:
            return np.asarray(v, dtype=np.float64).reshape(shape)

        return cls(
            hp=_tuples(d["hp"]),
            params0=tuple(arr(p, s) for p, s in zip(d["params0"], shapes, strict=True)),
            grads=tuple(
                tuple(None if g is None else arr(g, s) for g, s in zip(gs, shapes, strict=True))
                for gs in d["grads"]
            ),
            lrs=None if d.get("lrs") is None else tuple(d["lrs"]),
            groups=tuple(tuple(g) for g in d.get("groups") or ()),
            group_hp=tuple(_tuples(g) for g in d.get("group_hp") or ()),
            recipe=dict(d.get("recipe") or {}),
            defaults=_tuples(d.get("defaults") or {}),
            layouts=tuple(d.get("layouts") or ()),
            dtypes=tuple(d.get("dtypes") or ()),
            devices=tuple(d.get("devices") or ()),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _tuples(hp: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hp.items()}


def build_case(
    hp: Mapping[str, Any],
    recipe: Mapping[str, Any],
    *,
    group_hp: Sequence[Mapping[str, Any]] = (),
    groups: Sequence[Sequence[int]] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Case:
    """A case regenerated from its recipe: the one place arrays are made from seeds.

    recipe keys: seed, shapes, kinds (per tensor), exponent (gradients ~ 10^exponent),
    exponents (the [lo, hi] range), steps, param_exponent (None: params start at zero),
    param_scale (multiplies params, e.g. the lr), schedule (an lr schedule kind),
    untouched_rows (sparse gradients: rows left out, ``untouched_rows``), absent ([tensor,
    step] pairs whose gradient is None, 0-based), layouts, dtypes and devices
    (per tensor, ``Case``; a complex tensor of shape S has arrays of shape S + (2,)).
    """
    seed, steps = int(recipe["seed"]), int(recipe["steps"])
    layouts = tuple(recipe.get("layouts") or ())
    shapes = [
        (*s, 2) if i < len(layouts) and layouts[i] == "complex" else tuple(s)
        for i, s in enumerate(recipe["shapes"])
    ]
    exps = tuple(recipe.get("exponents", EXPONENTS))
    per_tensor = [
        gradient_sequence(
            kind,
            shape,
            steps,
            int(recipe["exponent"]),
            seed + 7919 * i,
            eps=_scalar_eps(hp.get("eps")),
            exponents=exps,
        )
        for i, (kind, shape) in enumerate(zip(recipe["kinds"], shapes, strict=True))
    ]
    rng = np.random.default_rng(seed + 1)
    pe = recipe.get("param_exponent")
    scale = float(recipe.get("param_scale", 1.0))
    params0 = tuple(
        np.zeros(s) if pe is None else np.asarray(rng.normal(size=s) * 10.0**pe * scale)
        for s in shapes
    )
    grads = tuple(tuple(np.asarray(seq[k]) for seq in per_tensor) for k in range(steps))
    if recipe.get("untouched_rows"):  # a sparse-gradient record (OptimizerRecord.sparse_grads)
        rows = np.random.default_rng(seed + 2)
        grads = tuple(tuple(untouched_rows(g, rows) for g in gs) for gs in grads)
    absent = {(int(i), int(k)) for i, k in recipe.get("absent") or ()}
    if absent:  # tensor i has no gradient (p.grad None) at step k+1
        grads = tuple(
            tuple(None if (i, k) in absent else g for i, g in enumerate(gs))
            for k, gs in enumerate(grads)
        )
    lrs = lr_schedule(recipe.get("schedule", "constant"), float(hp.get("lr", 1e-3)), steps, seed)
    return Case(
        hp=dict(hp),
        params0=params0,
        grads=grads,
        lrs=lrs,
        groups=tuple(tuple(g) for g in groups),
        group_hp=tuple(dict(g) for g in group_hp),
        recipe=dict(recipe),
        defaults=dict(defaults or {}),
        layouts=layouts,
        dtypes=tuple(recipe.get("dtypes") or ()),
        devices=tuple(recipe.get("devices") or ()),
    )


def reseeded(case: Case, seed: int, schedule: str | None = None) -> Case:
    """The same hyper-parameters, shapes and gradient kinds with other random values."""
    recipe = {**case.recipe, "seed": seed}
    if schedule is not None:
        recipe["schedule"] = schedule
    return build_case(
        case.hp, recipe, group_hp=case.group_hp, groups=case.groups, defaults=case.defaults
    )


def cases(
    spec: OptimizerRecord,
    *,
    accepts: Callable[[str], bool] = lambda _: True,
    per_group: Callable[[str], bool] = lambda _: True,
    fixed: Mapping[str, Any] | None = None,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
    kinds: Sequence[str] = GRAD_KINDS,
    shapes: Sequence[tuple[int, ...]] = SHAPES,
    steps: tuple[int, int] = (1, 12),
    max_tensors: int = 3,
    max_groups: int = 3,
    schedules: Sequence[str] = ("constant",),
    exponents: tuple[int, int] = EXPONENTS,
    param_exponents: tuple[int, int] | None = (-3, 2),
    zero_params: bool = True,
    param_scale: Callable[[Mapping[str, Any], int], float] | None = None,
    param_kinds: Sequence[str] = (),
    dtype: str = "float64",
    other_device: str | None = None,
) -> st.SearchStrategy[Case]:
    """Drawn open-loop cases for ``spec``.

    ``fixed`` keywords the target rejects are dropped when they equal the spec's default
    (so a target without, say, ``maximize`` still gets cases). ``max_groups`` > 1 puts the
    later tensors in extra param groups with their own drawn hyper-parameters, so one example
    exercises several hyper-parameter settings (the spaces put half their mass on special
    values such as λ = 0, where whole terms vanish); only keywords ``per_group`` says the
    target keeps per group are drawn there. Keywords the target is not handed stay at the
    spec's defaults (``Case.defaults``) for the reference.
    ``param_scale(hp, exponent)`` multiplies the initial params (low-precision runs use it to
    keep params comparable to the updates, so that updates are not lost in rounding).
    ``param_kinds`` (checks.kit.kinds.PARAM_KINDS beyond the shapes): the layouts, dtypes
    (the second one of a run in ``dtype``) and tensor counts drawn besides plain tensors
    (``kind_choices``); with "devices", tensors on ``other_device`` (contract.other_device;
    None: none drawn) beside those on the run's device.
    """
    defaults = spec.defaults
    fitted = fit_shapes(spec, shapes)
    shapes = tuple(s for s in fitted if shape_drawn(s)) or fitted
    if spec.error_model is not None and spec.error_model.no_empty_tensors:
        shapes = tuple(s for s in shapes if 0 not in s)
    fixed = {k: v for k, v in (fixed or {}).items() if accepts(k) or defaults.get(k, object()) == v}
    hp_strategy = hyperparams(spec, fixed=fixed, accepts=accepts, overrides=overrides)
    left = {k: v for k, v in defaults.items() if not accepts(k)}
    layouts = kind_choices(spec, param_kinds, dtype)
    other = OTHER_DTYPE[dtype] if "mixed-dtypes" in param_kinds else None
    many = "many-tensors" in param_kinds
    second = other_device if "devices" in param_kinds else None

    @st.composite
    def draw_case(
        draw: st.DrawFn, hp_strategy: st.SearchStrategy[dict[str, Any]], plain: bool = False
    ) -> Case:
        """``plain``: a flag plan's case (``flag_plans``): non-empty plain tensors with
        non-zero values and gradients, the most steps, one group of one dtype and device."""
        hp = draw(hp_strategy)
        hp = {k: v for k, v in hp.items() if accepts(k)}
        n = draw(st.integers(1, max_tensors))
        n_steps = steps[1] if plain else draw(st.integers(*steps))
        # One case in 6 holds many plain tensors of one dtype and device (one foreach bucket;
        # few steps: the bucketing and chunking is what is tested).
        crowd = many and not plain and draw(st.integers(0, 5)) == 5
        if crowd:
            n, n_steps = draw(st.integers(*MANY_TENSORS)), min(n_steps, 3)
        tensor_layouts = [
            draw(st.sampled_from(layouts[:1] if crowd or plain else layouts)) for _ in range(n)
        ]
        # A plan's case is the strategy's simplest draw: the largest shape and random
        # gradients first, then the rest (as the check allows).
        sized = sorted((s for s in shapes if 0 not in s), key=math.prod, reverse=True)
        sized = tuple(sized) if plain else tuple(shapes)
        moving = sorted((k for k in kinds if k != "zeros"), key=lambda k: k != "random")
        moving = moving if plain else list(kinds)
        recipe: dict[str, Any] = {
            "seed": draw(st.integers(0, 2**32 - 1)),
            "steps": n_steps,
            "shapes": [
                list(draw(st.sampled_from(LAYOUT_SHAPES.get(layout, sized or tuple(shapes)))))
                for layout in tensor_layouts
            ],
            "kinds": [draw(st.sampled_from(moving or list(kinds))) for _ in range(n)],
            "exponent": draw(st.integers(*exponents)),
            "exponents": list(exponents),
            "schedule": draw(st.sampled_from(list(schedules))),
        }
        if spec.sparse_grads:
            recipe["untouched_rows"] = True
        if spec.couples_tensors and n > 1 and not plain:
            # A tensor without a gradient leaves the shared sums (Prodigy's r and ‖s‖₁), which
            # changes every other tensor's step; tensor 0 keeps its gradients.
            i = draw(st.integers(1, n - 1))
            steps_without = draw(st.lists(st.integers(0, n_steps - 1), unique=True))
            if steps_without:
                recipe["absent"] = [[i, k] for k in sorted(steps_without)]
        if any(x != "plain" for x in tensor_layouts):
            recipe["layouts"] = tensor_layouts
        if other is not None and not crowd and not plain:
            drawn = [draw(st.sampled_from((None, other))) for _ in range(n)]
            # A complex tensor keeps the run's dtype when the other one has no complex kind.
            drawn = [
                None if x == "complex" and d is not None and d not in ("float64", "float32") else d
                for x, d in zip(tensor_layouts, drawn, strict=True)
            ]
            if any(drawn):
                recipe["dtypes"] = drawn
        if second is not None and not crowd and not plain:
            placed = [draw(st.sampled_from((None, second))) for _ in range(n)]
            if any(placed):
                recipe["devices"] = placed
        # Zero params in a quarter of the cases: θ = 0 hides every θ-dependent term (decay).
        zero = zero_params and not plain and draw(st.integers(0, 3)) == 3
        if param_exponents is None or zero:
            recipe["param_exponent"] = None
        else:
            recipe["param_exponent"] = draw(st.integers(*param_exponents))
        if param_scale is not None:
            recipe["param_scale"] = float(param_scale(hp, recipe["exponent"]))
        groups: list[list[int]] = []
        group_hp: list[dict[str, Any]] = []
        n_groups = 1 if plain else draw(st.integers(1, min(max_groups, n)))
        if n_groups > 1:
            split = n - (n_groups - 1)
            groups = [list(range(split))] + [[i] for i in range(split, n)]
            group_hp = [{}]
            for _ in range(n_groups - 1):
                g = {
                    k: v
                    for k, v in draw(hp_strategy).items()
                    if accepts(k) and per_group(k) and k not in spec.constructor_only
                }
                # Part of a valid draw over the constructor's values may not be valid itself.
                group_hp.append(g if spec.check_hp({**hp, **g}) is None else {})
        return build_case(hp, recipe, group_hp=group_hp, groups=groups, defaults=left)

    def planned(plan: dict[str, Any]) -> Case | None:
        """The plan's case: the other keywords at the record's defaults (the simplest draw
        has β1 = 0, where coupled and decoupled decay agree), else drawn; the check's
        ``overrides`` drawn."""
        at_defaults = {k: v for k, v in defaults.items() if k not in (overrides or {})}
        for pinned in (at_defaults, {}):
            hp = hyperparams(
                spec, fixed={**pinned, **fixed, **plan}, accepts=accepts, overrides=overrides
            )
            try:
                return first_draw(draw_case(hp, plain=True))
            except hypothesis.errors.HypothesisException:
                continue
        return None

    strategy = draw_case(hp_strategy)
    # One case per flag plan runs after the drawn ones, if they pass (run_property).
    plans = flag_plans(spec, fixed=fixed, accepts=accepts, overrides=overrides)
    strategy.explicit = lambda: [  # type: ignore[attr-defined]
        c for plan in plans if (c := planned(plan)) is not None
    ]
    return strategy


def builds(
    target: Callable[..., Any], cases: st.SearchStrategy[Case], *others: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``st.builds(target, cases, *others)`` that keeps ``cases``'s fixed flag-plan cases
    (run_property's explicit phase), each built with the others' simplest draw."""
    strategy = st.builds(target, cases, *others)
    strategy.explicit = lambda: [  # type: ignore[attr-defined]
        first_draw(st.builds(target, st.just(c), *others)) for c in explicit_cases(cases)
    ]
    return strategy


def one_of(*branches: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``st.one_of`` that keeps every branch's fixed flag-plan cases."""
    if len(branches) == 1:  # st.one_of(x) is x itself: its own explicit cases stand
        return branches[0]
    strategy = st.one_of(*branches)
    strategy.explicit = lambda: [c for b in branches for c in explicit_cases(b)]  # type: ignore[attr-defined]
    return strategy


# The value a zero-default switch takes when switched on (flag_plans; the generic contract's
# all-switched plan): a middle decay and momentum of the ranges the contract draws from.
SWITCHED_ON = {"decay": 1e-2, "momentum": 0.9}


def _on_value(d: Dimension) -> float | None:
    """A zero-default decay or momentum's "on" value inside its range, else None."""
    if not isinstance(d, Real) or d.default != 0:
        return None
    value = next((v for k, v in SWITCHED_ON.items() if d.name.endswith(k)), None)
    return value if value is not None and d.low <= value <= d.high else None


def flag_plans(
    spec: OptimizerRecord,
    *,
    fixed: Mapping[str, Any] | None = None,
    accepts: Callable[[str], bool] = lambda _: True,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> list[dict[str, Any]]:
    """The keywords of the fixed cases every check over ``spec`` runs first:
    every flag at its default, each flipped alone, then all flipped, with weight decay on.
    Random draws met decoupled_weight_decay=True with λ > 0 on a non-empty tensor only by
    chance: radam.sgd_phase caught RAdam ports that ignore the flag on 6 seeds of 12. The
    check's ``fixed`` and ``overrides`` keywords (its premise) and those the target is not
    handed are left alone; a plan the record's constraint rejects (nesterov without
    momentum) is tried again with momentum on, else dropped."""
    fixed, overrides = dict(fixed or {}), dict(overrides or {})
    free = [d for d in spec.space if d.name not in fixed and d.name not in overrides]
    free = [d for d in free if accepts(d.name)]
    flags = {d.name: d.default for d in free if isinstance(d, Flag)}
    on = {d.name: v for d in free if (v := _on_value(d)) is not None}
    decay = {k: v for k, v in on.items() if k.endswith("decay")}
    if not flags and not decay:
        return []
    base = {**flags, **decay}
    plans = [base] + [{**base, name: not v} for name, v in flags.items()]
    if len(flags) > 1:
        plans.append({**base, **{name: not v for name, v in flags.items()}})
    out = []
    for plan in plans:
        for tried in (plan, {**plan, **on}):
            if spec.check_hp({**spec.defaults, **tried, **fixed}) is None:
                out += [] if tried in out else [tried]
                break
    return out


def kind_choices(spec: OptimizerRecord, param_kinds: Sequence[str], dtype: str) -> list[str]:
    """The layouts (plain first: hypothesis shrinks to it) a case of ``spec`` in ``dtype``
    may draw: a kind's shapes must be of a rank the record steps; complex needs an elementwise
    record's dense gradients (no rank limit, not sparse) and a dtype with a complex kind."""
    out = ["plain"]
    for kind in param_kinds:
        layout = KIND_LAYOUT.get(kind)
        if layout is None:
            continue
        if layout == "complex":
            fits = spec.param_ndims is None and not spec.sparse_grads
            fits = fits and dtype in ("float64", "float32")
        else:
            fits = all(spec.accepts_shape(s) for s in LAYOUT_SHAPES[layout])
        if fits:
            out.append(layout)
    assert set(out) <= set(LAYOUTS)
    return out


def target_cases(
    spec: OptimizerRecord,
    target: OptimizerTarget,
    user_fixed: Mapping[str, Any],
    *,
    fixed: Mapping[str, Any] | None = None,
    **kw: Any,
) -> st.SearchStrategy[Case]:
    """``cases`` for a target: the keywords it is handed and keeps per group, the user's
    fixed values and the check's own ``fixed`` values (what the check observes). The user's
    values reach the target in every check: where a check's premise contradicts one (it
    needs weight_decay = 0, the user fixed 0.1), the check does not apply."""
    check_fixed = dict(fixed or {})
    conflicts = [k for k, v in check_fixed.items() if k in user_fixed and user_fixed[k] != v]
    if conflicts:
        raise NotApplicable(
            "needs "
            + ", ".join(f"{k}={check_fixed[k]!r}" for k in conflicts)
            + "; the settings fix "
            + ", ".join(f"{k}={user_fixed[k]!r}" for k in conflicts)
        )
    return cases(
        spec,
        accepts=target.accepts,
        per_group=target.keeps_per_group,
        fixed={**user_fixed, **check_fixed},
        **kw,
    )


def dyadic(low: int = -3, high: int = 3) -> st.SearchStrategy[float]:
    """±2^k: scaling by it is exact in binary floating point (no new rounding)."""
    return st.tuples(st.sampled_from([1.0, -1.0]), st.integers(low, high)).map(
        lambda t: t[0] * 2.0 ** t[1]
    )
