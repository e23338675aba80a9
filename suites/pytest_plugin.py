"""pytest plugin: run optcheck's checks inside an optimizer author's own pytest.

    pytest --optcheck mypkg.optim:MyAdam --optcheck-like Adam [--optcheck-xfails FILE]

Each applicable check becomes one test item ``optcheck[TARGET]::CHECK_ID``, collected in the
collection phase (``--collect-only`` lists them, ``-k`` and ``--deselect`` select them). Every
option can also live in the ini file (``optcheck_target``, ``optcheck_like``, ``optcheck_hp``,
…; the command line wins). A target given only in the ini file runs when pytest is started
without paths or node ids: ``pytest tests/test_x.py::test_y`` runs that test alone.

Skip and xfail files list one id prefix per line (``#`` comments), matched against the check
id, the way array-api-tests matches its skips. The set-up is the CLI's
(``optcheck.suites.prepare``): a bad option (dtype, device, an --optcheck-hp the target does
not take, CUDA where there is none) is a usage error (exit 4, one line), a target that cannot
be built is one failing ``construct`` item, and a failed comparison names the variant the
target behaves like. The checks run in pytest's process, each under the per-check timeout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from optcheck.checks.kit.kinds import shapes_help

# name: (metavar, help, ini type). The command line spells a name --optcheck-NAME (the target
# is plain --optcheck), the ini file optcheck_NAME; both land in the same place.
_OPTIONS: dict[str, tuple[str, str, str]] = {
    "target": ("TARGET", "module.path:Attr of the optimizer or scheduler to validate", "string"),
    "like": ("NAME", "reference it claims to implement (Adam, SGD, StepLR, ...)", "string"),
    "hp": ("NAME=VALUE", "fix a hyper-parameter (repeatable; ini: one per line)", "linelist"),
    "dtype": ("DTYPE", "float64 (default), float32, bfloat16 or float16", "string"),
    "device": ("DEVICE", "cpu (default), cuda or cuda:N", "string"),
    "profile": ("NAME", "examples per check: dev 10, ci 25 (default), thorough 300", "string"),
    "max-examples": ("N", "hypothesis examples per check (default: the profile's)", "string"),
    "seed": ("N", "seed of the drawn cases (default 0)", "string"),
    "timeout": ("SECONDS", "time limit of each check (default 60; 0: none)", "string"),
    "shapes": ("WORDS", shapes_help(), "string"),
    "skips": ("FILE", "file of check-id prefixes to skip (repeatable)", "paths"),
    "xfails": ("FILE", "file of check-id prefixes expected to fail (repeatable)", "paths"),
    "setup": ("METHOD", "call optimizer.METHOD() once built (repeatable)", "linelist"),
    # a flag (ini: true/false), as the CLI's --create-graph
    "create-graph": (
        "",
        "hand gradients over with an autograd graph, as loss.backward(create_graph=True) does "
        "(step() takes Hessian-vector products of p.grad, e.g. Adahessian)",
        "bool",
    ),
}
_LISTS = ("hp", "skips", "xfails", "setup")


def _flag(name: str) -> str:
    return "--optcheck" if name == "target" else f"--optcheck-{name}"


def _dest(name: str) -> str:
    return "optcheck_" + name.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optcheck", "optimizer and schedule validation (optcheck)")
    for name, (metavar, help, ini_type) in _OPTIONS.items():
        # No argparse types or choices: a bad value gets optcheck's one-line usage error,
        # the same from the command line and from the ini file (_read).
        kind: dict[str, Any] = {"metavar": metavar}
        if name in _LISTS:
            kind["action"] = "append"
        if ini_type == "bool":  # a flag takes no value, so no metavar
            kind = {"action": "store_true"}
        group.addoption(_flag(name), dest=_dest(name), help=help, **kind)
        parser.addini(_dest(name), f"default for {_flag(name)}", type=ini_type)


@dataclass(frozen=True)
class Options:
    target: str
    like: str | None
    hp: list[str]
    dtype: str
    device: str
    profile: str | None
    max_examples: int | None
    seed: int
    timeout: float | None
    skips: list[str]
    xfails: list[str]
    setup: tuple[str, ...] = ()
    shapes: str | None = None
    create_graph: bool = False


def _raw(config: pytest.Config, name: str) -> tuple[Any, str]:
    """(value, where it came from): the command line's, else the ini file's."""
    value = config.getoption(_dest(name))
    if value:
        return value, _flag(name)
    value = config.getini(_dest(name))
    if name in ("skips", "xfails"):
        value = [str(p) for p in value]  # "paths": relative to the ini file's folder
    return value or None, f"ini option {_dest(name)}"


def _read(config: pytest.Config) -> Options | None:
    """The options, checked; None when no target is given or only the ini file names one
    and pytest was asked for particular paths or node ids."""
    target, source = _raw(config, "target")
    if not target:
        return None
    if source != "--optcheck" and config.args_source == pytest.Config.ArgsSource.ARGS:
        return None

    def bad(name: str, value: Any, why: str) -> pytest.UsageError:
        return pytest.UsageError(f"optcheck: {_raw(config, name)[1]} {value!r}: {why}")

    from optcheck.checks.profiles import EXAMPLES  # light: no torch
    from optcheck.suites.hp import DEVICES, DTYPE_NAMES, MAX_SECONDS

    dtype = _raw(config, "dtype")[0] or "float64"
    if dtype not in DTYPE_NAMES:
        raise bad("dtype", dtype, f"unknown dtype; known: {', '.join(DTYPE_NAMES)}")
    device = _raw(config, "device")[0] or "cpu"
    kind, colon, index = device.partition(":")
    if kind not in DEVICES or (colon and (kind != "cuda" or not index.isdigit())):
        raise bad("device", device, "unknown device; known: cpu, cuda, cuda:N")

    def number(name: str, convert: type, low: float, high: float) -> Any:
        text = _raw(config, name)[0]
        if text is None:
            return None
        try:
            value = convert(text)
        except ValueError:
            raise bad(name, text, f"not {'an integer' if convert is int else 'a number'}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise bad(name, text, f"must be between {low:g} and {high:g}")
        return value

    profile = _raw(config, "profile")[0]
    if profile is not None and profile not in EXAMPLES:
        raise bad("profile", profile, f"unknown profile; known: {', '.join(EXAMPLES)}")
    timeout = number("timeout", float, 0, MAX_SECONDS)
    return Options(
        target=target,
        like=_raw(config, "like")[0],
        hp=list(_raw(config, "hp")[0] or []),
        dtype=dtype,
        device=device,
        profile=profile,
        max_examples=number("max-examples", int, 1, 10**6),
        seed=number("seed", int, 0, 2**32 - 1) or 0,
        timeout=60.0 if timeout is None else (timeout or None),
        skips=read_prefixes(_raw(config, "skips")[0]),
        xfails=read_prefixes(_raw(config, "xfails")[0]),
        setup=tuple(_raw(config, "setup")[0] or ()),
        shapes=_raw(config, "shapes")[0],
        create_graph=bool(_raw(config, "create-graph")[0]),
    )


def read_prefixes(paths: list[str] | None) -> list[str]:
    prefixes: list[str] = []
    for path in paths or []:
        file = Path(path)
        if not file.is_file():
            raise pytest.UsageError(f"optcheck: id file {path} does not exist")
        lines = (line.split("#", 1)[0].strip() for line in file.read_text().splitlines())
        prefixes += [line for line in lines if line]
    return prefixes


class OptcheckTarget(pytest.Collector):
    """The target's node: its children are the checks (or the one failing ``construct``)."""

    def __init__(self, *, prepared: Any, options: Options, **kwargs: Any):
        super().__init__(**kwargs)
        self.prepared, self.options = prepared, options

    def collect(self) -> list[pytest.Item]:
        prepared, options = self.prepared, self.options
        if prepared.failure is not None:
            return [ConstructItem.from_parent(self, name="construct", result=prepared.failure)]
        items = []
        for check in prepared.checks():
            item = OptcheckItem.from_parent(
                self, name=check.id, check=check, context=prepared.context
            )
            if any(check.id.startswith(p) for p in options.skips):
                item.add_marker(pytest.mark.skip(reason="listed in --optcheck-skips"))
            elif any(check.id.startswith(p) for p in options.xfails):
                item.add_marker(
                    pytest.mark.xfail(reason="listed in --optcheck-xfails", strict=True)
                )
            items.append(item)
        return items


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
        return self.nodeid, 0, f"optcheck {self.nodeid}"


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
        return self.nodeid, 0, f"optcheck {self.nodeid}"


