"""``optcheck identify TARGET``: which algorithm of the catalog a black-box optimizer implements.

Exit codes: 0 it matches a formula of the catalog; 1 it matches none, or the target raised,
exited or hung; 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = (
    "exit codes: 0 matches a formula of the catalog; 1 matches none, or the target raised, "
    "exited or hung; 2 usage error (one line on stderr)"
)
LOUDNESS = ("print only the one-line answer", "list every formula tried, with its distance")
SHOWN = 6  # candidates listed without -v


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "identify",
        help="say which algorithm of the catalog an optimizer implements",
        description="Drive TARGET (module.path:Attr) with its own constructor defaults on drawn "
        "gradient sequences and rank every algorithm and named variant of the catalog by its "
        "distance to it, in units of the derived float64 tolerance (<= 1: a match). The "
        "target runs in a child process.",
        epilog=EPILOG,
    )
    p.add_argument("target", metavar="TARGET", help="module.path:Attr, e.g. lion_pytorch:Lion")
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="construct the target with this keyword too (repeatable)",
    )
    p.add_argument(
        "--cases",
        type=int,
        default=6,
        metavar="N",
        help="gradient runs at the defaults, 1 to 6 (default 6; each other run takes half)",
    )
    p.add_argument("--json", metavar="PATH", help="write the identification as JSON")
    p.add_argument(
        "--create-graph",
        action="store_true",
        help="hand gradients over with an autograd graph (step() takes Hessian-vector "
        "products of p.grad, e.g. Adahessian)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="time limit of the whole identification (default 120)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from optcheck.reports.escape import terminal
    from optcheck.reports.io import file_problem, write_atomic
    from optcheck.suites.cli import EXIT_OK, EXIT_USAGE, EXIT_VIOLATION
    from optcheck.suites.hp import ConfigError, parse_hp
    from optcheck.suites.identify import identify

    try:
        hp = parse_hp(args.hp)
    except ConfigError as exc:
        print(f"optcheck identify: error: {terminal(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if not (0 < args.timeout < 1e6):
        print(
            "optcheck identify: error: --timeout must be a positive number of seconds",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 1 <= args.cases <= 6:
        print("optcheck identify: error: --cases must be 1 to 6", file=sys.stderr)
        return EXIT_USAGE
    if args.json and (problem := file_problem(args.json)):
        print(f"optcheck identify: error: --json {terminal(problem)}", file=sys.stderr)
        return EXIT_USAGE
    result = identify(
        args.target, hp, timeout=args.timeout, cases=args.cases, create_graph=args.create_graph
    )
    if result.unloadable:
        print(f"optcheck identify: error: {terminal(result.failure)}", file=sys.stderr)
        return EXIT_USAGE
    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    if not quiet:
        print(f"optcheck identify {terminal(args.target)}")
        if result.probes:
            runs = "; ".join(_probe(p) for p in result.probes)
            print(f"runs: {runs}")
        for note in result.notes:
            print(f"note: {terminal(note)}")
        ranked = [c for c in result.candidates if c.compared]
        if ranked:
            print(f"{'':5s} {'×tol':>9s} {'×moved':>9s}  formula")
        for c in ranked if verbose else ranked[:SHOWN]:
            mark = "match" if c.ratio <= 1 else "     "
            print(
                f"{mark} {c.ratio:9.2g} {c.relative:9.2g}  {c.name:28s} {terminal(c.description)}"
            )
        if verbose:
            for c in result.candidates:
                if not c.compared:
                    print(f"       not compared  {c.name:28s} {terminal(c.why_not)}")
        if result.not_tried:
            skipped = ", ".join(f"{k} ({v})" for k, v in result.not_tried.items())
            print(f"not tried: {skipped}")
    print(f"{terminal(args.target)}: {terminal(result.summary)} in {result.seconds:.1f} s")
    if args.json:
        write_atomic(args.json, json.dumps(result.asdict(), indent=2, default=repr))
    return EXIT_OK if result.matches and not result.failure else EXIT_VIOLATION


def _probe(probe: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in probe.items()) or "defaults"
