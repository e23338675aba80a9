"""Step-time benchmarks run only when selected.

    pytest tests/benchmarks --benchmark-only            all sizes, timed (nox -s bench)
    pytest tests/benchmarks --benchmark-disable         smallest size once each (smoke)

A plain ``pytest`` run collects them and skips them with that reason, so the normal test
suite stays fast and never times anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optcheck.suites.speed import measure_bandwidth

HERE = Path(__file__).parent
SMOKE_SIZE = 10**3


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False):
        return
    smoke = config.getoption("benchmark_disable", False)
    skip = pytest.mark.skip(reason="step-time benchmark: select with --benchmark-only")
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        params = getattr(item, "callspec", None)
        if smoke and params is not None and params.params.get("size") == SMOKE_SIZE:
            continue
        item.add_marker(skip)


@pytest.fixture(scope="session")
def bandwidth() -> dict[str, float]:
    """Measured once per device in this run: the bytes/s every fraction is relative to."""
    out = {"cpu": measure_bandwidth("cpu")[0]}
    if torch.cuda.is_available():
        out["cuda"] = measure_bandwidth("cuda")[0]
    return out
