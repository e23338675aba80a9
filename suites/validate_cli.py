"""``optcheck validate TARGET [--like NAME] [options]``: the validator's command line.

Exit codes (a fixed contract): 0 every applicable check passed, 1 at least one violation,
2 usage or target error (one line on stderr, no traceback, no report file).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from optcheck.checks.kit.harness import DTYPES
from optcheck.checks.profiles import EXAMPLES
from optcheck.suites.cli import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check an optimizer or scheduler against the contract and a reference",
        description="Check TARGET (module.path:Attr) against the generic contract and, with "
        "--like, against the float64 reference it claims to implement.",
    )
    p.add_argument("target", metavar="TARGET", help="module.path:Attr, e.g. torch.optim:Adam")
    p.add_argument(
        "--like",
        metavar="NAME",
        help="reference it claims to implement (Adam, SGD, "
        "AdamW, StepLR, ..., or a variant such as Adam:keras-eps-hat)",
    )
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fix a hyper-parameter (repeatable), e.g. --hp lr=0.01 --hp 'betas=(0.9,0.99)'",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--dtype",
        choices=tuple(DTYPES),
        default="float64",
        help="dtype of the parameters for cross-validation (default float64)",
    )
    p.add_argument(
        "--max-examples",
        type=_positive_int,
        metavar="N",
        help="hypothesis examples per check (default: the profile's)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--profile",
        choices=tuple(EXAMPLES),
        help="hypothesis profile: dev 10, ci 25 (default), thorough 300 examples per check",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="per-check time limit; a check that exceeds it is a violation (0: none)",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="PREFIX",
        help="run only checks whose id starts with PREFIX (repeatable)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON")
    p.add_argument(
        "--report", type=Path, metavar="DIR", help="write validation.md and validation.html"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(run=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _check_writable(path: Path, what: str) -> None:
    """Fail before the run, not after it: results must never be lost to a bad path."""
    folder = path if what == "--report" else path.parent
    probe = folder if folder.exists() else folder.parent
    if path.exists() and path.is_dir() and what == "--json":
        raise UsageError(f"--json {path} is a directory; give a file path")
    if not probe.exists() or not os.access(probe, os.W_OK):
        raise UsageError(f"{what} {path}: folder {probe} does not exist or is not writable")


def run(args: argparse.Namespace) -> int:
    from optcheck.reports import validation
    from optcheck.suites.prepare import ConfigError, prepare
    from optcheck.suites.runner import run as run_checks
    from optcheck.suites.target import TargetError

    start = time.perf_counter()
    for path, what in ((args.json, "--json"), (args.report, "--report")):
        if path is not None:
            _check_writable(path, what)
    try:
        prepared = prepare(
            args.target,
            args.like,
            args.hp,
            device=args.device,
            dtype=args.dtype,
            max_examples=args.max_examples,
            seed=args.seed,
            profile=args.profile,
            timeout=args.timeout or None,
        )
    except (TargetError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    if not prepared.checks(args.select):
        raise UsageError("no check applies (is --select too narrow?)")
    live = sys.stderr.isatty() and not args.quiet

    def progress(result) -> None:  # noqa: ANN001 - a CheckResult
        print(
            f"\r\033[K{validation.LABELS[result.verdict]:<9} {result.id}", end="", file=sys.stderr
        )

    try:
        report = run_checks(
            prepared, select=args.select, progress=progress if live else None, start=start
        )
    finally:
        if live:
            print("\r\033[K", end="", file=sys.stderr)
    print(
        validation.summary(report) if args.quiet else validation.terminal(report),
        end="\n" if args.quiet else "",
    )
    for path in validation.write(report, json_path=args.json, report_dir=args.report):
        print(f"wrote {path}", file=sys.stderr)
    return report.exit_code
