"""The step-time section's pieces: byte counts, steppers, the bandwidth fraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optcheck.checks import catalog
from optcheck.suites import speed


def test_byte_counts_per_optimizer():
    # One read of p, g and each state array, one write of p and each state array.
    assert speed.bytes_per_step("SGD", 1000, 4) == 3 * 4000
    assert speed.bytes_per_step("Momentum", 1000, 4) == 5 * 4000
    assert speed.bytes_per_step("Adam", 1000, 8) == 7 * 8000
    assert speed.bytes_per_step("AdamW", 10, 4) == speed.bytes_per_step("Adam", 10, 4)
    assert speed.bytes_per_step("AMSGrad", 1000, 2) == 9 * 2000


@pytest.mark.parametrize("impl", speed.IMPLEMENTATIONS)
@pytest.mark.parametrize("family", list(catalog.bench_lines()))
def test_steppers_step(family, impl):
    step, itemsize = speed.make_stepper(family, impl, 64)
    assert itemsize == (8 if impl == "reference" else 4)
    step()  # runs; the state carries over between calls
    step()


@pytest.mark.parametrize("impl", speed.IMPLEMENTATIONS)
def test_stepper_moves_the_parameters(impl):
    # Plain SGD with a fixed gradient: every call moves p by exactly -lr * g.
    step, _ = speed.make_stepper("SGD", impl, 8, seed=3)
    gen = torch.Generator().manual_seed(3)
    grad = torch.randn(8, generator=gen, dtype=torch.float64).numpy()
    before = step.current().copy()
    step()
    # torch runs in float32: before and after are each rounded to half an ulp of |p|.
    eps = 2.3e-16 if impl == "reference" else float(torch.finfo(torch.float32).eps)
    atol = eps * float(np.max(np.abs(before)))
    np.testing.assert_allclose(before - step.current(), 1e-6 * grad, rtol=0, atol=atol)


def test_run_speed_small():
    sec = speed.run_speed(
        families=["SGD"], sizes=[1000], device="cpu", min_time=0.01, bandwidth_bytes=1 << 25
    )
    assert sec.device == "cpu" and sec.bandwidth > 1e8
    assert {r.implementation for r in sec.rows} == set(speed.IMPLEMENTATIONS)
    for r in sec.rows:
        assert r.time_per_step is not None and r.time_per_step > 0 and r.reps >= 3
        assert r.bandwidth_fraction == pytest.approx(
            r.bytes_per_step / r.time_per_step / sec.bandwidth
        )
