"""``optcheck validate TARGET [--like NAME] [options]``: the validator's command line.

Exit codes (a fixed contract): 0 every applicable check passed; 1 at least one violation,
or the target exited, crashed or hung (a finding in the report, which is still written); 2
usage error (one line on stderr, no traceback, no report file); 3 nothing checked (every check
was skipped as not applicable: the report says why, the verdict is not a pass); 130
interrupted (Ctrl-C or SIGTERM: the worker is killed, no report file).

The target runs in a supervised worker process (``optcheck.suites.supervise``): this process
owns the verdict, the report files and the exit code, and imports no torch.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from optcheck.checks.kit.kinds import parse_shapes, shapes_help
from optcheck.checks.profiles import EXAMPLES
from optcheck.suites.cli import UsageError
from optcheck.suites.hp import DEVICES, DTYPE_NAMES, seconds

EPILOG = (
    "exit codes: 0 every applicable check passed; 1 at least one violation, or the target "
    "exited, crashed or hung (a finding in the report); 2 usage error; 3 nothing checked "
    "(every check skipped as not applicable: NOTHING CHECKED, not a pass); 130 interrupted"
)


LOUDNESS = (
    "print only the summary line",
    "list every check and show each failure's full evidence and reproduction snippet",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check an optimizer or scheduler against the contract and a reference",
        description="Check TARGET (module.path:Attr) against the generic contract and, with "
        "--like, against the float64 reference it claims to implement. The target runs in "
        "a supervised worker process: whatever it does ends as a finding in the report.",
        epilog=EPILOG,
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
    p.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="METHOD",
        help="call optimizer.METHOD() once it is built, in every check (repeatable), e.g. "
        "--setup train for schedule-free optimizers (a record may declare it)",
    )
    p.add_argument("--device", choices=DEVICES, default="cpu")
    p.add_argument(
        "--dtype",
        choices=DTYPE_NAMES,
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
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="time limit of each check, of building the target and of naming its variant; "
        "past it the target is taken to hang, a violation (default 60; 0: none)",
    )
    p.add_argument(
        "--warmup",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="time the first step() of each new optimizer may take beyond --timeout (a "
        "target that compiles itself on its first call, e.g. heavyball; default 0)",
    )
    p.add_argument(
        "--total-timeout",
        type=seconds,
        default=1800.0,
        metavar="SECONDS",
        help="time limit of the whole run, from loading the target on; checks not run by "
        "then are errors (default 1800; 0: none)",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="worker processes running checks side by side, started at once (default: a "
        "second one where a CPU is free, once the checks have run for twice what loading the "
        "target took); each loads the target",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="PREFIX",
        help="run only checks whose id starts with PREFIX (repeatable)",
    )
    p.add_argument(
        "--no-identify",
        action="store_true",
        help="without --like, do not run optcheck identify after the contract (it prints "
        "which algorithm of the catalog the target looks like, within 60 s)",
    )
    p.add_argument("--shapes", metavar="WORDS", help=shapes_help())
    p.add_argument(
        "--create-graph",
        action="store_true",
        help="hand gradients over with an autograd graph, as loss.backward(create_graph=True) "
        "does (step() takes Hessian-vector products of p.grad, e.g. Adahessian)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON")
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write validation.md, validation.html and snippets/ (each failure's reproduction "
        "as a runnable Python file)",
    )
    p.set_defaults(run=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before the run, not after it: results must never be lost to a bad path."""
    from optcheck.reports import validation
    from optcheck.reports.io import file_problem, folder_problem

    problems = []
    if args.json is not None:
        problems.append(("--json", file_problem(args.json)))
    if args.report is not None:
        problems.append(("--report", folder_problem(args.report)))
        for name in ("validation.md", "validation.html"):
            problems.append(("--report", file_problem(args.report / name)))
        if args.report.is_dir():
            problems.append(("--report", folder_problem(args.report / validation.SNIPPETS)))
    for what, problem in problems:
        if problem is not None:
            raise UsageError(f"{what}: {problem}")


def run(args: argparse.Namespace) -> int:
    from optcheck.reports import escape, validation
    from optcheck.suites import supervise
    from optcheck.suites.hp import ConfigError, parse_hp

    start = time.perf_counter()
    try:
        hp = parse_hp(args.hp)  # the form of every value, before any work (the worker checks more)
        if args.shapes is not None:
            parse_shapes(args.shapes)
    except (ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    _check_outputs(args)
    live = sys.stderr.isatty() and not args.quiet

    def progress(result) -> None:  # noqa: ANN001 - a CheckResult
        print(
            f"\r\033[K{validation.LABELS[result.verdict]:<9} {result.id}", end="", file=sys.stderr
        )

    config = supervise.Config(
        target=args.target,
        like=args.like,
        hp=list(args.hp),
        device=args.device,
        dtype=args.dtype,
        max_examples=args.max_examples,
        seed=args.seed,
        profile=args.profile,
        timeout=args.timeout or None,
        select=list(args.select),
        warmup=args.warmup,
        setup=list(args.setup),
        shapes=args.shapes,
        create_graph=args.create_graph,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = supervise.run(
            config,
            total=args.total_timeout or None,
            progress=progress if live else None,
            start=start,
            jobs=args.jobs,
        )
    except supervise.UsageFromWorker as exc:
        raise UsageError(str(exc)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if live:
            print("\r\033[K", end="", file=sys.stderr)
    report.settings["select"] = list(args.select)
    report.identification = _identification(args, report, hp, start)
    if args.quiet:
        print(escape.terminal(validation.summary(report)))
    else:
        where = None
        if args.report is not None:
            where = f"{args.report / 'validation.md'}, {args.report / validation.SNIPPETS}/"
        elif args.json is not None:
            where = str(args.json)
        print(validation.terminal(report, verbose=args.verbose, evidence_at=where), end="")
    snippets = 0
    for path in validation.write(report, json_path=args.json, report_dir=args.report):
        if path.parent.name == validation.SNIPPETS and path.suffix == ".py":
            snippets += 1
        else:
            print(f"wrote {path}", file=sys.stderr)
    if snippets:
        print(f"wrote {args.report / validation.SNIPPETS}/: {snippets} snippets", file=sys.stderr)
    return report.exit_code


def _identification(
    args: argparse.Namespace,
    report,  # noqa: ANN001 - a Report
    hp: dict,
    start: float,
) -> dict | None:
    """The hint without --like: the generic contract says nothing about which algorithm the
    target is. Not run for a --select run (a focused one), nor where the target failed to run
    (an error result) or passed no check (its constructor raised, nothing was checked):
    identify would only meet the same failure, at the cost of a child process. Except where
    step() requires a closure: identify passes one, and names the record that can."""
    if args.like or args.no_identify or args.select:
        return None
    from optcheck.suites.identify import closure_advice, hint, needs_closure

    verdicts = {r.verdict for r in report.results}
    closure = needs_closure(report)  # then identify names the record that can drive it
    if "error" in verdicts or ("pass" not in verdicts and not closure):
        return None
    left = None if not args.total_timeout else args.total_timeout - (time.perf_counter() - start)
    found = hint(args.target, hp, left, args.create_graph)
    return closure_advice(found) if closure else found


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does: the worker killed, exit 130, no report file."""
    raise KeyboardInterrupt
