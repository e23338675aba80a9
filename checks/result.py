"""The result model: what a check returns and what a validation run reports.

A leaf module (no project imports, no torch): optcheck.reports renders from it, and a
report round-trips through JSON so it can be rendered or compared later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SCHEMA = "optcheck.validation/1"
# "known": the target is torch's own class and the violation is a documented upstream
# finding (optcheck.checks.findings); shown with its reason, not counted as a failure.
Verdict = Literal["pass", "violation", "known", "skip", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "violation", "known", "skip", "error")
# The run's verdict and its exit code (the CLI's contract; 2 usage, 130 interrupted are the
# CLI's own). A run in which no check applied proved nothing: not a pass, and its own code.
EXIT_CODES = {"CONFORMS": 0, "DOES NOT CONFORM": 1, "NOTHING CHECKED": 3}


@dataclass
class Evidence:
    """Why a check failed, concretely enough to reproduce without optcheck."""

    message: str
    case: dict[str, Any] | None = None  # the minimal counterexample (hypothesis-shrunk)
    step: int | None = None  # 1-based optimizer (or scheduler) step where it shows
    expected: Any = None
    got: Any = None
    tolerance: float | None = None
    error_in_tol: float | None = None  # |got - expected| in units of the tolerance
    snippet: str | None = None  # standalone Python (torch + numpy) reproducing it
    # θ before the step, when got and expected are parameter values after step 1: then
    # got − start and expected − start are the target's and the reference's steps.
    start: Any = None


@dataclass
class CheckResult:
    id: str
    title: str
    verdict: Verdict
    detail: str  # one line: the evidence summary, or why the check was skipped
    evidence: Evidence | None = None
    examples: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.verdict in ("violation", "error")


@dataclass
class Report:
    target: str
    like: str | None
    settings: dict[str, Any]
    results: list[CheckResult] = field(default_factory=list)
    # Named variants the target's trajectory matched when the --like comparison failed.
    matches: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    schema: str = SCHEMA
    # How the configuration reached the target (keywords passed to it only, kept per group…).
    notes: list[str] = field(default_factory=list)
    # Without --like: what optcheck identify makes of the target ("hint": its one line),
    # or why it was not run; None when not asked for.
    identification: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {v: sum(r.verdict == v for r in self.results) for v in VERDICTS}

    @property
    def ok(self) -> bool:
        return not any(r.failed for r in self.results)

    @property
    def nothing_checked(self) -> bool:
        """No check ran to a verdict: every one was skipped (or none applied)."""
        return not any(r.verdict != "skip" for r in self.results)

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "DOES NOT CONFORM"
        return "NOTHING CHECKED" if self.nothing_checked else "CONFORMS"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_jsonable) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unsupported report schema {data.get('schema')!r}; expected {SCHEMA}")
        results = [
            CheckResult(
                **{**r, "evidence": Evidence(**r["evidence"]) if r.get("evidence") else None}
            )
            for r in data["results"]
        ]
        return cls(**{**data, "results": results})


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays (in evidence) become plain numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)
