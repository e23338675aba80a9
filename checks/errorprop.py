"""Running error analysis of an algorithm from a description of its operations.

The description is the algorithm's float64 reference step itself (reference.ops): the engine
calls that step with *tracked* values in place of arrays and floats. A tracked value carries the
float64 value the reference computes and a per-element bound on the absolute error of the value
a target computes in precision p (with unit roundoff u, smallest normal ``tiny``). Every
operation propagates the errors of its operands to first order and adds its own rounding, so an
algorithm's error model is written once, as its reference, and cannot describe another
algorithm: evaluated on tracked values, the step returns the reference's own values.

Rounding (Higham, *Accuracy and Stability of Numerical Algorithms*, §2.1-§2.2). An element-wise
result r held in the target's dtype is rounded: fl(r) = r(1+δ) + η, |δ| ≤ u, |η| ≤ u·tiny
(the subnormal floor). Each element-wise operation is charged ``rnd(r) = u(|r| + tiny)`` once,
also where an implementation computes in a wider "opmath" type and rounds once (torch's fused
kernels): that only makes the bound safe. For + - · / the charge is capped at |r| + P, P the
propagated error of the operands: rounding to nearest never moves the target's exact result z
further than 0 does (0 is representable), so |fl(z) - z| ≤ |z| ≤ |r| + P. Where exact operands
give an exact 0 (g·g_prev = 0 on Rprop's first step) the result is then exact, and a sign or
comparison taken on it stays certain; without the cap the floor u·tiny made sign(0) uncertain.

Scalars (hyper-parameters, the step count t and their arithmetic) are tracked too, in the hyper
precision h = the finer of the dtype and float32 (torch does this arithmetic in Python doubles
or in the fused kernels' float32 opmath; an implementation doing it in bfloat16 loses the bias
correction for β near 1 and is, rightly, reported). A hyper-parameter enters with the error of
holding it in h (|fl_h(x) - x|, exactly: 0 for float64). Scalar rules, with u_h, tiny_h:
    a ± b      e_a + e_b + min(u_h(|a±b| + tiny_h), |a|, |b|); 0 rounding where exact
               (Sterbenz: b/2 ≤ a ≤ 2b for a - b, so 1 - β is exact for β ≥ 1/2)
    a·b, a/b   |b|e_a + |a|e_b + e_a·e_b;  (e_a + |a/b|·e_b)/(|b| - e_b);  + u_h(|r| + tiny_h)
    a^n        |a^n|·((1 + e_a/|a|)^n - 1) + 4u_h|a^n|  (integer n; pow is not correctly
               rounded: glibc's within 1 ulp, CUDA's double pow within 2 ulp = 4u). With β
               held in float32 (e_β ≤ u_h β), 1 - β^t then shows its cancellation: relative
               ≈ (t+4)u_h·β^t/(1-β^t) + u_h, large for β near 1 and small t
    √a         min(√e_a, e_a/(√a + √max(a - e_a, 0))) + u_h√a  (exact: |√(a+δ) - √a| =
               |δ|/(√(a+δ) + √a); ≈ e_a/(2√a) where e_a ≪ a)
A scalar that meets an array is cast to the dtype: torch's CPU kernels cast ``alpha``,
``value`` and lerp weights to the tensor's dtype (seen: float16 SGD with lr = 1.24e-5, a float16
subnormal, steps 0.19 % = 3.9 u off), so the operand's error is e_s + min(u(|s| + tiny), |s|).

Array operations (x, y tracked or scalar operands with errors E_x, E_y; r the result):
    x ± y          E_x + E_y + rnd(r)
    x·y            |y|E_x + |x|E_y + E_x·E_y + rnd(r)  (the product of errors is kept: exact)
    x / y          (E_x + |r|E_y)/(|y| - E_y) + rnd(r); a scalar divisor adds u(1/|s| + tiny)|x|
                   (torch may multiply by the reciprocal, cast to the dtype). Records the
                   divisor's uncertainty E_y/|y| for the domain.
    √x             min(√E_x, E_x/(√x + √max(x - E_x, 0))) + rnd(r)
    -x, |x|        E_x (exact)
    max(x,y), min  max(E_x, E_y) (exact: AMSGrad's running max); the chosen operand's error
                   alone where |x - y| > E_x + E_y (then the target chooses the same one)
    sign(x)        0 where |x| > E_x, else up to 2 (the sign is uncertain)
    where(c, x, y) the chosen branch's error where c is certain (|a - b| > E_a + E_b for a
                   comparison a > b, or E_a + E_b = 0: exact operands compare alike in every
                   precision), else max(E_x, E_y) + |x - y|
    Σx (n terms)   ΣE_x + γ_{n-1}Σ|x|, γ_k = ku/(1-ku), in any summation order (Higham §4.2)
    A @ B          |A|E_B + E_A|B| + E_A E_B + γ_m|A||B| (m the inner size; Higham §3.5)
    ema(a, x, β)   β·E_a + (1-β)E_x + e_w(|a| + |x|), w = 1-β computed in h, plus the rounding
                   of the worst of the ways to compute it: two products and a sum
                   (2βu|a| + 2wu|x|, the products' roundings and their scalars' casts), torch's
                   lerp a + w(x-a) for w < 1/2 (3wu|x-a|) and x - β(x-a) for w ≥ 1/2
                   (3βu|x-a|); and rnd(r).
    scalar_state(s) e_s + u_32(|s| + tiny_32) where h is finer than float32 (float64 runs), else
                   e_s: torch keeps such a scalar (NAdam's mu_product) as a 0-dim tensor of
                   its scalar dtype, float32 by default, and ``Π *= μ`` computes in float32:
                   μ cast to float32 and the product rounded, each correctly rounded
                   (|fl32(x) - x| ≤ u_32(|x| + tiny_32), Higham §2.1), so the reference writes
                   scalar_state(Π·scalar_state(μ)); in h = float32 both are charged already.
                   (tests/test_errorprop.py::test_scalar_state_bounds_torch_nadam_mu_product)
    emulated(fn,x) fn(x) exact given x (reference.ops): the reference emulates fn's own
                   rounding bit for bit (Muon's bfloat16 Newton-Schulz). Where x ± E_x round
                   differently on fn's first rounding (``grid``), or the target's rounding
                   inside fn may differ (``uncertain``), the case leaves the domain
    machine_eps    2^-52 (the float64 reference's finfo eps) with error |2u - 2^-52|: a target
                   reading finfo(dtype).eps from its own tensors (torch's Adafactor ε1 = None)
                   uses 2u, exactly that far away; where it decides a clamp the comparison
                   is uncertain and a divisor built on it leaves the domain.
    update(θ, Δ)   E_θ + max(E_Δ, ρ_Δ·|Δ_obs|) + u(|θ_new,obs| + tiny), where the magnitudes are
                   the larger of the model's and the target's own (``observed``: a target's
                   rounding follows its own magnitudes, which differ from the reference's where
                   it does not follow it), ρ_Δ = E_Δ/|Δ| capped at 1 (where Δ = 0 in the model:
                   the relative rounding of Δ's own operations, ``rho``). With parameters
                   stored in bfloat16 or float16 the last term dominates: Σ_k u·|θ_k| grows
                   linearly (an update below u|θ|/2 is lost every time, deterministically).

Each tracked value carries two error channels per run: [0] the total error (θ_{t-1} with its
own accumulated error), [1] the step's own error (θ_{t-1} exact: what a residual
θ_t - D·θ_{t-1} formed from the target's own θ_{t-1} may show). Both start each step from the
state errors accumulated so far. Runs in the same precision share one pass (``propagate_pair``:
a float64 target, which follows ``observed``, and the float64 reference, which does not).

A step whose state couples the tensors (reference.spec.CoupledStep, Prodigy's one d) is run
once per step over all of them (``_propagate_joint``): the shared state's errors reach every
tensor, and ``update(param, step, tensor=i)`` names whose observed magnitudes apply.

Sources of the torch behaviours: the casts of scalar operands and the float16 lr finding are
tests/test_crossval.py::test_float16_scalars_are_rounded_to_float16_by_torch; lerp's two
branches are ATen's lerp kernel (``weight < 0.5 ? self + weight*diff : end - diff*(1-weight)``);
tests/test_errorprop.py checks every rule above against what torch computes.

Domain. The bound is first order; ``Arith`` records what decides whether it holds: the largest
magnitude met (overflow) and the largest relative uncertainty of a divisor (tolerance.py turns
these into ``Tolerance.outside``). Underflow needs no exclusion: the u·tiny floors cover it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcheck.reference.spec import CoupledStep, ErrorModel


@dataclass(frozen=True)
class Precision:
    name: str
    u: float  # unit roundoff 2^-p
    tiny: float  # smallest positive normal number
    huge: float  # largest finite number


PRECISIONS: dict[str, Precision] = {
    "float64": Precision("float64", 2.0**-53, float(np.finfo(np.float64).tiny), 1.8e308),
    "float32": Precision(
        "float32", 2.0**-24, float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    ),
    "bfloat16": Precision("bfloat16", 2.0**-8, 2.0**-126, 3.3895313892515355e38),
    "float16": Precision("float16", 2.0**-11, 2.0**-14, 65504.0),
}
FLOAT64 = PRECISIONS["float64"]
FLOAT32 = PRECISIONS["float32"]


def precision(dtype: str) -> Precision:
    return PRECISIONS[dtype]


def hyper_precision(p: Precision) -> Precision:
    """Scalar hyper-parameter arithmetic: never coarser than float32 (module docstring)."""
    return p if p.u <= FLOAT32.u else FLOAT32


@dataclass
class ErrorBound:
    """Per step k (0-based) and tensor i: bounds on |error| of θ after step k+1.

    ``theta`` accumulates over the run; ``local`` is what step k+1 adds (the error of that
    step's update and its rounding, from the target's own θ_k and the state it started from)."""

    theta: list[list[np.ndarray]]
    local: list[list[np.ndarray]]
    largest: float = 0.0  # largest |intermediate|
    divisor: float = 0.0  # largest relative error bound of a divisor
    # inputs of an emulated computation within their error of its first rounding boundary
    straddles: int = 0


class Arith:
    """The precision of one propagation and its domain bookkeeping."""

    def __init__(self, prec: Precision, runs: int = 1):
        self.prec = prec
        self.u, self.tiny = prec.u, prec.tiny
        hyper = hyper_precision(prec)
        self.uh, self.tiny_h = hyper.u, hyper.tiny
        self._hyper_f32 = hyper.name == "float32"
        self.largest = 0.0
        self.divisor = 0.0
        self.straddles = 0
        # Runs propagated together in this precision, two error channels each (module
        # docstring): run 0 follows ``observed``, run 1 (if any) does not.
        self.runs = runs
        self.channels = 2 * runs
        self._restart = np.repeat(np.arange(0, self.channels, 2), 2)
        self.first_run = np.arange(self.channels) < 2
        self._leaves: dict[tuple[type, Any], Scalar] = {}
        # (θ the target reached after this step, the one before or None) for ``update``.
        self.observed: tuple[np.ndarray, np.ndarray | None] | None = None
        # The same per tensor, while a joint step (spec.CoupledStep) updates every tensor.
        self.observed_joint: list[tuple[np.ndarray, np.ndarray | None] | None] = []

    def rnd(self, x: Any) -> Any:
        """Rounding an element-wise result x to the dtype."""
        return self.u * (np.abs(x) + self.tiny)

    def cast(self, s: float) -> float:
        """Rounding a scalar operand to the dtype: at most |s| (0 is representable, so an exact
        0 such as the 0 of ``x > 0`` stays exact)."""
        return min(self.u * (abs(s) + self.tiny), abs(s))

    def leaf(self, x: Any) -> Scalar:
        """A number as the arithmetic receives it: held in the hyper precision."""
        key = (type(x), x)
        hit = self._leaves.get(key)
        if hit is None:
            hit = self._leaves[key] = self._leaf(x)
        return hit

    def _leaf(self, x: Any) -> Scalar:
        if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
            value: Any = int(x)
            exact = abs(value) <= 2**24 or not self._hyper_f32
            return Scalar(value, 0.0 if exact else self.uh * abs(value), self)
        value = float(x)
        err = 0.0
        if self._hyper_f32 and math.isfinite(value):
            with np.errstate(over="ignore"):
                err = abs(float(np.float32(value)) - value)
        return Scalar(value, err, self)

    def see(self, x: np.ndarray) -> None:
        """Record |x|'s largest element (a NaN or inf stays recorded)."""
        self.see_abs(np.abs(x))

    def see_abs(self, a: np.ndarray) -> None:
        if a.size:
            top = float(a.max())
            if not top <= self.largest and self.largest == self.largest:
                self.largest = top

    def divide_by(self, d: Any, dd: Any) -> None:
        """Record a divisor |d| and its error bound dd (0/0: an exact zero divisor shows up
        as a non-finite result instead)."""
        if np.size(d):
            rel = float(np.max(dd / d))
            if rel > self.divisor:
                self.divisor = rel


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_)
    )


