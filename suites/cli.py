"""The ``optcheck`` command: subcommands register themselves from their own modules.

Exit codes: 0 conforming; 1 violations found, or the target exited, crashed or hung (a finding
in a saved report); 2 usage error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from optcheck.reports.escape import terminal

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Each module defines register(subparsers), which sets a `run(args) -> int` default on its
# parser, and LOUDNESS: the help of -q and -v, which every command takes.
_SUBCOMMANDS = (
    "optcheck.suites.validate_cli",
    "optcheck.suites.identify_cli",
    "optcheck.suites.bench_cli",
)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


EXIT_CODES = (
    "exit codes: 0 conforming (or: nothing to report); 1 violations found, or the target "
    "exited, crashed or hung; 2 usage error (one line on stderr); 130 interrupted"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the whole usage block
        # self.prog is "optcheck" or "optcheck validate": the command is named once.
        message = terminal(message)  # it may quote what was typed
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = _Parser(
        prog="optcheck",
        description="Verify and benchmark optimizers and schedules.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"optcheck {version('optcheck')}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a subcommand not built yet is absent, not broken
        before = set(sub.choices)
        module.register(sub)
        quiet, verbose = module.LOUDNESS  # what -q and -v mean for this command
        for command in set(sub.choices) - before:  # the same -q/-v on every command
            loudness = sub.choices[command].add_mutually_exclusive_group()
            loudness.add_argument("-q", "--quiet", action="store_true", help=quiet)
            loudness.add_argument("-v", "--verbose", action="store_true", help=verbose)
    return parser


def main(argv: list[str] | None = None) -> int:
    _current_directory_last()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"optcheck {args.command}: error: {terminal(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("optcheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _current_directory_last() -> None:
    """``python -m optcheck`` puts the current directory first on sys.path: moved last, a
    target there stays importable, but a statistics.py there no longer shadows the stdlib."""
    cwd = os.getcwd()
    front = [p for p in sys.path if p in ("", ".", cwd)]
    if front:
        sys.path[:] = [p for p in sys.path if p not in front] + front


if __name__ == "__main__":
    # Run as a script this file is __main__, a second copy of the module: the subcommands'
    # UsageError comes from the imported one, so dispatch through that.
    from optcheck.suites.cli import main as _main

    sys.exit(_main())
