"""Imported first by the worker's forkserver (``optcheck.suites.worker.preload``), before torch
and optcheck: the forkserver runs as ``python -c``, whose sys.path starts with the current
directory, and Python 3.11's forkserver does not apply the parent's path. Moved last, a
statistics.py there cannot stand in for the standard library's when torch imports it."""

import os
import sys

_here = ("", ".", os.getcwd())
sys.path[:] = [p for p in sys.path if p not in _here] + [p for p in sys.path if p in _here]
