"""Project-wide pytest set-up: hypothesis profiles and the zoo of broken implementations."""

from __future__ import annotations

import sys
from pathlib import Path

from optcheck.checks import profiles

profiles.load()
# tests/zoo holds deliberately broken optimizers and schedules, importable as `zoo.*`
# (also by the CLI tests, which put this folder on PYTHONPATH).
TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
