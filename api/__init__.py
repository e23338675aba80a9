"""optcheck: does an optimizer or learning-rate schedule do what it claims?

    >>> import optcheck
    >>> report = optcheck.validate("torch.optim:Adam", like="Adam")
    >>> report.ok, report.counts

The subpackages follow the data flow: optcheck.reference (float64 oracles) → optcheck.checks
(invariants, comparisons) → optcheck.suites (runner, CLI, benchmarks) → optcheck.reports.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["validate", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import optcheck` stays cheap (no torch import) until validate is used.
    if name == "validate":
        from optcheck.suites.runner import validate

        return validate
    raise AttributeError(f"module 'optcheck' has no attribute {name!r}")