def _arith(*xs: Any) -> Arith:
    for x in xs:
        if isinstance(x, (Tracked, Scalar)):
            return x.ar
        if isinstance(x, Cond):
            return x.ar
    raise TypeError("no tracked operand")


# --- scalars: hyper-parameter arithmetic in the hyper precision --------------------------------


class _Arithmetic:
    """The four operators of tracked scalars and arrays, both ways round: each is a rule of
    ``_binary``."""

    def __add__(self, o: Any) -> Any:
        return _binary("add", self, o)

    def __radd__(self, o: Any) -> Any:
        return _binary("add", o, self)

    def __sub__(self, o: Any) -> Any:
        return _binary("sub", self, o)

    def __rsub__(self, o: Any) -> Any:
        return _binary("sub", o, self)

    def __mul__(self, o: Any) -> Any:
        return _binary("mul", self, o)

    def __rmul__(self, o: Any) -> Any:
        return _binary("mul", o, self)

    def __truediv__(self, o: Any) -> Any:
        return _binary("div", self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return _binary("div", o, self)


class Scalar(_Arithmetic):
    """A scalar (hyper-parameter, step count, or arithmetic on them) and its error bound ``e``,
    computed in the hyper precision h."""

    __slots__ = ("v", "e", "ar")

    def __init__(self, v: Any, e: float, ar: Arith):
        self.v, self.e, self.ar = v, float(e), ar

    def __repr__(self) -> str:
        return f"Scalar({self.v!r} ± {self.e:.3g})"

    # Control flow on hyper-parameters is exact (they are known); values must stay visible.
    def __bool__(self) -> bool:
        return bool(self.v)

    def __float__(self) -> float:
        raise TypeError(
            "float() of a tracked scalar hides its arithmetic from the error model: "
            "use operators and np.sqrt on it (see reference.ops)"
        )

    def __index__(self) -> int:
        if isinstance(self.v, int) and self.e == 0:
            return self.v
        raise TypeError("only an exact integer scalar (the step count) is an index")

    __int__ = __index__

    def _cmp(self, other: Any) -> Any:
        return other.v if isinstance(other, Scalar) else other

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        return bool(self.v == self._cmp(other))

    def __ne__(self, other: Any) -> bool:  # type: ignore[override]
        return bool(self.v != self._cmp(other))

    def __lt__(self, other: Any) -> bool:
        return bool(self.v < self._cmp(other))

    def __le__(self, other: Any) -> bool:
        return bool(self.v <= self._cmp(other))

    def __gt__(self, other: Any) -> bool:
        return bool(self.v > self._cmp(other))

    def __ge__(self, other: Any) -> bool:
        return bool(self.v >= self._cmp(other))

    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Scalar:
        return Scalar(-self.v, self.e, self.ar)

    def __pos__(self) -> Scalar:
        return self

    def __abs__(self) -> Scalar:
        return Scalar(abs(self.v), self.e, self.ar)

    def __pow__(self, o: Any) -> Any:
        return _scalar_pow(self, o)

    def __rpow__(self, o: Any) -> Any:
        return _scalar_pow(self.ar.leaf(o), self)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any) -> Any:
        return _ufunc(ufunc, method, inputs, kw)


