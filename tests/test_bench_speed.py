"""The step-time section's pieces: byte counts (ideal, per record; moved, per
implementation), steppers on tensors and model parameter lists, the cache threshold, and
the check that no fraction exceeds the measured bandwidth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from optcheck.checks import catalog
from optcheck.reports import bench_result as br
from optcheck.suites import speed
from tests.zoo import reporting


def test_byte_counts_per_optimizer():
    # One read of p, g and each state array, one write of p and each state array.
    assert speed.bytes_per_step("SGD", 1000, 4) == 3 * 4000
    assert speed.bytes_per_step("Momentum", 1000, 4) == 5 * 4000
    assert speed.bytes_per_step("Adam", 1000, 8) == 7 * 8000
    assert speed.bytes_per_step("AdamW", 10, 4) == speed.bytes_per_step("Adam", 10, 4)
    assert speed.bytes_per_step("AMSGrad", 1000, 2) == 9 * 2000


@pytest.mark.parametrize(
    "impl", ["fused", pytest.param("forloop", marks=pytest.mark.thorough)]
)  # fused: the held arrays and the kernel's traffic both; forloop: the held arrays again
@pytest.mark.parametrize("family", list(catalog.bench_lines()))
def test_record_bytes_match_the_state_torch_keeps(family, impl):
    # 2 × (params, grads, every param-sized state tensor) − grads; fused moves exactly that.
    assert speed.bytes_model_error(family, impl) is None


def test_a_bytes_model_forgetting_a_state_tensor_is_caught():
    error = speed.bytes_model_error("AMSGrad", "fused", reporting.amsgrad_bytes_without_vmax)
    assert error == (
        "AMSGrad fused: the record says 28 bytes per element, its 5 held arrays imply 36"
    )


def test_traffic_counts_each_op_read_and_write():
    a, b = torch.ones(100), torch.ones(100)
    assert speed.count_traffic(lambda: a.add_(b)) == 3 * 400  # read a, b; write a
    assert speed.count_traffic(lambda: a.copy_(b)) == 2 * 400  # the old a is not read
    assert speed.count_traffic(lambda: a.view(10, 10)) == 0  # a view moves nothing
    assert speed.count_traffic(lambda: a * 2) == 2 * 400
    # forloop Adam makes several passes: more than the ideal 7 arrays.
    step, _ = speed.make_stepper("Adam", "forloop", 1000)
    assert speed.count_traffic(step) > 2 * speed.bytes_per_step("Adam", 1000, 4)


def test_model_parameter_lists():
    shapes = speed.model_shapes("resnet18")
    assert len(shapes) == 62 and sum(math.prod(s) for s in shapes) == 11_689_512  # He et al.
    assert (64, 3, 7, 7) in shapes and (1000, 512) in shapes
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        speed.model_shapes("vgg")


@pytest.mark.parametrize("impl", speed.IMPLEMENTATIONS)
def test_steppers_step_a_parameter_list(impl):
    shapes = ((3, 4), (5,), (2, 2, 2))
    step, itemsize = speed.make_stepper("Adam", impl, 0, shapes=shapes)
    assert itemsize == (8 if impl == "reference" else 4)
    before = step.current().copy()
    step()
    assert before.shape == (25,) and np.all(step.current() != before)
    # params, grads, exp_avg, exp_avg_sq (and torch's scalar step per tensor)
    assert step.working_set() - 4 * 25 * itemsize in (0, 3 * 8, 3 * 4)


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


def test_last_level_cache_and_the_size_past_it():
    llc = speed.last_level_cache()
    assert llc is None or llc >= 1 << 20
    # Adam in float32 holds 4 arrays: 4 × 32 MiB / 16 B = 8.4e6, rounded up to 2 digits.
    assert speed.beyond_cache_size("Adam", 4, 32 << 20) == 8_400_000
    assert speed.beyond_cache_size("SGD", 4, 32 << 20) == 17_000_000


def _row(size: int, seconds: float, fraction: float | None, iqr: float = 0.0) -> br.SpeedRow:
    return br.SpeedRow(
        "Adam", "fused", size, "float32", "cpu", seconds, seconds * (1 - iqr / 2),
        seconds * (1 + iqr / 2), 9, size * 28, fraction,
    )  # fmt: skip


def test_a_fraction_above_the_bandwidth_is_a_violation():
    # The quick run's 201.9 %: Adam at 1e5 parameters timed from cache.
    rows = [_row(10**5, 1.386e-5, None), _row(10**9, 2.8, 1.0), _row(10**9, 2.6, 1.077, 0.1)]
    section = br.SpeedSection("cpu", 1e11, "m", {}, rows, bandwidth_spread=0.05)
    assert section.over_bandwidth() == []  # in cache: no fraction; 107.7 % within the noise
    old = reporting.fraction_on_every_row(section)  # the mutant: the old rule
    (flagged,) = old.over_bandwidth()
    assert flagged[0].size == 10**5 and flagged[1] == pytest.approx(2.02, abs=0.01)
    result = br.BenchResult("now", 0.0, {}, {}, speed=old)
    assert any("claims 202 % of the measured bandwidth" in v for v in result.violations())


def test_run_speed_small():
    sec = speed.run_speed(
        families=["SGD"], sizes=[1000], device="cpu", min_time=0.01, bandwidth_bytes=1 << 24
    )
    assert sec.device == "cpu" and sec.bandwidth > 1e8
    assert {r.implementation for r in sec.rows} == set(speed.IMPLEMENTATIONS)
    for r in sec.rows:
        assert r.time_per_step is not None and r.time_per_step > 0 and r.reps >= 3
        # 24 kB of working set sits in any last-level cache: time only.
        assert r.bandwidth_fraction is None and r.working_set == 2 * 1000 * (
            8 if r.implementation == "reference" else 4
        )
    assert sec.over_bandwidth() == []


@pytest.mark.thorough
def test_no_fraction_exceeds_the_bandwidth_past_the_cache():
    """Times steps whose working set is 4× the LLC (2 GB on a 480 MiB-LLC machine)."""
    sec = speed.run_speed(
        families=["SGD", "Adam"],
        sizes=[],
        implementations=["forloop", "fused"],
        device="cpu",
        beyond_cache=["SGD", "Adam"],
    )
    measured = [r for r in sec.rows if r.bandwidth_fraction is not None]
    assert measured, [r.error for r in sec.rows]
    assert sec.over_bandwidth() == [], [(r.size, r.implementation) for r, _ in sec.over_bandwidth()]
    assert all(r.moved_fraction >= r.bandwidth_fraction for r in measured)


def test_speed_rows_round_trip_and_older_files_load():
    sec = br.SpeedSection(
        "cpu",
        1e10,
        "m",
        {},
        [dataclasses.replace(_row(10, 1e-6, None), layout="resnet18", tensors=62)],
    )
    again = br.loads(br.dumps(br.BenchResult("now", 0.0, {}, {}, speed=sec))).speed
    assert again.rows[0].layout == "resnet18" and again.rows[0].tensors == 62
    old = br.to_dict(br.BenchResult("now", 0.0, {}, {}, speed=sec))
    for key in ("layout", "tensors", "working_set", "moved_bytes_per_step", "moved_fraction"):
        del old["speed"]["rows"][0][key]
    assert br.from_dict(old).speed.rows[0].layout == "tensor"