class CheckFailed(Exception):
    def __init__(self, result: Any, matches: list[str] | None = None):
        super().__init__(result.detail)
        self.result = result
        self.matches = list(matches or [])


_NOTES = pytest.StashKey[list]()


_OPTIONS_READ = pytest.StashKey[Options | None]()


def pytest_configure(config: pytest.Config) -> None:
    """Options are checked here, before any collection. Under pytest-xdist this (the
    controller) also sets the target up once: a usage mistake met only in the workers'
    collection would be lost there ("no tests ran", exit 0)."""
    options = config.stash[_OPTIONS_READ] = _read(config)
    xdist_controller = getattr(config.option, "numprocesses", None) and not hasattr(
        config, "workerinput"
    )
    if options is not None and xdist_controller:
        _prepare(options)


def _prepare(options: Options) -> Any:
    from optcheck.suites.prepare import ConfigError, prepare
    from optcheck.suites.target import TargetError

    try:
        return prepare(
            options.target,
            options.like,
            options.hp,
            max_examples=options.max_examples,
            profile=options.profile,
            seed=options.seed,
            dtype=options.dtype,
            device=options.device,
            timeout=options.timeout,
            source="--optcheck-hp",
            setup=list(options.setup) or None,
            shapes=options.shapes,
            create_graph=options.create_graph,
        )
    except (TargetError, ConfigError) as exc:
        raise pytest.UsageError(f"optcheck: {exc}") from None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """The session's children get the target's node, so its checks are collected (and
    counted, listed, selected) like any test. Set up here, not in the node's collect(): a
    usage mistake must end the session (exit 4), not become a collection error."""
    report = yield
    if not isinstance(collector, pytest.Session) or not report.passed:
        return report
    options = collector.config.stash.get(_OPTIONS_READ, None)
    if options is None:
        return report
    prepared = _prepare(options)
    collector.config.stash[_NOTES] = list(prepared.notes)
    name = f"optcheck[{options.target}]"
    report.result.append(
        OptcheckTarget.from_parent(
            collector, name=name, nodeid=name, prepared=prepared, options=options
        )
    )
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for note in config.stash.get(_NOTES, []):
        terminalreporter.write_line(f"optcheck note: {note}")