def _sum_rounding(ar: Arith, a: float, b: float, r: float) -> float:
    """Rounding of a + b in h (b carries its sign): 0 where exact, else at most
    min(u_h(|r| + tiny_h), |a|, |b|) (round to nearest: a and b are representable)."""
    if a == 0 or b == 0:
        return 0.0
    if (a > 0) != (b > 0) and 0.5 * abs(a) <= abs(b) <= 2.0 * abs(a):
        return 0.0  # Sterbenz
    return min(ar.uh * (abs(r) + ar.tiny_h), abs(a), abs(b))


def _scalar_binary(op: str, a: Scalar, b: Scalar) -> Scalar:
    ar = a.ar
    if op == "add":
        r = a.v + b.v
        return Scalar(r, a.e + b.e + _sum_rounding(ar, a.v, b.v, r), ar)
    if op == "sub":
        r = a.v - b.v
        return Scalar(r, a.e + b.e + _sum_rounding(ar, a.v, -b.v, r), ar)
    if op == "mul":
        r = a.v * b.v
        e = abs(b.v) * a.e + abs(a.v) * b.e + a.e * b.e
        return Scalar(r, e + ar.uh * (abs(r) + ar.tiny_h), ar)
    if op == "div":
        r = a.v / b.v
        den = abs(b.v) - b.e
        e = (a.e + abs(r) * b.e) / den if den > 0 else math.inf
        return Scalar(r, e + ar.uh * (abs(r) + ar.tiny_h), ar)
    raise TypeError(f"unknown scalar operation {op}")


# pow is not correctly rounded: glibc's is within 1 ulp, CUDA's double pow within 2 ulp = 4u.
POW_ROUNDING = 4


def _scalar_pow(a: Scalar, n: Any) -> Scalar:
    ar = a.ar
    n = n if isinstance(n, Scalar) else ar.leaf(n)
    r = a.v**n.v
    if n.v == 0:
        return Scalar(r, 0.0, ar)
    if a.v == 0:
        return Scalar(r, a.e**n.v if n.v > 0 else math.inf, ar)
    rel = a.e / abs(a.v)
    if isinstance(n.v, int) and n.e == 0:
        # |(a+e)^n - a^n| ≤ |a|^n((1+rel)^n - 1), finite also where rel ≥ 1 (a β that
        # underflows in float32 keeps |a^n| ≤ (2|a|)^n, not an infinite bound)
        try:
            grow = math.expm1(abs(n.v) * math.log1p(rel))
        except OverflowError:
            grow = math.inf
    else:  # first order in both: d(a^n) = a^n (n da/a + ln|a| dn)
        grow = abs(n.v) * rel + abs(math.log(abs(a.v))) * n.e
    return Scalar(r, abs(r) * (grow + POW_ROUNDING * ar.uh) + ar.uh * ar.tiny_h, ar)


