"""``optcheck bench``: run the convergence and speed benchmarks and write the report.

    optcheck bench                          the standard report into build/bench
    optcheck bench --quick                  a small run, well under a minute
    optcheck bench --compare OLD.json       also compare with an earlier run (exit 1 on
                                            regressions)
    optcheck bench --render-only RUN.json   re-render Markdown/HTML from a saved result

Exit codes: 0 ok; 1 regressions against --compare, a claim the benchmark checks itself (f*,
theory rates, Reddi's outcome) did not hold, or a task failed (raised, crashed or hung: every
task runs in a supervised worker process, ``optcheck.suites.pool``; the other results are
saved); 2 usage error (nothing written), or after the run a --compare with nothing to compare
or a rendering failure (bench.json saved); 130 interrupted (Ctrl-C or SIGTERM: the workers are
killed, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from optcheck.suites.cli import EXIT_OK, EXIT_USAGE, EXIT_VIOLATION, UsageError
from optcheck.suites.hp import seconds

SECTIONS = ("convergence", "schedules", "theory", "reddi", "speed", "crossval", "workloads")
DEFAULT_OUT = os.path.join("build", "bench")


LOUDNESS = ("no progress lines", "a progress line per finished task; an error's traceback")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="convergence and speed benchmarks with a JSON/Markdown/HTML report",
        description="Run the convergence benchmarks (tuned lr, seeds, bootstrap intervals), "
        "theory rates, Reddi et al.'s counterexample and step-time measurements; write "
        "bench.json, bench.md and a self-contained bench.html into --out.",
        epilog="exit codes: 0 ok; 1 regressions against --compare, a claim the benchmark "
        "checks itself did not hold, or a task raised, crashed or hung (the other results "
        "are saved); 2 usage error (nothing written), or after the run --compare with nothing "
        "to compare or a rendering failure (bench.json saved); 130 interrupted",
    )
    p.add_argument("--quick", action="store_true", help="a small run for tests (< 1 minute)")
    p.add_argument(
        "--suite",
        choices=("standard", "full"),
        default="standard",
        help="standard: two real workloads (logistic regression, the digits CNN); full: every "
        "real workload, the character-level transformer included, and step times at 1e7, on "
        "ResNet-18's parameter list and past the last-level cache",
    )
    p.add_argument(
        "--workloads",
        nargs="+",
        metavar="W",
        help="real workloads to run (default: the suite's; a wrong name lists them)",
    )
    p.add_argument(
        "--problems",
        nargs="+",
        metavar="P",
        help="problems (default: all; a wrong name lists them)",
    )
    p.add_argument(
        "--optimizers",
        nargs="+",
        metavar="O",
        help="torch:NAME, ref:NAME, a family (both), torch, ref or all; "
        "families: SGD Momentum Nesterov Adam AMSGrad AdamW",
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="module:Attr",
        help="a third-party optimizer, built as Attr(params, lr=..., **HP) (repeatable)",
    )
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a hyper-parameter of every --target (repeatable), checked as optcheck validate "
        "checks it, e.g. --hp weight_decouple=False; the lr is tuned, not set",
    )
    p.add_argument(
        "--validated",
        action="append",
        default=[],
        metavar="REPORT.json",
        help="an `optcheck validate TARGET --json REPORT.json` report of a --target, with the "
        "same --hp (repeatable): its verdict marks the target's line in every table; a "
        "--target without one is marked 'not validated'",
    )
    p.add_argument("--seeds", type=int, metavar="N", help="evaluation seeds 0..N-1 (default 5)")
    p.add_argument("--steps", type=int, metavar="N", help="step budget for every problem")
    p.add_argument("--tau", type=float, metavar="T", help="target: f - f* <= T (f0 - f*)")
    p.add_argument(
        "--schedules",
        nargs="+",
        metavar="S",
        help="schedules of the schedule study (constant step cosine warmup-cosine warm-restarts)",
    )
    p.add_argument(
        "--schedule-problems", nargs="+", metavar="P", help="problems of the schedule study"
    )
    p.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        metavar="S",
        help=f"what to run (default all): {' '.join(SECTIONS)}",
    )
    p.add_argument(
        "--speed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include the step-time section (default: yes)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="device of the step-time section",
    )
    p.add_argument("--reddi-steps", type=int, metavar="N", help="length of the Reddi runs")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output directory")
    p.add_argument("--compare", metavar="OLD.json", help="compare with an earlier bench.json")
    p.add_argument(
        "--render-only",
        metavar="RUN.json",
        help="render the report of a saved result; runs nothing",
    )
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: CPUs)")
    p.add_argument(
        "--dask",
        action="store_true",
        help="run the tasks on Dask distributed: a local cluster of --workers processes, or "
        "the cluster of --scheduler (needs the bench extra; results as without it)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local Dask cluster (default: CPUs; implies --dask)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, tcp://HOST:PORT (`dask scheduler` prints it; "
        "implies --dask); its workers need optcheck and every --target installed",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="time limit of each task (a cell: one optimizer on one problem); past it the "
        "task is a failure in the report (default 600; 0: none)",
    )
    p.add_argument(
        "--total-timeout",
        type=seconds,
        default=7200.0,
        metavar="SECONDS",
        help="time limit of all tasks; those not finished by then are failures (default "
        "7200; 0: none)",
    )
    p.set_defaults(run=run)


class _Progress:
    """One line per finished task on a terminal (overwritten), sparse lines in logs."""

    def __init__(self, stream: Any = None, every: bool = False) -> None:
        self.stream = stream or sys.stderr  # the stderr of now, not of import time
        self.every = every  # -v: a line for every task, in logs too
        self.start = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = -1e9

    def __call__(self, done: int, total: int, label: str, fraction: float) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        eta = f", ~{elapsed / fraction * (1 - fraction):.0f} s left" if fraction > 0.05 else ""
        line = f"[{done}/{total}] {elapsed:4.0f} s{eta}: {label}"
        if self.tty:
            self.stream.write("\r" + line[:110].ljust(110))
            if done == total:
                self.stream.write("\n")
        elif self.every or now - self.last >= 10 or done == total:
            self.stream.write(line + "\n")
            self.last = now
        self.stream.flush()


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write in {probe}")
    return path


def _load(path: str, flag: str) -> Any:
    from optcheck.reports.compare import compare
    from optcheck.reports.io import load_result
    from optcheck.suites.pool import format_exception

    try:
        result = load_result(path)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if flag == "--compare":  # a baseline the comparison trips over fails now, not after the run
        try:
            compare(result, result)
        except Exception as exc:  # noqa: BLE001 - the file's content, not optcheck's state
            why = format_exception(exc)
            raise UsageError(f"{flag}: {path} cannot be compared: {why}") from None
    return result


def _plan(args: argparse.Namespace) -> Any:
    from optcheck.suites import bench
    from optcheck.suites.problems import PROBLEMS

    if args.quick and args.suite == "full":
        raise UsageError("--quick and --suite full: choose one")
    plan = (
        bench.quick_plan()
        if args.quick
        else bench.full_plan()
        if args.suite == "full"
        else bench.standard_plan()
    )
    known = ", ".join(PROBLEMS)
    for flag, names in (
        ("--problems", args.problems),
        ("--schedule-problems", args.schedule_problems),
    ):
        for name in names or []:
            if name not in PROBLEMS:
                raise UsageError(f"{flag}: unknown problem {name!r}; known: {known}")
    if args.problems:
        plan.problems = list(dict.fromkeys(args.problems))
    if args.schedule_problems:
        plan.schedule_problems = list(dict.fromkeys(args.schedule_problems))
    if args.optimizers:
        try:
            plan.optimizers = bench.parse_optimizers(args.optimizers)
        except ValueError as exc:
            raise UsageError(f"--optimizers: {exc}") from None
        # The workloads train torch models: the references (NumPy) do not apply there.
        plan.workload_optimizers = [c for c in plan.optimizers if c.kind == "torch"]
    _choose_workloads(plan, args.workloads)
    if args.hp and not args.target:
        raise UsageError("--hp sets hyper-parameters of --target optimizers; give --target too")
    if args.target:
        try:
            configs, plan.failed_targets = bench.check_targets(
                args.target, args.hp, timeout=args.timeout or None
            )
        except ValueError as exc:
            raise UsageError(f"--target: {exc}") from None
        plan.optimizers += configs
        plan.workload_optimizers += configs
        plan.validation = _validation(args.validated, configs)
    elif args.validated:
        raise UsageError("--validated gives the verdict of a --target; give --target too")
    if args.schedules:
        for s in args.schedules:
            if s not in bench.SCHEDULE_NAMES:
                raise UsageError(
                    f"--schedules: unknown schedule {s!r}; known: {', '.join(bench.SCHEDULE_NAMES)}"
                )
        plan.schedules = list(dict.fromkeys(args.schedules))
    settings = plan.settings
    if args.seeds is not None:
        if not 1 <= args.seeds <= 1000:
            raise UsageError(f"--seeds must be between 1 and 1000, got {args.seeds}")
        settings = replace(settings, seeds=tuple(range(args.seeds)))
        if plan.workload_settings is not None or plan.workloads:
            from optcheck.suites.workloads import WorkloadSettings

            ws = plan.workload_settings or WorkloadSettings()
            plan.workload_settings = replace(ws, seeds=tuple(range(args.seeds)))
    if args.steps is not None:
        if not 10 <= args.steps <= 10**7:
            raise UsageError(f"--steps must be between 10 and 10000000, got {args.steps}")
        settings = replace(settings, steps=tuple((p, args.steps) for p in PROBLEMS))
    if args.tau is not None:
        if not 0 < args.tau < 1:
            raise UsageError(f"--tau must lie in (0, 1), got {args.tau}")
        settings = replace(settings, tau=args.tau)
    plan.settings = settings
    if args.reddi_steps is not None:
        if not 1 <= args.reddi_steps <= 10**8:
            raise UsageError(f"--reddi-steps must be between 1 and 1e8, got {args.reddi_steps}")
        plan.reddi_steps = args.reddi_steps
    sections = set(args.sections or SECTIONS)
    if args.speed is not None:
        sections = sections | {"speed"} if args.speed else sections - {"speed"}
    if "convergence" not in sections:
        plan.problems = []
    if "schedules" not in sections:
        plan.schedule_problems, plan.schedules = [], []
    if "theory" not in sections:
        plan.theory = []
    if "reddi" not in sections:
        plan.reddi = []
    if "crossval" not in sections:
        plan.crossval = []
    if "workloads" not in sections:
        plan.workloads = []
    if "speed" not in sections:
        plan.speed = None
    elif plan.speed is not None:
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available")
        plan.speed = {**plan.speed, "device": args.device}
    return plan


def _choose_workloads(plan: Any, names: list[str] | None) -> None:
    """--workloads: known names only (a wrong one lists them); the corpus of the language
    model must be readable now, not in a worker minutes later."""
    from optcheck.suites import workloads as wl

    for name in names or []:
        if name not in wl.WORKLOADS:
            raise UsageError(
                f"--workloads: unknown workload {name!r}; known: {', '.join(wl.WORKLOADS)}"
            )
    if names:
        plan.workloads = list(dict.fromkeys(names))
    if plan.workloads and not plan.workload_optimizers:
        plan.workload_optimizers = [c for c in plan.optimizers if c.kind == "torch"]
    try:
        wl.check_available(plan.workloads)
    except RuntimeError as exc:
        raise UsageError(f"workloads: {exc}") from None


def _validation(paths: list[str], configs: list[Any]) -> dict[str, str]:
    """Each --target's verdict line from its --validated report, or 'not validated'.

    Read, not run: the user names what the target claims to be (--like) and how hard to look
    (--profile); a validation the bench started itself would know neither and cost each target
    its own run. A report must match a --target by path and keywords, or it is exit 2."""
    from optcheck.checks.result import Report

    verdicts = {c.path: "not validated (no --validated report)" for c in configs}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                report = Report.from_dict(json.load(fh))
        except OSError as exc:
            raise UsageError(f"--validated: cannot read {path}: {exc.strerror}") from None
        except (ValueError, TypeError, KeyError) as exc:  # JSON, schema or a missing field
            raise UsageError(f"--validated: {path} is no optcheck validate report: {exc}") from None
        cfg = next((c for c in configs if c.path == report.target), None)
        if cfg is None:
            raise UsageError(f"--validated: {path} validates {report.target}, not a --target")
        if _plain(report.settings.get("hp", {})) != _plain(dict(cfg.hp)):
            raise UsageError(
                f"--validated: {path} validated {report.target} with --hp "
                f"{report.settings.get('hp')}, the bench runs it with {dict(cfg.hp)}"
            )
        like = f" --like {report.like}" if report.like else " (generic contract only)"
        n = report.counts
        verdicts[cfg.path] = (
            f"{report.verdict} (optcheck validate{like}: {n['violation']} violations, "
            f"{n['error']} errors, {n['pass']} passed)"
        )
    return verdicts


def _plain(hp: dict) -> Any:
    """Keywords as JSON holds them (tuples as lists), so a report's and the bench's compare."""
    return json.loads(json.dumps(hp, default=repr))


def run(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("matplotlib") is None:  # before the run, not after it
        raise UsageError(
            "optcheck bench draws its figures with matplotlib, which is not installed: "
            "pip install 'optcheck[bench]' (or pip install matplotlib)"
        )
    if args.jobs is not None and not 1 <= args.jobs <= 512:
        raise UsageError(f"--jobs must be between 1 and 512, got {args.jobs}")
    executor = _dask(args)
    out = _check_out(args.out)
    baseline = _load(args.compare, "--compare") if args.compare else None
    if args.render_only:
        result = _load(args.render_only, "--render-only")
        return _finish(
            out,
            result,
            baseline,
            write_json=Path(args.render_only).resolve() != (out / "bench.json").resolve(),
            quiet=args.quiet,
        )
    plan = _plan(args)
    from optcheck.suites.bench import run_bench
    from optcheck.suites.pool import format_exception

    progress = None if args.quiet else _Progress(every=args.verbose)
    with contextlib.ExitStack() as cluster:
        try:
            if executor is not None:
                try:  # starts the local cluster, or connects to --scheduler
                    cluster.enter_context(executor)
                except ValueError as exc:  # a --scheduler that does not answer
                    raise UsageError(str(exc)) from None
            result = run_bench(
                plan,
                jobs=args.jobs or 0,
                progress=progress,
                timeout=args.timeout or None,
                total=args.total_timeout or None,
                executor=executor,
            )
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line, not a traceback (design card)
            if os.environ.get("OPTCHECK_DEBUG"):
                raise
            if args.verbose:
                traceback.print_exc()
            print(
                f"optcheck bench: error: {format_exception(exc)} (-v or OPTCHECK_DEBUG=1 for "
                "the traceback)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    return _finish(out, result, baseline, write_json=True, quiet=args.quiet)


def _dask(args: argparse.Namespace) -> Any:
    """The DaskExecutor that --dask, --workers or --scheduler ask for (not yet connected), or
    None; a mistake in them is a usage error now, before any work."""
    if not (args.dask or args.workers is not None or args.scheduler is not None):
        return None
    if args.render_only:
        raise UsageError("--dask, --workers and --scheduler run tasks; --render-only runs none")
    if args.jobs is not None:
        raise UsageError("--jobs sizes the process pool; with --dask, --workers sizes the cluster")
    if args.workers is not None and not 1 <= args.workers <= 512:
        raise UsageError(f"--workers must be between 1 and 512, got {args.workers}")
    from optcheck.suites import dask_executor

    try:
        dask_executor.require_dask()
        if args.scheduler is not None:
            dask_executor.scheduler_address(args.scheduler)
        return dask_executor.DaskExecutor(args.scheduler, args.workers, verbose=args.verbose)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does: the workers killed, exit 130, nothing written."""
    raise KeyboardInterrupt


