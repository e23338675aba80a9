"""The arithmetic references are written in, where plain NumPy does not say enough.

A reference step is plain float64 NumPy: ``+ - * /``, ``**``, ``np.sqrt``, ``np.abs``,
``np.maximum``, ``np.minimum``, ``np.sign``, ``np.where``, ``np.zeros_like``, ``.copy()`` on
arrays and Python floats. That same code is the algorithm's *error model*: the tolerance engine
(optcheck.checks.errorprop) runs it on tracked values, which carry an error bound through every
operation. Two operations are written through the helpers below instead, because the engine
must know what they *are*, not only what they compute:

``ema(avg, x, beta)``    β·avg + (1-β)·x. Implementations arrange it differently (torch: lerp
                         ``avg + (1-β)(x-avg)``, or ``mul_`` then ``add_``/``addcmul_``), and
                         the arrangements round differently; the engine bounds every one.
``scalar_state(x)``      x, a scalar the implementation keeps between steps as a 0-dim tensor of
                         its *scalar dtype* (torch: float32 unless the default dtype is
                         float64; NAdam's mu_product). The engine charges its rounding to
                         float32 where the hyper precision is finer.
``update(param, step)``  θ - step, the parameter update. Its rounding follows the target's own
                         observed magnitudes, which the engine knows and the reference does not
                         (a joint step names the tensor: ``update(param, step, tensor=i)``).
``emulated(fn, x)``      fn(x) for a sub-computation whose rounding the reference reproduces
                         itself, bit for bit (torch's bfloat16 Newton-Schulz in Muon): the
                         engine takes its output as exact given x's value, so the tolerance is
                         the round-off of the operations around it. Also for exact structural
                         reads of values (which entries a sparse gradient holds).
``machine_eps(x)``       finfo(x.dtype).eps, where an implementation reads it from its own
                         tensors (torch's Adafactor ε1 = None): the reference's float64 value,
                         which the engine carries with the error of the target's own eps.

On arrays and floats each helper is exactly the plain expression in its docstring. Handed a
tracked value (an operand whose type has ``__optcheck_ops__``) it defers to the engine.

For a step to be its own error model it must keep its arithmetic visible to the engine: no
``math.*`` or ``float()`` on hyper-parameters (use ``np.sqrt``, ``**``), no Python branches on
array values (``np.where`` instead), no in-place updates. The engine refuses the escapes it can
see (``float()``/``bool()`` of a tracked value raise), so a slip fails loudly.
"""

from __future__ import annotations

from typing import Any


def _engine(*operands: Any) -> Any:
    for x in operands:
        ops = getattr(type(x), "__optcheck_ops__", None)
        if ops is not None:
            return ops
    return None


def ema(avg: Any, x: Any, beta: Any) -> Any:
    """Exponential moving average: ``beta * avg + (1.0 - beta) * x``."""
    engine = _engine(avg, x, beta)
    if engine is not None:
        return engine.ema(avg, x, beta)
    return beta * avg + (1.0 - beta) * x


def update(param: Any, step: Any, tensor: int | None = None) -> Any:
    """The parameter update: ``param - step``. ``tensor``: which of the optimizer's tensors
    it updates, where one step updates several (spec.CoupledStep)."""
    engine = _engine(param, step)
    if engine is not None:
        return engine.update(param, step, tensor)
    return param - step


def scalar_state(x: Any) -> Any:
    """A scalar held between steps in the implementation's scalar dtype: ``x``."""
    engine = _engine(x)
    if engine is not None:
        return engine.scalar_state(x)
    return x


def machine_eps(x: Any) -> Any:
    """The machine epsilon of ``x``'s dtype: ``float(np.finfo(x.dtype).eps)``."""
    engine = _engine(x)
    if engine is not None:
        return engine.machine_eps(x)
    import numpy as np

    return float(np.finfo(x.dtype).eps)


def emulated(fn: Any, x: Any, *args: Any, grid: Any = None, uncertain: Any = None) -> Any:
    """``fn(x, *args)``, a sub-computation the reference emulates in the target's own precision
    (``args``: hyper-parameters it reads as plain values; ``grid(x)``: fn's first rounding of
    x, where an error in x could change fn's result; ``uncertain(x, *args)``: whether the
    target's own rounding inside fn may part from the emulation's)."""
    engine = _engine(x, *args)
    if engine is not None:
        return engine.emulated(fn, x, *args, grid=grid, uncertain=uncertain)
    return fn(x, *args)