def _scalar_sqrt(a: Scalar) -> Scalar:
    ar = a.ar
    r = math.sqrt(a.v) if a.v >= 0 else math.nan
    e = float(_sqrt_error(np.float64(a.v), np.float64(a.e)))
    return Scalar(r, e + ar.uh * (r + ar.tiny_h), ar)


def _sqrt_error(x: Any, dx: Any) -> Any:
    """|√(x+δ) - √x| = |δ|/(√(x+δ) + √x) ≤ min(√|δ|, |δ|/(√x + √max(x-|δ|, 0)))."""
    den = np.sqrt(np.maximum(x, 0.0)) + np.sqrt(np.maximum(x - dx, 0.0))
    return np.fmin(np.sqrt(dx), dx / den)  # fmin: 0/0 (x = δ = 0) gives √0 = 0


# --- arrays ------------------------------------------------------------------------------------


class Cond:
    """A comparison of tracked values: the reference's outcome and, per error channel, whether
    the target's outcome is certain to be the same."""

    __slots__ = ("v", "certain", "ar")

    def __init__(self, v: np.ndarray, certain: np.ndarray, ar: Arith):
        self.v, self.certain, self.ar = v, certain, ar

    def __bool__(self) -> bool:
        raise TypeError("a tracked comparison is an array: use np.where (see reference.ops)")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return Tracked.__array_function__(self, func, types, args, kwargs)  # type: ignore[arg-type]


class Tracked(_Arithmetic):
    """An array the algorithm computes: the reference's float64 value ``v`` and error bounds
    ``E`` (channels [0] total, [1] this step's own; shape (2, *v.shape)). ``rho`` is a relative
    error bound of v had this step's array inputs been exact (``update`` uses it where the
    model's step is 0)."""

    __slots__ = ("v", "E", "rho", "ar")
    __array_priority__ = 1000

    def __init__(self, v: Any, E: Any, ar: Arith, rho: float = 0.0):
        self.v = np.asarray(v, dtype=np.float64)
        E = np.asarray(E, dtype=np.float64)
        shape = (ar.channels, *self.v.shape)
        if E.shape != shape:
            full = np.empty(shape)
            full[...] = E
            E = full
        self.E = E
        self.ar, self.rho = ar, float(rho)

    @classmethod
    def const(cls, v: Any, ar: Arith) -> Tracked:
        return cls(v, 0.0, ar)

    def __repr__(self) -> str:
        return f"Tracked(shape={self.v.shape}, max err={float(np.max(self.E, initial=0)):.3g})"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.v.shape

    @property
    def ndim(self) -> int:
        return self.v.ndim

    @property
    def size(self) -> int:
        return self.v.size

    @property
    def dtype(self) -> Any:
        return self.v.dtype

    def __len__(self) -> int:
        return len(self.v)

    def copy(self) -> Tracked:
        return Tracked(self.v.copy(), self.E, self.ar, self.rho)

    # Escapes that would hide arithmetic from the model fail loudly.
    def __bool__(self) -> bool:
        raise TypeError("branching on a tracked array: use np.where (see reference.ops)")

    def __float__(self) -> float:
        raise TypeError("float() of a tracked array hides its arithmetic from the error model")

    def __array__(self, *a: Any, **kw: Any) -> np.ndarray:
        raise TypeError(
            "a tracked value reached code outside the error model's vocabulary "
            "(np.asarray, math.*, or an unsupported NumPy function): see reference.ops"
        )

    # structure (exact)
    def __getitem__(self, idx: Any) -> Tracked:
        eidx = (slice(None), *idx) if isinstance(idx, tuple) else (slice(None), idx)
        return Tracked(self.v[idx], self.E[eidx], self.ar, self.rho)

    def reshape(self, *shape: Any) -> Tracked:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        v = self.v.reshape(shape)
        return Tracked(v, self.E.reshape((self.ar.channels, *v.shape)), self.ar, self.rho)

    @property
    def T(self) -> Tracked:  # noqa: N802 - NumPy's name
        axes = (0, *range(self.ndim, 0, -1))
        return Tracked(self.v.T, np.transpose(self.E, axes), self.ar, self.rho)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tracked:
        return _sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tracked:
        s = _sum(self, axis, keepdims)
        n = self.v.size // max(s.v.size, 1) if self.v.size else 1
        return s / self.ar.leaf(n)

    # arithmetic
    def __neg__(self) -> Tracked:
        return Tracked(-self.v, self.E, self.ar, self.rho)

    def __pos__(self) -> Tracked:
        return self

    def __abs__(self) -> Tracked:
        return Tracked(np.abs(self.v), self.E, self.ar, self.rho)

    def __matmul__(self, o: Any) -> Tracked:
        return _matmul(self, _lift(o, self.ar))

    def __rmatmul__(self, o: Any) -> Tracked:
        return _matmul(_lift(o, self.ar), self)

    def __pow__(self, n: Any) -> Tracked:
        if n == 2:
            return _binary("mul", self, self)
        if n == 0.5:
            return _sqrt(self)
        raise TypeError("tracked arrays support x**2 and x**0.5; write other powers out")

    def _compare(self, o: Any, fn: Callable[..., np.ndarray]) -> Cond:
        other = _lift(o, self.ar)
        shape = np.broadcast_shapes(self.v.shape, np.shape(other.v))
        gap = np.abs(self.v - other.v)
        bound = _err(self, shape) + _err(other, shape)
        # Certain where the operands cannot cross, or are exact (then the target compares the
        # same numbers: 0 > 0 is False in every precision).
        certain = (gap > bound) | (bound == 0)
        return Cond(fn(self.v, other.v), certain, self.ar)

    def __gt__(self, o: Any) -> Cond:
        return self._compare(o, np.greater)

    def __ge__(self, o: Any) -> Cond:
        return self._compare(o, np.greater_equal)

    def __lt__(self, o: Any) -> Cond:
        return self._compare(o, np.less)

    def __le__(self, o: Any) -> Cond:
        return self._compare(o, np.less_equal)

    __hash__ = None  # type: ignore[assignment]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any) -> Any:
        return _ufunc(ufunc, method, inputs, kw)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        impl = _FUNCTIONS.get(func)
        if impl is None:
            raise TypeError(
                f"np.{getattr(func, '__name__', func)} is not in the error model's vocabulary "
                "(checks.errorprop): add its rule there"
            )
        return impl(*args, **kwargs)