def _finish(out: Path, result: Any, baseline: Any, write_json: bool, quiet: bool) -> int:
    from optcheck.reports import escape
    from optcheck.reports.compare import compare
    from optcheck.reports.io import write_json as save_json
    from optcheck.suites.pool import format_exception

    if write_json:  # first, before any renderer is imported: the results survive them
        path = save_json(out, result)
        print(f"wrote {path}")
    try:
        comparison = compare(baseline, result) if baseline is not None else None
    except Exception as exc:  # noqa: BLE001 - the baseline's content against this run
        print(
            f"optcheck bench: error: --compare: cannot compare with this run: "
            f"{format_exception(exc)}; the results are in {out / 'bench.json'}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if comparison is not None and comparison.unshared:
        print(
            f"optcheck bench: error: --compare: nothing to compare: the runs share no "
            f"{', '.join(comparison.unshared)} (other problems, optimizers, sizes or step "
            f"budgets); the results are in {out / 'bench.json'}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        from optcheck.reports.bench_report import write_report

        written = write_report(out, result, comparison)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("OPTCHECK_DEBUG"):
            raise
        print(
            f"optcheck bench: error: rendering failed: {format_exception(exc)}; the results "
            f"are in {out / 'bench.json'} (re-render with --render-only)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    for p in written:
        if p.suffix not in (".png", ".svg"):
            print(f"wrote {p}")
    status = EXIT_OK
    for v in result.violations():
        print(f"violation: {escape.terminal(v)}", file=sys.stderr)
        status = EXIT_VIOLATION
    if comparison is not None:
        for c in comparison.regressions:
            print(
                f"regression: {c.kind}: {c.item}: {c.old} -> {c.new} ({c.message})", file=sys.stderr
            )
        if comparison.regressions:
            status = EXIT_VIOLATION
        elif not quiet:
            print(
                f"no regressions against the run of {comparison.baseline} "
                f"(compared: {comparison.summary()})"
            )
    return status
