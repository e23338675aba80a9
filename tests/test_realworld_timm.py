"""timm 1.0.31's schedulers by hand, outside optcheck (``--realworld``). timm does not import
here: its only matching torchvision (0.28.0) is a CUDA build whose ops fail to register on
torch 2.13.0+cpu (RuntimeError, which timm's ``except ImportError`` does not catch), and
timm/__init__ imports torchvision. timm.scheduler itself needs only torch, so its files are
loaded by path under a package of their own. Skipped where timm is not installed."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from optcheck.reference.timm_schedules import cosine

pytestmark = pytest.mark.realworld


def _timm_cosine() -> type:
    found = importlib.util.find_spec("timm")
    if found is None or not found.submodule_search_locations:
        pytest.skip("timm is not installed")
    root = Path(next(iter(found.submodule_search_locations))) / "scheduler"
    package = types.ModuleType("timm_scheduler_by_path")
    package.__path__ = [str(root)]
    sys.modules[package.__name__] = package
    for name in ("scheduler", "cosine_lr"):
        spec = importlib.util.spec_from_file_location(
            f"{package.__name__}.{name}", root / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module.CosineLRScheduler


def _lrs(cls: type, steps: int, **kw: object) -> list[float]:
    opt = torch.optim.SGD([torch.zeros(1)], lr=0.1)
    sched, out = cls(opt, **kw), []
    for t in range(steps):
        sched.step(t)
        out.append(opt.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize(
    "kw",
    [
        {"t_initial": 10},
        {"t_initial": 7, "lr_min": 1e-6, "cycle_mul": 1.5, "cycle_decay": 0.5, "cycle_limit": 4},
        {"t_initial": 5, "warmup_t": 3, "warmup_lr_init": 1e-6, "warmup_prefix": True},
        {"t_initial": 9, "warmup_t": 4, "k_decay": 1.7, "cycle_limit": 3},
    ],
)
def test_timm_cosine_is_the_closed_form(kw):
    got = _lrs(_timm_cosine(), 60, **kw)
    np.testing.assert_allclose(got, cosine(np.arange(60), 0.1, **kw), rtol=0, atol=1e-15)


def test_timm_cosine_misses_a_restart_where_its_log_rounds_down():
    """Finding: the cycle index is floor(log(1 - t/T0 (1 - m), m)); with m = 3, T0 = 1 the
    sixth cycle starts at t = 121, where math.log(243, 3) = 4.999999999999999, so timm puts
    t = 121 at the end of cycle 4 (lr_min) instead of the start of cycle 5 (the peak)."""
    assert math.log(243, 3) < 5
    lrs = _lrs(_timm_cosine(), 123, t_initial=1, cycle_mul=3.0, cycle_limit=9)
    assert lrs[40] == pytest.approx(0.1)  # log(81, 3) is exact: that restart is found
    assert lrs[121] == 0.0  # the closed form's restart: 0.1
    assert cosine(121, 0.1, t_initial=1, cycle_mul=3.0, cycle_limit=9) == pytest.approx(0.1)