def _lift(x: Any, ar: Arith) -> Tracked | Scalar:
    """An operand of an array operation: tracked, a scalar (cast to the dtype when used), or a
    constant array (exact)."""
    if isinstance(x, (Tracked, Scalar)):
        return x
    if _is_number(x):
        return ar.leaf(x)
    if isinstance(x, np.ndarray):
        return Tracked.const(x, ar)
    raise TypeError(f"{type(x).__name__} is not an operand the error model knows")


def _err(x: Tracked | Scalar, shape: tuple[int, ...]) -> Any:
    """x's error as an operand of an array operation whose result has ``shape``: a scalar's
    includes its cast to the dtype; an array's is aligned for broadcasting (channel axis 0)."""
    if isinstance(x, Scalar):
        return x.e + x.ar.cast(x.v)
    pad = len(shape) - x.v.ndim
    return x.E.reshape((x.ar.channels,) + (1,) * pad + x.v.shape) if pad else x.E


def _val(x: Tracked | Scalar) -> Any:
    return x.v


def _rel(x: Tracked | Scalar) -> float:
    if isinstance(x, Scalar):
        return (x.e + x.ar.cast(x.v)) / abs(x.v) if x.v != 0 else 0.0
    return x.rho


def _binary(op: str, a: Any, b: Any) -> Any:
    ar = _arith(a, b)
    if not (isinstance(a, (Tracked, np.ndarray)) or isinstance(b, (Tracked, np.ndarray))):
        return _scalar_binary(op, _as_scalar(a, ar), _as_scalar(b, ar))
    x, y = _lift(a, ar), _lift(b, ar)
    xv, yv = x.v, y.v
    if op == "add":
        r = xv + yv
    elif op == "sub":
        r = xv - yv
    elif op == "mul":
        r = xv * yv
    else:
        r = xv / yv
    r = np.asarray(r, dtype=np.float64)
    shape = r.shape
    ex, ey = _err(x, shape), _err(y, shape)
    u = ar.u
    absr = np.abs(r)
    rounding = u * (absr + ar.tiny)
    if op == "add" or op == "sub":
        P = ex + ey
        rho = max(_rel(x), _rel(y)) + u
    elif op == "mul":
        P = np.abs(yv) * ex + np.abs(xv) * ey + ex * ey
        rho = _rel(x) + _rel(y) + u
    else:
        ayv = np.abs(yv)
        # (|x|+E_x)/(|y|-E_y) - |x|/|y| = (E_x + |r|E_y)/(|y|-E_y): inf where y may vanish
        P = (ex + absr * ey) / np.maximum(ayv - ey, 0.0)
        rho = _rel(x) + _rel(y) + u
    # Round to nearest errs by at most |z| ≤ |r| + P (module docstring: 0 is representable).
    E = P + np.minimum(rounding, absr + P)
    if op == "div":
        if isinstance(y, Scalar):  # torch may multiply by 1/s cast to the dtype
            E = E + u * ar.tiny * np.abs(xv)
        ar.divide_by(ayv, ey[0] if isinstance(y, Tracked) else ey)
    ar.see_abs(absr)
    return Tracked(r, E, ar, rho)


def _as_scalar(x: Any, ar: Arith) -> Scalar:
    if isinstance(x, Scalar):
        return x
    if _is_number(x):
        return ar.leaf(x)
    raise TypeError(f"{type(x).__name__} is not a scalar the error model knows")


def _sqrt(x: Tracked) -> Tracked:
    ar = x.ar
    r = np.sqrt(x.v)
    E = _sqrt_error(x.v, x.E) + ar.rnd(r)
    ar.see(r)
    return Tracked(r, E, ar, x.rho / 2 + ar.u)


def _extreme(fn: Callable[..., np.ndarray], a: Any, b: Any) -> Any:
    ar = _arith(a, b)
    x, y = _lift(a, ar), _lift(b, ar)
    if isinstance(x, Scalar) and isinstance(y, Scalar):
        r = fn(x.v, y.v)
        return Scalar(float(r), max(x.e, y.e), ar)
    r = np.asarray(fn(_val(x), _val(y)), dtype=np.float64)
    ex, ey = _err(x, r.shape), _err(y, r.shape)
    # Where the operands cannot cross (|x - y| > E_x + E_y) the target picks the same one:
    # its error alone (a clamp at Γmax = 50 does not charge 50's cast to values far below).
    gap = np.abs(_val(x) - _val(y))
    certain = gap > ex + ey
    picks_x = fn(_val(x), _val(y)) == _val(x)
    E = np.where(certain, np.where(picks_x, ex, ey), np.maximum(ex, ey))
    return Tracked(r, E, ar, max(_rel(x), _rel(y)))


def _sign(x: Tracked) -> Tracked:
    a = np.abs(x.v)
    flip = np.where(a == 0, 1.0, 2.0)
    E = np.where((a > x.E) | ((a == 0) & (x.E == 0)), 0.0, flip)
    return Tracked(np.sign(x.v), E, x.ar, 0.0)


def _where(cond: Any, a: Any, b: Any) -> Tracked:
    ar = _arith(cond, a, b)
    x, y = _lift(a, ar), _lift(b, ar)
    c = cond.v if isinstance(cond, Cond) else np.asarray(cond, dtype=bool)
    r = np.asarray(np.where(c, _val(x), _val(y)), dtype=np.float64)
    ex, ey = _err(x, r.shape), _err(y, r.shape)
    chosen = np.where(c, ex, ey)
    if isinstance(cond, Cond):
        either = np.maximum(ex, ey) + np.abs(_val(x) - _val(y))
        certain = np.asarray(cond.certain)  # (channels, *cond shape): a scalar test picks arrays
        certain = certain.reshape(certain.shape + (1,) * (chosen.ndim - certain.ndim))
        chosen = np.where(certain, chosen, either)
    return Tracked(r, chosen, ar, max(_rel(x), _rel(y)))


