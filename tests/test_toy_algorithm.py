"""Adding an algorithm is its reference, its record (and its invariants and tests): a toy one,
defined here and registered in the catalog for the test, gets the optimizer contract,
cross-validation in every dtype, variant naming and a benchmark entry, with no other file of
optcheck changed."""

from __future__ import annotations

import numpy as np
import pytest
from zoo import toy

import optcheck
from optcheck.checks import catalog
from optcheck.checks.records import BenchPreset, OptimizerRecord
from optcheck.checks.target import OptimizerTarget
from optcheck.reference.ops import ema, update
from optcheck.reference.space import Flag, Real
from optcheck.reference.spec import ErrorModel, Variant
from optcheck.suites import bench


def toy_step(param, grad, state, hp, t, *, eps_inside=False):
    """v ← βv + (1-β)g²;  θ ← θ - η·g/(√v + ε)  (RMS steps, no momentum, no correction)."""
    g = -grad if hp.get("maximize", False) else grad
    v = ema(state.get("avg", np.zeros_like(param)), g * g, hp["beta"])
    denominator = np.sqrt(v + hp["eps"]) if eps_inside else np.sqrt(v) + hp["eps"]
    return update(param, hp["lr"] * g / denominator), {"avg": v}


def eps_inside_sqrt_step(param, grad, state, hp, t):
    """√(v + ε) instead of √v + ε."""
    return toy_step(param, grad, state, hp, t, eps_inside=True)


TOY = OptimizerRecord(
    name="ToyRMS",
    step=toy_step,
    source="tests/test_toy_algorithm.py (a toy)",
    space=(
        Real("lr", 1e-6, 1.0, 1e-2, log=True),
        Real("beta", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
        Real("eps", 1e-12, 1e-3, 1e-8, log=True),
        Flag("maximize"),
    ),
    state_keys=("avg",),
    torch_class="zoo.toy.ToyRMS",
    variants=(Variant("eps-inside-sqrt", eps_inside_sqrt_step, "ε under the root", "a toy slip"),),
    # An RMS-normalized update is about η whatever the gradients' size.
    error_model=ErrorModel("ToyRMS", toy_step, lambda hp, exponent: float(hp["lr"])),
    bytes_per_element=lambda hp, itemsize: 5 * itemsize,  # read p, g, v; write v, p
    bench=(BenchPreset("ToyRMS"),),
)


@pytest.fixture
def registered():
    with catalog.registered(TOY):
        yield


def target(cls) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.toy:{cls.__name__}")


@pytest.mark.parametrize(
    "dtype",
    [
        # thorough: 6.5 s; torch's own classes show "no false alarm" by default
        *(pytest.param(d, marks=pytest.mark.thorough) for d in ("float64", "float32", "bfloat16")),
    ],
)
def test_a_correct_implementation_conforms(registered, dtype):
    report = optcheck.validate(target(toy.ToyRMS), like="ToyRMS", dtype=dtype, max_examples=8)
    assert report.ok, [(r.id, r.detail) for r in report.results if r.failed]
    ran = {r.id for r in report.results if r.verdict == "pass"}
    assert {"crossval.trajectory", "crossval.scheduled_lr", "contract.resume"} <= ran


def test_a_broken_one_is_caught_and_named(registered):
    report = optcheck.validate(
        target(toy.ToyRMSEpsInsideSqrt), like="ToyRMS", max_examples=8, select=("crossval.",)
    )
    assert not report.ok
    assert "crossval.trajectory" in {r.id for r in report.results if r.failed}
    assert report.matches and report.matches[0].startswith("ToyRMS:eps-inside-sqrt")


def test_it_gets_a_benchmark_entry(registered):
    assert "ToyRMS" in catalog.bench_lines()
    configs = bench.parse_optimizers(["ToyRMS"])
    assert {c.name for c in configs} == {"torch:ToyRMS", "ref:ToyRMS"}
    settings = bench.Settings(seeds=(0,), lr_grid=(1e-2, 1e-1), steps=(("quad-diag2d", 60),))
    cells = [bench.cell_task("quad-diag2d", c, "constant", settings) for c in configs]
    assert all(c.error is None for c in cells), [c.error for c in cells]
    assert catalog.bench_lines()["ToyRMS"].bytes_per_element(4) == 20


def test_the_catalog_is_left_as_it_was():
    assert "ToyRMS" not in catalog.OPTIMIZERS
