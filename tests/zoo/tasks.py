"""Plain task functions for the supervised process pool (tests/test_bench_supervised.py):
light to import, since each worker process imports this module afresh."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time


def square(x: int) -> int:
    return x * x


def segfault() -> None:
    ctypes.string_at(0)


def hang() -> None:
    while True:
        time.sleep(0.05)


def exits() -> None:
    sys.exit(3)


def raises() -> None:
    raise ValueError("bad input\nsecond line")


def pid() -> int:
    return os.getpid()


def exits_soon() -> int:
    """Returns, and its thread ends the process a moment later, while it is idle."""
    threading.Timer(0.2, os._exit, (0,)).start()
    return 1
