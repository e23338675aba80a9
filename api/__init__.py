"""optcheck: does an optimizer or learning-rate schedule do what it claims?

    >>> import optcheck
    >>> report = optcheck.validate("torch.optim:Adam", like="Adam")   # or the class itself
    >>> report.ok, report.counts

The layers import downward only (tests/test_layers.py): this module and the CLI and pytest
plugin → optcheck.suites (runner, benchmarks) → optcheck.reports (result models, rendering)
→ optcheck.checks (records, invariants, comparisons) → optcheck.reference (float64 oracles).
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import Any

__version__ = version("optcheck")  # one place: pyproject.toml

# What `import optcheck` offers, each imported from its module when first used, so that the
# import itself stays cheap (no torch).
_LAZY = {
    "validate": "optcheck.suites.runner",
    "identify": "optcheck.suites.identify",
    "Identification": "optcheck.suites.identify",
    "Report": "optcheck.checks.result",
    "CheckResult": "optcheck.checks.result",
    "ConfigError": "optcheck.suites.hp",
    "TargetError": "optcheck.suites.target",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this hook
        return value
    raise AttributeError(f"module 'optcheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    # What it offers and the module's own dunders, not the helpers this file imports.
    return sorted({*__all__, *(n for n in globals() if n.startswith("__"))})
