"""pytest plugin: run optcheck's checks inside an optimizer author's own pytest.

    pytest --optcheck mypkg.optim:MyAdam --optcheck-like Adam [--optcheck-xfails FILE]

Each applicable check becomes one test item ``optcheck[TARGET]::CHECK_ID``. Skip and xfail
files list one id prefix per line (``#`` comments), matched against the check id, the way
array-api-tests matches its skips. Inert unless --optcheck (or ini optcheck_target) is given.
The set-up is the CLI's (``optcheck.suites.prepare``): a bad --optcheck-hp is a usage error, a
target that cannot be built is one failing ``::construct`` item, and a failed comparison names
the variant the target behaves like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optcheck", "optimizer and schedule validation (optcheck)")
    group.addoption(
        "--optcheck",
        dest="optcheck_target",
        metavar="TARGET",
        help="module.path:Attr of the optimizer or scheduler to validate",
    )
    group.addoption("--optcheck-like", metavar="NAME", help="reference it claims to implement")
    group.addoption(
        "--optcheck-hp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fix a hyper-parameter (repeatable)",
    )
    from optcheck.suites.hp import DEVICES, DTYPE_NAMES  # light: no torch at pytest start

    group.addoption("--optcheck-dtype", default="float64", choices=DTYPE_NAMES)
    group.addoption("--optcheck-device", default="cpu", choices=DEVICES)
    group.addoption("--optcheck-max-examples", type=int, default=None)
    group.addoption("--optcheck-seed", type=int, default=0)
    group.addoption("--optcheck-skips", metavar="FILE", help="check-id prefixes to skip")
    group.addoption("--optcheck-xfails", metavar="FILE", help="check-id prefixes expected to fail")
    parser.addini("optcheck_target", "default for --optcheck")
    parser.addini("optcheck_like", "default for --optcheck-like")


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    if value is None and name in ("optcheck_target", "optcheck_like"):
        value = config.getini(name) or None
    return value


def read_prefixes(path: str | None) -> list[str]:
    if not path:
        return []
    file = Path(path)
    if not file.is_file():
        raise pytest.UsageError(f"optcheck: id file {path} does not exist")
    lines = (line.split("#", 1)[0].strip() for line in file.read_text().splitlines())
    return [line for line in lines if line]


class OptcheckItem(pytest.Item):
    def __init__(self, *, check: Any, context: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.check, self.context = check, context
        self.result: Any = None

    def runtest(self) -> None:
        from optcheck.suites.runner import identify_variants, mark_known, run_check

        self.result = mark_known(run_check(self.check, self.context), self.context)
        if self.result.verdict == "skip":
            pytest.skip(self.result.detail)
        if self.result.verdict == "known":
            pytest.xfail(self.result.detail)
        if self.result.failed:
            # As the CLI: a failed comparison names the variants the target matches.
            raise CheckFailed(self.result, identify_variants(self.context, [self.result]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            from optcheck.reports.validation import _evidence_lines

            r = excinfo.value.result
            lines = [f"{r.id}: {r.detail}", *_evidence_lines(r)]
            if excinfo.value.matches:
                lines.append("behaves like: " + "; ".join(excinfo.value.matches))
            if r.evidence and r.evidence.snippet:
                lines += ["reproduce:", r.evidence.snippet]
            return "\n".join(lines)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int, str]:
        return self.name, 0, f"optcheck {self.name}"


class ConstructItem(pytest.Item):
    """The start-up probe's failure: the target cannot be built, which every check would
    report the same way, so it is one failing item (as the CLI reports one violation)."""

    def __init__(self, *, result: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.result = result

    def runtest(self) -> None:
        raise CheckFailed(self.result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.result.id}: {self.result.detail}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int, str]:
        return self.name, 0, f"optcheck {self.name}"


class CheckFailed(Exception):
    def __init__(self, result: Any, matches: list[str] | None = None):
        super().__init__(result.detail)
        self.result = result
        self.matches = list(matches or [])


_NOTES = pytest.StashKey[list]()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    target_path = _option(config, "optcheck_target")
    if not target_path:
        return
    from optcheck.suites.prepare import ConfigError, prepare
    from optcheck.suites.target import TargetError

    skips = read_prefixes(config.getoption("optcheck_skips"))
    xfails = read_prefixes(config.getoption("optcheck_xfails"))
    try:
        prepared = prepare(
            target_path,
            _option(config, "optcheck_like"),
            config.getoption("optcheck_hp"),
            max_examples=config.getoption("optcheck_max_examples"),
            seed=config.getoption("optcheck_seed"),
            dtype=config.getoption("optcheck_dtype"),
            device=config.getoption("optcheck_device"),
            source="--optcheck-hp",
        )
    except (TargetError, ConfigError) as exc:
        raise pytest.UsageError(f"optcheck: {exc}") from None
    config.stash[_NOTES] = list(prepared.notes)
    if prepared.failure is not None:
        items.append(
            ConstructItem.from_parent(
                session,
                name=f"optcheck[{target_path}]::{prepared.failure.id}",
                result=prepared.failure,
            )
        )
        return
    for check in prepared.checks():
        item = OptcheckItem.from_parent(
            session,
            name=f"optcheck[{target_path}]::{check.id}",
            check=check,
            context=prepared.context,
        )
        if any(check.id.startswith(p) for p in skips):
            item.add_marker(pytest.mark.skip(reason="listed in --optcheck-skips"))
        elif any(check.id.startswith(p) for p in xfails):
            item.add_marker(pytest.mark.xfail(reason="listed in --optcheck-xfails", strict=True))
        items.append(item)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for note in config.stash.get(_NOTES, []):
        terminalreporter.write_line(f"optcheck note: {note}")
