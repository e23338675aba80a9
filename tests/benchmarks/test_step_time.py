"""Time per optimizer step, reference against torch forloop / foreach / fused, 1e3..1e7
parameters, with the fraction of the measured memory bandwidth in each result's extra_info
(bytes per step as counted in optcheck.suites.speed)."""

from __future__ import annotations

import pytest
import torch

from optcheck.checks import catalog
from optcheck.suites.speed import (
    CACHE_MULTIPLE,
    IMPLEMENTATIONS,
    bytes_per_step,
    last_level_cache,
    make_stepper,
)

FAMILIES = list(catalog.bench_lines())
SIZES = [10**3, 10**4, 10**5, 10**6, 10**7]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
        ],
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"{n:.0e}")
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_step_time(benchmark, bandwidth, family, impl, size, device):
    if impl == "reference" and device != "cpu":
        pytest.skip("the reference is float64 NumPy on the CPU")
    step, itemsize = make_stepper(family, impl, size, device)
    nbytes = bytes_per_step(family, size, itemsize)
    benchmark.group = f"{family} n={size:.0e} {device}"
    benchmark.extra_info.update(
        bytes_per_step=nbytes,
        bandwidth_bytes_per_s=bandwidth[device],
        dtype="float64" if impl == "reference" else "float32",
        torch_threads=torch.get_num_threads(),
    )
    benchmark(step)
    llc = last_level_cache(device)
    # A fraction of DRAM bandwidth only where the arrays cannot sit in the cache.
    if benchmark.stats and llc and step.working_set() >= CACHE_MULTIPLE * llc:
        median = benchmark.stats.stats.median
        benchmark.extra_info["bandwidth_fraction"] = nbytes / median / bandwidth[device]
