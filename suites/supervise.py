"""Run a validation in a supervised worker process: the target never decides the verdict.

The parent (``optcheck validate``) starts one worker (``optcheck.suites.worker``) for the
whole run and reads the results it streams. Whatever the target does, the parent keeps the
results already in and turns the event into a finding:

- the worker ends (``sys.exit``, ``os._exit``, a segfault) or the target raises a
  BaseException while loading → a violation of the check that ran (``construct`` while the
  target was imported or built), naming the exit code or signal;
- a check, the construction or the variant naming runs past ``timeout`` → the worker is
  killed, a "timed out" violation; with ``warmup``, the first step() of each new optimizer
  is timed apart (the worker says when one starts and ends) and up to ``warmup`` seconds of
  each are not counted against the check's ``timeout``;
- after a crash or a hang the worker is started again for the checks left (at most
  ``MAX_RESTARTS`` times), and ``total`` seconds bound the whole run.

This module imports neither torch nor the checks: the parent stays light.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from optcheck.checks.result import CheckResult, Evidence, Report

MAX_RESTARTS = 3  # a target that crashes every check is not restarted for each of them


class UsageFromWorker(Exception):
    """The worker found a usage mistake (an --hp the target does not take, ...); ``kind``:
    "target" (it cannot be loaded: a TargetError there) or "config" (a ConfigError)."""

    def __init__(self, message: str, kind: str = "config"):
        super().__init__(message)
        self.kind = kind


@dataclass
class Config:
    target: str
    like: str | None = None
    hp: list[str] | dict[str, Any] = field(default_factory=list)  # NAME=VALUE or a mapping
    device: str = "cpu"
    dtype: str = "float64"
    max_examples: int | None = None
    seed: int = 0
    profile: str | None = None
    timeout: float | None = 60.0
    select: list[str] = field(default_factory=list)
    # Seconds the first step() of each new optimizer may take outside ``timeout``: a target
    # that compiles on its first step (heavyball's torch.compile) is slow once, not hung.
    warmup: float = 0.0
    setup: list[str] = field(default_factory=list)  # methods called once built (--setup)
    shapes: str | None = None  # --shapes
    create_graph: bool = False  # --create-graph


def result_from_dict(data: dict[str, Any]) -> CheckResult:
    ev = data.get("evidence")
    return CheckResult(**{**data, "evidence": Evidence(**ev) if ev else None})


def how_it_ended(code: int | None) -> str:
    if code is None:
        return "did not end"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def context() -> Any:
    """The forkserver (POSIX): started once per process with optcheck and torch imported, it
    forks each worker, so a worker and a restart after a crash cost a fork, and the calls of
    one process (a test session) share it. spawn elsewhere."""
    import multiprocessing

    from optcheck.suites.worker import preload

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(preload())
    return ctx


@contextlib.contextmanager
def main_hidden() -> Iterator[None]:
    """multiprocessing runs the caller's main script again in each worker (as __mp_main__),
    so that objects defined there can be unpickled. The worker needs none (it imports the
    target by name; the Python API runs a target from __main__ in its own process), and a
    script calling optcheck.validate without an ``if __name__ == "__main__"`` guard would
    run again in every worker: its name is hidden while the worker starts."""
    main = sys.modules.get("__main__")
    saved = {k: v for k, v in vars(main).items() if k in ("__file__", "__spec__")} if main else {}
    if main is not None:
        main.__spec__ = None
        vars(main).pop("__file__", None)
    try:
        yield
    finally:
        if main is not None:
            vars(main).update(saved)


class _Worker:
    def __init__(self, config: dict[str, Any]):
        from optcheck.suites.worker import serve

        fd, self.log = tempfile.mkstemp(prefix="optcheck-worker-", suffix=".log")
        os.close(fd)
        ctx = context()
        self.connection, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(
            target=serve, args=(child, config, self.log), name="optcheck-worker", daemon=True
        )
        try:
            with main_hidden():
                self.proc.start()
        except BaseException:  # Ctrl-C while the forkserver loads: nothing left behind
            if self.proc.pid is not None:
                self.proc.kill()
            self.connection.close()
            os.unlink(self.log)
            raise
        finally:
            child.close()  # so that the worker's end closing is seen here as EOF

    def next(self, deadline: float | None) -> dict[str, Any] | None | str:
        """The next message; None when the worker ended; "timeout" past ``deadline``."""
        wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            if not self.connection.poll(wait):
                return "timeout"
            return json.loads(self.connection.recv_bytes())
        except (EOFError, OSError, ValueError):
            return None

    def ended(self) -> str:
        self.proc.join(5)
        if self.proc.exitcode is None:
            self.kill()
        return how_it_ended(self.proc.exitcode)

    def last_output(self) -> str:
        try:
            with open(self.log, "rb") as fh:
                text = fh.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""
        lines = [x for x in text.splitlines() if x.strip()]
        return lines[-1].strip()[:200] if lines else ""

    def kill(self) -> None:
        if self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join(10)

    def close(self) -> None:
        self.kill()
        self.connection.close()
        try:
            self.proc.close()
        except ValueError:
            pass
        try:
            os.unlink(self.log)
        except OSError:
            pass


def environment() -> dict[str, str]:
    """What the report says when the worker could not say it (no torch import here)."""
    import platform

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    return {
        "optcheck": v("optcheck"),
        "torch": v("torch"),
        "numpy": v("numpy"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def run(
    config: Config,
    *,
    total: float | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    start: float | None = None,
) -> Report:
    """Validate in a worker process. Raises UsageFromWorker for a usage mistake found while
    loading the target; any other outcome is a Report."""
    start = time.perf_counter() if start is None else start
    deadline = None  # `total` counts from the first worker ready to load the target
    timeout = config.timeout or None
    payload: dict[str, Any] = {
        **vars(config),
        "sys_path": [p for p in sys.path if isinstance(p, str)],
        "skip": [],
        "prior": [],
    }
    report = Report(
        target=config.target,
        like=config.like,
        settings={
            "max_examples": config.max_examples,
            "seed": config.seed,
            "dtype": config.dtype,
            "device": config.device,
            "fixed_hp": {},
            "timeout": config.timeout,
            "profile": config.profile,
            "hp": dict(config.hp) if isinstance(config.hp, dict) else list(config.hp),
            "shapes": config.shapes,
            "create_graph": config.create_graph,
        },
        notes=[],
    )
    checks: list[tuple[str, str]] | None = None
    restarts = 0

    def soonest(limit: float | None) -> float | None:
        ends = [t for t in (deadline, None if limit is None else time.monotonic() + limit) if t]
        return min(ends) if ends else None

    def add(result: CheckResult) -> None:
        report.results.append(result)
        if progress is not None:
            progress(result)

    def not_run(why: str) -> None:
        done = {r.id for r in report.results}
        for cid, title in checks or []:
            if cid not in done:
                add(CheckResult(cid, title, "error", f"not run: {why}"))

    while True:
        try:
            worker = _Worker(payload)
        except Exception as exc:  # noqa: BLE001 - optcheck's own machinery failed: say so
            add(CheckResult("worker", "the worker process starts", "error", f"{exc!r}"[:300]))
            break
        phase, current = "starting", None
        crashed = None  # what ended this worker early, if anything
        check_ends: float | None = None  # the running check's deadline, warm-ups added
        warm_since: float | None = None  # a first step() under way since then
        try:
            while True:
                # Loading Python, torch and optcheck is not the target's time: only the
                # run's limit; the target's import, construction, checks and naming: timeout.
                limit = None if phase == "starting" else timeout
                until = soonest(limit)
                if phase == "check" and check_ends is not None:
                    ends = check_ends
                    if warm_since is not None:
                        ends = max(ends, warm_since + config.warmup)
                    until = min(ends, deadline) if deadline is not None else ends
                msg = worker.next(until)
                if msg == "timeout":
                    if deadline is not None and time.monotonic() >= deadline:
                        crashed = "total"
                    else:
                        crashed = "timeout"
                    worker.kill()
                    break
                if msg is None:
                    crashed = "ended"
                    break
                assert isinstance(msg, dict)
                kind = msg.get("t")
                if kind == "ready":
                    phase = "preparing"
                    if total and deadline is None:
                        deadline = time.monotonic() + total
                elif kind == "usage":
                    raise UsageFromWorker(msg["message"], msg.get("kind", "config"))
                elif kind == "raised":
                    crashed = f"raised: {msg['message']}"
                    break
                elif kind == "prepared":
                    if checks is None:
                        report.target, report.like = msg["target"], msg["like"]
                        report.settings = msg["settings"]
                        report.environment = msg["environment"]
                        report.notes = msg["notes"]
                        checks = [tuple(c) for c in msg["checks"]]  # type: ignore[misc]
                        if msg.get("failure"):
                            add(result_from_dict(msg["failure"]))
                    phase = "between"
                elif kind == "start":
                    phase, current = "check", msg["id"]
                    check_ends = None if timeout is None else time.monotonic() + timeout
                    warm_since = None
                elif kind == "warm":  # a first step() begins (on) or ends
                    now = time.monotonic()
                    if msg["on"]:
                        warm_since = now
                    elif warm_since is not None and check_ends is not None:
                        check_ends += min(now - warm_since, config.warmup)
                        warm_since = None
                elif kind == "result":
                    add(result_from_dict(msg["result"]))
                    phase, current, check_ends, warm_since = "between", None, None, None
                elif kind == "naming":
                    phase = "naming"
                elif kind == "matches":
                    report.matches = list(msg["matches"])
                    phase = "between"
                elif kind == "done":
                    break
        except BaseException:
            worker.close()
            raise
        if crashed is None:
            worker.close()
            break
        how = worker.ended() if crashed in ("ended",) else ""
        output = worker.last_output()
        worker.close()
        said = f" (last output: {output})" if output and crashed == "ended" else ""
        if crashed == "total":
            what = f"the whole-run limit of {total:g} s (--total-timeout) was reached"
        elif crashed == "timeout":
            what = f"timed out after {timeout:g} s (the target hangs)"
            if config.warmup:
                what = what[:-1] + f"; first steps had up to {config.warmup:g} s more each)"
        elif crashed == "ended":
            what = f"the target ended the worker process: it {how}{said}"
        else:  # it raised a BaseException while being imported or constructed
            what = crashed.partition(": ")[2]
            if what.startswith("raised"):
                what = f"the target {what} while being imported or constructed"
        if phase in ("starting", "preparing") and checks is None:
            if phase == "starting" and crashed == "ended":
                what = f"the worker process could not start: it {how}{said}"
            raised = crashed.startswith("raised")
            where = "importing or constructing the target" if phase == "preparing" else ""
            where = "" if raised else where
            add(
                CheckResult(
                    "construct",
                    "the target can be imported and constructed",
                    "violation" if phase == "preparing" else "error",
                    f"{where}: {what}" if where else what,
                )
            )
            break
        if phase == "check" and current is not None:
            title = dict(checks or []).get(current, current)
            seconds = timeout if crashed == "timeout" else 0.0
            add(CheckResult(current, title, "violation", what, seconds=seconds or 0.0))
        elif phase == "naming":
            add(CheckResult("variants", "naming the variant the target matches", "violation", what))
            break
        if crashed == "total":
            not_run(what)
            break
        done = [r.id for r in report.results]
        left = [cid for cid, _ in checks or [] if cid not in done]
        naming = any(r.id.startswith("crossval.") and r.failed for r in report.results)
        if not left and not naming:
            break
        restarts += 1
        if restarts > MAX_RESTARTS:
            not_run(f"the target ended or hung the worker process {restarts} times")
            break
        payload["skip"] = done
        payload["prior"] = [
            _asdict(r) for r in report.results if r.id.startswith("crossval.") and r.failed
        ]
    report.seconds = time.perf_counter() - start
    return report


def _asdict(result: CheckResult) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(result), default=repr))
