"""optcheck: does an optimizer or learning-rate schedule do what it claims?

    >>> import optcheck
    >>> report = optcheck.validate("torch.optim:Adam", like="Adam")
    >>> report.ok, report.counts

The layers import downward only (tests/test_layers.py): this module and the CLI and pytest
plugin → optcheck.suites (runner, benchmarks) → optcheck.reports (result models, rendering)
→ optcheck.checks (records, invariants, comparisons) → optcheck.reference (float64 oracles).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

__version__ = version("optcheck")  # one place: pyproject.toml
__all__ = ["validate", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import optcheck` stays cheap (no torch import) until validate is used.
    if name == "validate":
        from optcheck.suites.runner import validate

        return validate
    raise AttributeError(f"module 'optcheck' has no attribute {name!r}")
