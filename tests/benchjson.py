"""bench.json without its timings: what two runs of one plan must agree on bit for bit, on
whatever executes their tasks (the process pool, a Dask cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Fields that measure time or say where and when it ran; every other field is a result.
TIMINGS = frozenset(
    {"created", "duration_s", "jobs", "executor", "wall_time", "time_to_target", "speed"}
)


def without_timings(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in TIMINGS}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def results_of(path: Path) -> dict[str, Any]:
    """A bench.json's results, timings removed."""
    return without_timings(json.loads(Path(path).read_text()))