def _gamma(k: int, u: float) -> float:
    return k * u / (1 - k * u) if k * u < 1 else math.inf


def _sum(x: Tracked, axis: Any = None, keepdims: bool = False) -> Tracked:
    ar = x.ar
    r = np.asarray(np.sum(x.v, axis=axis, keepdims=keepdims), dtype=np.float64)
    n = x.v.size // max(r.size, 1) if x.v.size else 0
    eaxis = None if axis is None else tuple(a % x.ndim + 1 for a in np.atleast_1d(axis))
    if axis is None:
        E = x.E.reshape(ar.channels, -1).sum(axis=1)
        if keepdims:
            E = E.reshape((ar.channels,) + (1,) * x.ndim)
    else:
        E = x.E.sum(axis=eaxis, keepdims=keepdims)
    adds = max(n - 1, 0)  # n - 1 additions, each rounded (with its subnormal floor)
    g = _gamma(adds, ar.u)
    mag = np.sum(np.abs(x.v), axis=axis, keepdims=keepdims)
    E = E + g * mag + adds * ar.u * ar.tiny
    ar.see(r)
    return Tracked(r, E, ar, x.rho + g)


def _matmul(a: Tracked | Scalar, b: Tracked | Scalar) -> Tracked:
    if not isinstance(a, Tracked) or not isinstance(b, Tracked):
        raise TypeError("matmul needs two arrays")
    ar = a.ar
    r = np.asarray(a.v @ b.v, dtype=np.float64)
    m = a.v.shape[-1] if a.v.ndim else 1
    aa, ab = np.abs(a.v), np.abs(b.v)
    E = np.stack([aa @ b.E[c] + a.E[c] @ ab + a.E[c] @ b.E[c] for c in range(ar.channels)])
    E = E + _gamma(m, ar.u) * (aa @ ab + m * ar.tiny)
    ar.see(r)
    return Tracked(r, E, ar, a.rho + b.rho + _gamma(m, ar.u))


def _ufunc(ufunc: Any, method: str, inputs: tuple, kw: dict) -> Any:
    if method != "__call__" or kw:
        raise TypeError(f"np.{ufunc.__name__}.{method} with {sorted(kw)} is not supported")
    name = ufunc.__name__
    binary = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "div"}
    if name == "true_divide":
        name = "divide"
    if name in binary:
        return _binary(binary[name], *inputs)
    (x,) = inputs[:1]
    if name == "sqrt":
        return _scalar_sqrt(x) if isinstance(x, Scalar) else _sqrt(_lift(x, _arith(x)))
    if name == "square":
        return _binary("mul", x, x)
    if name == "negative":
        return -x
    if name in ("absolute", "fabs"):
        return abs(x)
    if name == "sign" and isinstance(x, Tracked):
        return _sign(x)
    if name in ("maximum", "fmax"):
        return _extreme(np.maximum, *inputs)
    if name in ("minimum", "fmin"):
        return _extreme(np.minimum, *inputs)
    if name in ("greater", "greater_equal", "less", "less_equal") and isinstance(x, Tracked):
        return x._compare(inputs[1], ufunc)
    raise TypeError(
        f"np.{name} is not in the error model's vocabulary (checks.errorprop): add its rule"
    )


def _zeros_like(x: Tracked, *a: Any, **kw: Any) -> Tracked:
    return Tracked.const(np.zeros_like(x.v), x.ar)


def _copy(x: Tracked, *a: Any, **kw: Any) -> Tracked:
    return x.copy()


_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.zeros_like: _zeros_like,
    np.copy: _copy,
    np.where: _where,
    np.sum: lambda x, axis=None, keepdims=False: _sum(x, axis, keepdims),
    np.mean: lambda x, axis=None, keepdims=False: x.mean(axis, keepdims),
    np.matmul: lambda a, b: _matmul(_lift(a, _arith(a, b)), _lift(b, _arith(a, b))),
}


# --- the two operations a reference names (reference.ops) --------------------------------------


