"""The ``optcheck`` command: subcommands register themselves from their own modules.

Exit codes (design card): 0 conforming, 1 violations found, 2 usage or target error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2

# Each module defines register(subparsers) and sets a `run(args) -> int` default on its parser.
_SUBCOMMANDS = ("optcheck.suites.validate_cli", "optcheck.suites.bench_cli")


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the whole usage block
        print(
            f"optcheck: error: {message} (see optcheck {self.prog.split()[-1]} --help)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="optcheck", description="Verify and benchmark optimizers and schedules.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a subcommand not built yet is absent, not broken
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"optcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("optcheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run as a script this file is __main__, a second copy of the module: the subcommands'
    # UsageError comes from the imported one, so dispatch through that.
    from optcheck.suites.cli import main as _main

    sys.exit(_main())
