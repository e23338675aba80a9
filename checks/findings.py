"""Known upstream findings: where torch itself breaks a check, and why.

The lists live beside the checks that find them (contract, interplay, schedule
cross-validation), each reproduced by a test; this module answers one question for the
runner: is this violation, on this target, a known torch finding? Then the report says
"known" with the reason instead of failing torch's own classes for torch's bugs. A third
party's class that behaves the same way still gets a violation: the bug is theirs to ship.

A finding no check reaches, because an error model leaves its inputs out of its domain (and
says why): torch's Muon raises ZeroDivisionError for a zero-column matrix (_adjust_lr divides
by the column count; Muon's ErrorModel.no_empty_tensors, tests/test_structural_records.py).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from optcheck.checks.target import OptimizerTarget, ScheduleTarget


def _torch_name(target: OptimizerTarget | ScheduleTarget) -> str | None:
    """The class name when the target is torch's own optimizer or scheduler class: the very
    class object torch exports under that name, not one that only says it is torch's (a
    ``__module__`` of ``torch.optim...`` is a string anyone can set)."""
    factory = target.factory
    module = getattr(factory, "__module__", "") or ""
    if not isinstance(factory, type) or not module.startswith("torch.optim"):
        return None
    name = factory.__name__
    homes = (sys.modules.get(module), sys.modules.get("torch.optim"))
    homes += (sys.modules.get("torch.optim.lr_scheduler"),)
    if not any(home is not None and getattr(home, name, None) is factory for home in homes):
        return None
    return name


def implementation(keywords: Mapping[str, Any], device: str) -> str:
    """Which torch code path runs: fused, foreach (the CUDA default) or forloop."""
    if keywords.get("fused"):
        return "fused"
    foreach = keywords.get("foreach")
    if foreach or (foreach is None and device.startswith("cuda")):
        return "foreach"
    return "forloop"


def known_finding(
    target: OptimizerTarget | ScheduleTarget,
    check_id: str,
    fixed_hp: Mapping[str, Any],
    device: str,
    detail: str | None = None,
    dtype: str | None = None,
) -> str | None:
    name = _torch_name(target)
    if name is None:
        return None
    from optcheck.checks.asgd_checks import TORCH_FINDINGS as ASGD
    from optcheck.checks.contract_checks import TORCH_FINDINGS as CONTRACT
    from optcheck.checks.interplay_checks import TORCH_OPTIMIZER_FINDINGS as INTERPLAY
    from optcheck.checks.schedule_crossval_checks import TORCH_FINDINGS as SCHEDULES

    impl = implementation({**target.fixed, **fixed_hp}, device)
    if (f := CONTRACT.get((f"{name}-{impl}", check_id))) is not None:
        # An empty-tensor finding is known only where the violation is that failure.
        named = not f.empty_tensor or (detail is not None and f.message in detail)
        if named and f.dtype in (None, dtype):
            return f.note
    if (why := INTERPLAY.get((name, check_id))) is not None:
        return why
    if (why := ASGD.get((name, check_id))) is not None:
        return why
    if (f := SCHEDULES.get((name, check_id))) is not None:
        return f.why
    return None