class _Ops:
    """What reference.ops defers to when handed tracked values."""

    @staticmethod
    def ema(avg: Any, x: Any, beta: Any) -> Tracked:
        ar = _arith(avg, x, beta)
        b = _as_scalar(beta, ar)
        a, y = _lift(avg, ar), _lift(x, ar)
        if not isinstance(a, Tracked) or not isinstance(y, Tracked):
            raise TypeError("ema averages arrays")
        w = _scalar_binary("sub", ar.leaf(1.0), b)  # 1 - β in h, with β's own error
        r = np.asarray(b.v * a.v + (1.0 - b.v) * y.v, dtype=np.float64)
        shape = r.shape
        beta_v, w_v = abs(b.v), abs(w.v)
        absa, absy = np.abs(a.v), np.abs(y.v)
        if w_v < 0.5:
            ca, cb = 2 * beta_v + 3 * w_v, 3 * w_v
        else:
            ca, cb = 3 * beta_v, max(3 * beta_v, 2 * w_v)
        u, tiny = ar.u, ar.tiny
        # u(ca|a| + cb|x| + tiny(|a| + |x| + 3)) + rnd(r) + w.e(|a| + |x|), grouped by operand:
        # β̂ and ŵ = fl(1 - β̂) both err by at most w.e (w.e ≥ β's own error).
        # Exact zeros average to an exact 0 in every arrangement: no subnormal floor there
        # (sign(0) of a zero history stays certain: Lion under zero gradients).
        ea, ey = _err(a, shape), _err(y, shape)
        floor = np.where((absa == 0) & (absy == 0) & (ea == 0) & (ey == 0), 0.0, 4 * tiny)
        E = (
            beta_v * ea
            + w_v * ey
            + (u * (ca + tiny) + w.e) * absa
            + (u * (cb + tiny) + w.e) * absy
            + u * (np.abs(r) + floor)
        )
        ar.see(r)
        return Tracked(r, E, ar, max(a.rho, y.rho) + 4 * u + (w.e / w_v if w_v else 0.0))

    @staticmethod
    def scalar_state(x: Any) -> Scalar:
        if not isinstance(x, Scalar):
            raise TypeError("scalar_state holds a scalar (a 0-dim tensor), not an array")
        ar = x.ar
        if ar._hyper_f32:
            return x
        return Scalar(x.v, x.e + FLOAT32.u * (abs(x.v) + FLOAT32.tiny), ar)

    @staticmethod
    def emulated(fn: Any, x: Any, *args: Any, grid: Any = None, uncertain: Any = None) -> Any:
        # The reference reproduces fn's rounding itself: the output is exact given x's value,
        # unless x's error could carry it across fn's first rounding (``grid``): then counted
        # in ``straddles``, which puts the case outside the model.
        def plain(a: Any) -> Any:
            if isinstance(a, (tuple, list)):
                return type(a)(plain(b) for b in a)
            return a.v if isinstance(a, (Tracked, Scalar)) else a

        if not isinstance(x, Tracked):
            return fn(plain(x), *map(plain, args))
        if grid is not None:
            # the reference's own input errs as much as a float64 target's: both counted
            spread = 2 * x.E.max(axis=0)
            if np.any(grid(x.v - spread) != grid(x.v + spread)):
                x.ar.straddles += 1
        if uncertain is not None and uncertain(x.v, *map(plain, args)):
            x.ar.straddles += 1
        r = np.asarray(fn(x.v, *map(plain, args)))
        if r.dtype == bool:
            return r
        r = r.astype(np.float64)
        x.ar.see(r)
        return Tracked.const(r, x.ar)

    @staticmethod
    def machine_eps(x: Any) -> Scalar:
        ar = _arith(x)
        ref = float(np.finfo(np.float64).eps)
        return Scalar(ref, abs(2 * ar.u - ref), ar)

    @staticmethod
    def update(param: Any, step: Any, tensor: int | None = None) -> Tracked:
        ar = _arith(param, step)
        seen = ar.observed if tensor is None else ar.observed_joint[tensor]
        p, s = _lift(param, ar), _lift(step, ar)
        if not isinstance(p, Tracked):
            raise TypeError("update changes an array")
        r = np.asarray(p.v - _val(s), dtype=np.float64)
        shape = r.shape
        ep, es = _err(p, shape), _err(s, shape)
        step_v = np.abs(np.broadcast_to(_val(s), shape))
        mag_new, mag_step = np.abs(r), step_v
        if seen is not None:
            obs, prev = seen
            prev = p.v if prev is None else prev
            seen_new = np.maximum(mag_new, np.abs(obs))
            seen_step = np.maximum(mag_step, np.abs(obs - prev))
            if ar.runs == 1:
                mag_new, mag_step = seen_new, seen_step
            else:  # run 0 follows the target's magnitudes, run 1 the reference's
                first = ar.first_run.reshape((ar.channels,) + (1,) * len(shape))
                mag_new = np.where(first, seen_new, mag_new)
                mag_step = np.where(first, seen_step, mag_step)
        rel = np.minimum(np.where(step_v != 0, es / step_v, _rel(s)), 1.0)
        E = ep + np.maximum(es, rel * mag_step) + ar.rnd(mag_new)
        ar.see(r)
        return Tracked(r, E, ar, max(p.rho, _rel(s)) + ar.u)


OPS = _Ops()
Tracked.__optcheck_ops__ = OPS  # type: ignore[attr-defined]
Scalar.__optcheck_ops__ = OPS  # type: ignore[attr-defined]


# --- the engine --------------------------------------------------------------------------------


def _hyper(hp: Mapping[str, Any], ar: Arith) -> dict[str, Any]:
    """Hyper-parameters as the arithmetic receives them: numbers become tracked scalars."""
    out: dict[str, Any] = {}
    for k, v in hp.items():
        if _is_number(v):
            out[k] = ar.leaf(v)
        elif isinstance(v, (tuple, list)) and all(_is_number(x) for x in v):
            out[k] = tuple(ar.leaf(x) for x in v)
        else:
            out[k] = v
    return out


def _restart(x: Any) -> Any:
    """A state value at the start of a step: each run's accumulated error in both its
    channels (nested: a joint step's per-tensor states)."""
    if isinstance(x, Tracked):
        return Tracked(x.v, x.E[x.ar._restart], x.ar)
    if isinstance(x, dict):
        return {key: _restart(v) for key, v in x.items()}
    if isinstance(x, list):
        return [_restart(v) for v in x]
    return x


def propagate(
    model: ErrorModel,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    prec: Precision,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None = None,
    param_error: Sequence[np.ndarray] | None = None,
    observed: Sequence[Sequence[np.ndarray]] | None = None,
    values: list[list[np.ndarray]] | None = None,
) -> ErrorBound:
    """The running error bound of ``model``'s step computed in ``prec``, tensor by tensor, on
    the open-loop run the reference makes (reference.trajectory.run: a None gradient skips the
    tensor, which keeps its own step count; ``lrs[k]`` replaces hp['lr'] at step k+1).

    ``hps[i]`` are tensor i's hyper-parameters; ``grad_error[k][i]``, when given, bounds an
    error already present in the input gradient, ``param_error[i]`` one in the initial params;
    ``observed[k][i]``, the target's θ after step k+1, raises the update's rounding terms to
    its magnitudes. ``values``, when given, receives the tracked trajectory's float64 values
    (the reference's own, which tests check)."""
    kw = {"grad_error": grad_error, "param_error": param_error, "observed": observed}
    return _propagate(model, params0, grads, hps, lrs, prec, runs=1, values=values, **kw)[0]


def propagate_pair(
    model: ErrorModel,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    prec: Precision,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None = None,
    param_error: Sequence[np.ndarray] | None = None,
    observed: Sequence[Sequence[np.ndarray]] | None = None,
) -> tuple[ErrorBound, ErrorBound]:
    """``propagate`` with and without ``observed``, in one pass (the float64 target's bound
    and the float64 reference's own share every operation)."""
    if observed is None:
        one = propagate(
            model, params0, grads, hps, lrs, prec, grad_error=grad_error, param_error=param_error
        )
        return one, one
    kw = {"grad_error": grad_error, "param_error": param_error, "observed": observed}
    first, second = _propagate(model, params0, grads, hps, lrs, prec, runs=2, values=None, **kw)
    return first, second


