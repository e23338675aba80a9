"""Hostile targets: optimizers that exit, crash, hang or lie about being torch's, to show that
whatever a target does, optcheck keeps the verdict (tests/test_supervised.py).

Importing this module is harmless (conftest imports every zoo module): the hostility starts
when a class is built or stepped. Targets that misbehave at import are written by the tests
into a temporary folder.

``Chaos`` does something different in each check, found by which registered check function
is on the stack, so one run of the real CLI shows every kind of ending at once.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from typing import Any

import numpy as np
import torch

from optcheck.checks.kit import registry


def _running_check() -> str | None:
    """The id of the check whose function is on the stack (None outside a check)."""
    codes = {c.fn.__code__: cid for cid, c in registry.load_all().items()}
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code in codes:
            return codes[frame.f_code]
        frame = frame.f_back
    return None


def _hang() -> None:
    while True:
        time.sleep(0.05)


# What Chaos does in each check; every other check sees a correct SGD.
CHAOS = {
    "contract.grad_unchanged": "sys.exit(0)",
    "contract.closure": "raise KeyboardInterrupt",
    "contract.maximize": "raise BaseException",
    "contract.zero_params": "os._exit(0)",
    "contract.zero_lr": "segfault",
    "contract.determinism": "hang",
}


class Chaos(torch.optim.SGD):
    def step(self, closure: Any = None) -> Any:
        what = CHAOS.get(_running_check() or "")
        if what == "sys.exit(0)":
            sys.exit(0)
        if what == "raise KeyboardInterrupt":
            raise KeyboardInterrupt
        if what == "raise BaseException":
            raise BaseException("chaos")
        if what == "os._exit(0)":
            os._exit(0)
        if what == "segfault":
            ctypes.string_at(0)
        if what == "hang":
            _hang()
        return super().step(closure)


class ExitsInConstructor(torch.optim.SGD):
    def __init__(self, params: Any, lr: float = 1e-2, **kw: Any):
        sys.exit(0)


class HangsInConstructor(torch.optim.SGD):
    """Hangs while being built; writes its process id to $OPTCHECK_TEST_MARK first (when set),
    so a test knows the worker is running."""

    def __init__(self, params: Any, lr: float = 1e-2, **kw: Any):
        mark = os.environ.get("OPTCHECK_TEST_MARK")
        if mark:
            with open(mark, "w") as fh:
                fh.write(str(os.getpid()))
        _hang()


class HangsInEveryStep(torch.optim.SGD):
    def step(self, closure: Any = None) -> Any:
        _hang()


class AdamHangsWhenNamed(torch.optim.Adam):
    """An Adam with ε inside the square root (so the comparison fails) that hangs while
    optcheck names the variant it behaves like."""

    def step(self, closure: Any = None) -> Any:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "behaves_like":
                _hang()
            frame = frame.f_back
        for group in self.param_groups:
            group["eps"] = 0.1  # BUG: not the ε it was given
        return super().step(closure)


class LeavesSeterrRaise(torch.optim.SGD):
    """A correct SGD that leaves NumPy raising on every floating-point event."""

    def __init__(self, *args: Any, **kw: Any):
        np.seterr(all="raise")
        super().__init__(*args, **kw)


class StepLR(torch.optim.lr_scheduler.StepLR):
    """torch's StepLR under torch's name and module: still not torch's class."""


StepLR.__module__ = "torch.optim.lr_scheduler"
StepLR.__qualname__ = "StepLR"


# A message meant to break every output: a Windows path (\U starts an escape in Python),
# triple quotes, backticks, HTML and terminal control sequences.
HOSTILE_MESSAGE = (
    'C:\\Users\\x\\new """ `` ``` <script>alert(1)</script> <img src=x onerror=alert(1)> '
    "| *a* \x1b[2J\x1b]0;owned\x07 \r\u202e end\\"
)


class RaisesHostileMessage(torch.optim.SGD):
    """Raises, in every step, an exception whose message is HOSTILE_MESSAGE."""

    def step(self, closure: Any = None) -> Any:
        raise RuntimeError(HOSTILE_MESSAGE)


class AdamLeavesSeterrRaise(torch.optim.Adam):
    """torch's Adam, leaving NumPy raising on every floating-point event when built and after
    every step: optcheck's own arithmetic must not be what fails."""

    def __init__(self, *args: Any, **kw: Any):
        np.seterr(all="raise")
        super().__init__(*args, **kw)

    def step(self, closure: Any = None) -> Any:
        np.seterr(all="raise")
        return super().step(closure)


class CrashesAfterFirstStep(torch.optim.SGD):
    """Passes optcheck bench's first build-and-step of a --target, then segfaults: each of its
    benchmark cells crashes the worker process running it."""

    def step(self, closure: Any = None) -> Any:
        self._steps = getattr(self, "_steps", 0) + 1
        if self._steps > 1:
            ctypes.string_at(0)
        return super().step(closure)


class HangsAfterFirstStep(torch.optim.SGD):
    """Passes optcheck bench's first build-and-step of a --target, then hangs in its cells,
    having written its process id to $OPTCHECK_TEST_MARK (when set)."""

    def step(self, closure: Any = None) -> Any:
        self._steps = getattr(self, "_steps", 0) + 1
        if self._steps > 1:
            mark = os.environ.get("OPTCHECK_TEST_MARK")
            if mark:
                with open(mark, "w") as fh:
                    fh.write(str(os.getpid()))
            _hang()
        return super().step(closure)