def _propagate(
    model: ErrorModel,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    prec: Precision,
    *,
    runs: int,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None,
    param_error: Sequence[np.ndarray] | None,
    observed: Sequence[Sequence[np.ndarray]] | None,
    values: list[list[np.ndarray]] | None,
) -> list[ErrorBound]:
    ar = Arith(prec, runs)
    if isinstance(model.step, CoupledStep):
        kw = {"grad_error": grad_error, "param_error": param_error, "observed": observed}
        return _propagate_joint(model.step, params0, grads, hps, lrs, ar, values=values, **kw)
    steps = len(grads)
    thetas: list[list[list[np.ndarray]]] = [[[] for _ in range(steps)] for _ in range(runs)]
    locals_: list[list[list[np.ndarray]]] = [[[] for _ in range(steps)] for _ in range(runs)]
    if values is not None:
        values.extend([] for _ in range(steps))
    with np.errstate(all="ignore"):  # out-of-range values show up in largest/divisor
        for i, p0 in enumerate(params0):
            theta = np.asarray(p0, dtype=np.float64)
            zeros = np.zeros_like(theta)
            dth0 = zeros if param_error is None else np.asarray(param_error[i], dtype=np.float64)
            dth = np.stack([dth0] * runs)
            state: dict[str, Any] = {}
            t = 0
            ar.see(theta)
            for k, gk in enumerate(grads):
                g = gk[i]
                if g is not None:
                    t += 1
                    hp = dict(hps[i]) if lrs is None else {**hps[i], "lr": float(lrs[k])}
                    g64 = np.asarray(g, dtype=np.float64)
                    dg = grad_error[k][i] if grad_error is not None else None
                    dg = np.zeros_like(g64) if dg is None else np.asarray(dg, dtype=np.float64)
                    ar.see(np.where(np.isnan(g64), 0.0, g64))  # NaN: absent (sparse_adam)
                    ar.observed = _observed(observed, k, i)
                    E0 = np.empty((2 * runs, *theta.shape))
                    E0[0::2], E0[1::2] = dth, 0.0  # the step's own error: θ_{t-1} exact
                    new, new_state = model.step(
                        Tracked(theta, E0, ar),
                        Tracked(g64, dg, ar),
                        {key: _restart(v) for key, v in state.items()},
                        _hyper(hp, ar),
                        ar.leaf(t),
                    )
                    new = _lift(new, ar)
                    if not isinstance(new, Tracked):
                        raise TypeError(f"{model.name}'s step did not return an array")
                    state = dict(new_state)
                    theta, dth, own = new.v, new.E[0::2], new.E[1::2]
                else:
                    own = np.zeros((runs, *theta.shape))
                for r in range(runs):
                    thetas[r][k].append(dth[r].copy())
                    locals_[r][k].append(own[r].copy())
                if values is not None:
                    values[k].append(theta.copy())
    ar.observed = None
    return [
        ErrorBound(thetas[r], locals_[r], ar.largest, ar.divisor, ar.straddles) for r in range(runs)
    ]


def _propagate_joint(
    step: CoupledStep,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    hps: Sequence[Mapping[str, Any]],
    lrs: Sequence[float] | None,
    ar: Arith,
    *,
    grad_error: Sequence[Sequence[np.ndarray | None]] | None,
    param_error: Sequence[np.ndarray] | None,
    observed: Sequence[Sequence[np.ndarray]] | None,
    values: list[list[np.ndarray]] | None,
) -> list[ErrorBound]:
    """``_propagate`` for a step whose state couples the tensors: every tensor through one
    ``step.joint`` call per step (t the optimizer's count), the shared state's errors reaching
    each tensor; per tensor, the same two channels per run and the same bookkeeping."""
    runs, steps = ar.runs, len(grads)
    thetas: list[list[list[np.ndarray]]] = [[[] for _ in range(steps)] for _ in range(runs)]
    locals_: list[list[list[np.ndarray]]] = [[[] for _ in range(steps)] for _ in range(runs)]
    if values is not None:
        values.extend([] for _ in range(steps))
    theta = [np.asarray(p, dtype=np.float64) for p in params0]
    dth = [
        np.stack([np.zeros_like(th) if param_error is None else np.asarray(param_error[i])] * runs)
        for i, th in enumerate(theta)
    ]
    state: dict[str, Any] = {}
    with np.errstate(all="ignore"):  # out-of-range values show up in largest/divisor
        for th in theta:
            ar.see(th)
        for k, gk in enumerate(grads):
            tracked_p, tracked_g = [], []
            for i, g in enumerate(gk):
                E0 = np.empty((2 * runs, *theta[i].shape))
                E0[0::2], E0[1::2] = dth[i], 0.0  # the step's own error: θ_{t-1} exact
                tracked_p.append(Tracked(theta[i], E0, ar))
                if g is None:
                    tracked_g.append(None)
                    continue
                g64 = np.asarray(g, dtype=np.float64)
                dg = grad_error[k][i] if grad_error is not None else None
                dg = np.zeros_like(g64) if dg is None else np.asarray(dg, dtype=np.float64)
                ar.see(g64)
                tracked_g.append(Tracked(g64, dg, ar))
            ar.observed_joint = [_observed(observed, k, i) for i in range(len(theta))]
            hp_k = [dict(hp) if lrs is None else {**hp, "lr": float(lrs[k])} for hp in hps]
            new, new_state = step.joint(
                tracked_p, tracked_g, _restart(state), [_hyper(hp, ar) for hp in hp_k],
                ar.leaf(k + 1),
            )  # fmt: skip
            state = dict(new_state)
            for i, x in enumerate(new):
                x = _lift(x, ar)
                if not isinstance(x, Tracked):
                    raise TypeError("a joint step did not return arrays")
                theta[i], dth[i] = x.v, x.E[0::2]
                own = x.E[1::2]
                for r in range(runs):
                    thetas[r][k].append(dth[i][r].copy())
                    locals_[r][k].append(own[r].copy())
                if values is not None:
                    values[k].append(theta[i].copy())
    ar.observed_joint = []
    return [
        ErrorBound(thetas[r], locals_[r], ar.largest, ar.divisor, ar.straddles) for r in range(runs)
    ]


def _observed(observed: Any, k: int, i: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    if observed is None or observed[k] is None or observed[k][i] is None:
        return None
    prev = observed[k - 1][i] if k > 0 and observed[k - 1] is not None else None
    return np.asarray(observed[k][i], dtype=np.float64), prev
