"""Run a validation in a supervised worker process: the target never decides the verdict.

The parent (``optcheck validate``) starts a worker (``optcheck.suites.worker``); once it has
loaded the target, a second one where a CPU is free and the run proves long (``_Helpers``,
``jobs``). Each worker takes the next
check left from the parent and streams its results; the report lists them in the order of the
checks, whichever worker ran them. Whatever the target does, the parent keeps the results
already in and turns the event into a finding:

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
import threading
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
        self.connection, child = ctx.Pipe()  # both ways: the worker asks for its next check
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

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.connection.send_bytes(json.dumps(message).encode())
        except (OSError, ValueError):  # it ended meanwhile: next() says how
            pass

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


def default_jobs() -> int:
    """Workers a run uses by default: two where a second CPU is free to this process (its
    affinity holds two and the load average leaves half of one idle), else one. Checks are
    independent (each seeds its own draw), so they can run side by side; more than two buys
    little, since each worker loads and probes the target again, and on a busy machine (a test
    session's other processes) a second worker only adds that load."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on POSIX
        busy = 0.0
    return 2 if cpus >= 2 and cpus - busy >= 0.5 else 1


class _Run:
    """What the workers of one run share: the checks not yet handed out, the report, the
    restart count and the run's deadline. Every method holds the lock: each worker is
    driven by a thread of its own."""

    def __init__(self, report: Report, progress: Callable[[CheckResult], None] | None):
        self.lock = threading.Lock()
        self.report = report
        self.progress = progress
        self.checks: list[tuple[str, str]] | None = None  # (id, title), once a worker prepared
        self.pending: list[str] = []  # not yet handed to a worker
        self.restarts = 0
        self.deadline: float | None = None
        self.given_up = ""  # why checks were left unrun (restarts spent, the run's limit)
        self.usage: UsageFromWorker | None = None
        self.stop = False  # the run ends: no worker takes another check
        self.workers: set[_Worker] = set()  # alive now, to be killed if the run is interrupted

    def add(self, result: CheckResult) -> None:
        with self.lock:
            self.report.results.append(result)
            if self.progress is not None:
                self.progress(result)

    def take(self) -> str | None:
        """The next check to run, or None when none is left (or the run stops)."""
        with self.lock:
            if self.stop or not self.pending:
                return None
            return self.pending.pop(0)

    def title(self, check_id: str) -> str:
        with self.lock:
            return dict(self.checks or []).get(check_id, check_id)

    def restart(self) -> bool:
        """Whether a worker that crashed may be started again (MAX_RESTARTS in the run)."""
        with self.lock:
            if not self.pending or self.stop:
                return False
            self.restarts += 1
            if self.restarts > MAX_RESTARTS:
                self.given_up = f"the target ended or hung the worker process {self.restarts} times"
                self.stop = True
                return False
            return True

    def not_run(self, why: str) -> None:
        with self.lock:
            done = {r.id for r in self.report.results}
            left = [(cid, title) for cid, title in self.checks or [] if cid not in done]
            self.pending = []
        for cid, title in left:
            self.add(CheckResult(cid, title, "error", f"not run: {why}"))


def run(
    config: Config,
    *,
    total: float | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    start: float | None = None,
    jobs: int | None = None,
) -> Report:
    """Validate in worker processes: ``jobs`` of them (default_jobs()), each taking the next
    check left until none is. Raises UsageFromWorker for a usage mistake found while loading
    the target; any other outcome is a Report, its results in the order of the checks."""
    start = time.perf_counter() if start is None else start
    payload: dict[str, Any] = {
        **vars(config),
        "sys_path": [p for p in sys.path if isinstance(p, str)],
        "prior": [],
        "name_only": False,
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
    shared = _Run(report, progress)

    def helper_slot() -> None:
        try:
            _drive(config, payload, shared, total, first=False)
        except BaseException:  # noqa: BLE001 - a helper's failure leaves its checks to the first
            with shared.lock:
                shared.report.notes.append("a second worker process failed; checks ran in one")

    helpers = _Helpers(shared, helper_slot, jobs)
    try:
        _drive(config, payload, shared, total, first=True, helpers=helpers)
    except BaseException:  # Ctrl-C, SIGTERM: the other workers end now, not after their check
        with shared.lock:
            shared.stop = True
            alive = list(shared.workers)
        for worker in alive:
            worker.kill()
        raise
    finally:
        for thread in helpers.threads:
            thread.join()
    if shared.usage is not None:
        raise shared.usage
    with shared.lock:
        done = {r.id for r in report.results}
        missing = any(cid not in done for cid, _ in shared.checks or [])
    if missing:  # restarts spent, the run's limit, or a worker thread that failed
        shared.not_run(shared.given_up or "a worker process failed before running it")
    naming = any(r.id.startswith("crossval.") and r.failed for r in report.results)
    if naming and not shared.given_up and shared.checks is not None:
        naming_payload = {
            **payload,
            "name_only": True,
            "prior": [
                _asdict(r) for r in report.results if r.id.startswith("crossval.") and r.failed
            ],
        }
        _drive(config, naming_payload, shared, total, first=False)
    order = {cid: i for i, (cid, _) in enumerate(shared.checks or [])}
    report.results.sort(key=lambda r: order.get(r.id, len(order)))
    report.seconds = time.perf_counter() - start
    return report


class _Helpers:
    """The workers a run adds to its first, once that one has loaded the target. Asked for
    (``jobs``), they start at once. By default (``jobs`` None, up to default_jobs()) they start
    only once the run has shown it is long: after its checks have taken twice what loading the
    target took (each helper loads it again) and at least AUTO_AFTER s. A run of a few quick
    checks keeps one worker and pays no second load."""

    AUTO_AFTER = 1.0

    def __init__(self, shared: _Run, slot: Callable[[], None], jobs: int | None):
        self.shared, self.slot = shared, slot
        self.auto = jobs is None
        self.count = (default_jobs() if jobs is None else jobs) - 1
        self.due: float | None = None  # when to start them (auto); None: not yet, or done
        self.threads: list[threading.Thread] = []

    def prepared(self, loading: float) -> None:
        if self.count < 1:
            return
        if self.auto:
            self.due = time.monotonic() + max(2 * loading, self.AUTO_AFTER)
        else:
            self.start()

    def start(self) -> None:
        self.due = None
        with self.shared.lock:
            count = min(self.count, len(self.shared.pending))
        for _ in range(count):
            thread = threading.Thread(target=self.slot, name="optcheck:worker", daemon=True)
            thread.start()
            self.threads.append(thread)


_TOTAL = "the whole-run limit of {:g} s (--total-timeout) was reached"


def _drive(
    config: Config,
    payload: dict[str, Any],
    shared: _Run,
    total: float | None,
    *,
    first: bool,
    helpers: _Helpers | None = None,
) -> None:
    """Drive worker processes, one at a time, until no check is left for them: each crash or
    hang becomes a finding and the next worker takes the next check (what ended the run is
    in ``shared``: given_up, stop, usage). ``first``: the run's first
    worker, whose failure to load the target is the run's finding (a later one's is not:
    the checks it would have taken go to the others); it starts the ``helpers``."""
    timeout = config.timeout or None

    def soonest(limit: float | None) -> float | None:
        mine = None if limit is None else time.monotonic() + limit
        ends = [t for t in (shared.deadline, mine) if t]
        return min(ends) if ends else None

    while True:
        if shared.stop:
            return
        try:
            worker = _Worker(payload)
        except Exception as exc:  # noqa: BLE001 - optcheck's own machinery failed: say so
            why = f"{exc!r}"[:300]
            shared.add(CheckResult("worker", "the worker process starts", "error", why))
            return
        with shared.lock:
            stopped = shared.stop  # interrupted while it started: the run's kill missed it
            if not stopped:
                shared.workers.add(worker)
        if stopped:
            worker.close()
            return
        phase, current = "starting", None
        crashed = None  # what ended this worker early, if anything
        ready_at = time.monotonic()
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
                    until = min(ends, shared.deadline) if shared.deadline is not None else ends
                due = helpers.due if helpers is not None else None
                msg = worker.next(until if due is None or (until and until < due) else due)
                if msg == "timeout" and due is not None and (until is None or due < until):
                    helpers.start()  # the run has shown it is long: its helpers now
                    continue
                if msg == "timeout":
                    if shared.deadline is not None and time.monotonic() >= shared.deadline:
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
                    phase, ready_at = "preparing", time.monotonic()
                    with shared.lock:
                        if total and shared.deadline is None:
                            shared.deadline = time.monotonic() + total
                elif kind == "usage":
                    if first:
                        shared.usage = UsageFromWorker(msg["message"], msg.get("kind", "config"))
                    return
                elif kind == "raised":
                    crashed = f"raised: {msg['message']}"
                    break
                elif kind == "prepared":
                    _take_prepared(shared, msg)
                    phase = "between"
                    if helpers is not None and not msg.get("failure"):
                        helpers.prepared(time.monotonic() - ready_at)
                        helpers = helpers if helpers.due is not None else None
                elif kind == "want":
                    worker.send({"id": shared.take()})
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
                    shared.add(result_from_dict(msg["result"]))
                    phase, current, check_ends, warm_since = "between", None, None, None
                elif kind == "naming":
                    phase = "naming"
                elif kind == "matches":
                    shared.report.matches = list(msg["matches"])
                    phase = "between"
                elif kind == "done":
                    break
        finally:
            with shared.lock:
                shared.workers.discard(worker)
            if crashed is None:
                worker.close()
        if crashed is None:
            return
        how = worker.ended() if crashed == "ended" else ""
        output = worker.last_output()
        worker.close()
        said = f" (last output: {output})" if output and crashed == "ended" else ""
        if crashed == "total":
            what = _TOTAL.format(total)
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
        if phase in ("starting", "preparing") and not first and shared.checks is not None:
            with shared.lock:
                shared.report.notes.append(f"a second worker process did not start ({what})")
            return
        if phase in ("starting", "preparing") and shared.checks is None:
            if phase == "starting" and crashed == "ended":
                what = f"the worker process could not start: it {how}{said}"
            raised = crashed.startswith("raised")
            where = "importing or constructing the target" if phase == "preparing" else ""
            where = "" if raised else where
            shared.add(
                CheckResult(
                    "construct",
                    "the target can be imported and constructed",
                    "violation" if phase == "preparing" else "error",
                    f"{where}: {what}" if where else what,
                )
            )
            return
        if phase == "check" and current is not None:
            seconds = (timeout if crashed == "timeout" else 0.0) or 0.0
            title = shared.title(current)
            shared.add(CheckResult(current, title, "violation", what, seconds=seconds))
        elif phase == "naming":
            shared.add(
                CheckResult("variants", "naming the variant the target matches", "violation", what)
            )
            return
        if crashed == "total":
            with shared.lock:
                shared.stop, shared.given_up = True, what
            return
        if payload.get("name_only") or not shared.restart():
            return


def _take_prepared(shared: _Run, msg: dict[str, Any]) -> None:
    """The first worker to have loaded the target says what the run is; the others agree."""
    with shared.lock:
        if shared.checks is not None:
            return
        report = shared.report
        report.target, report.like = msg["target"], msg["like"]
        report.settings = msg["settings"]
        report.environment = msg["environment"]
        report.notes = [*msg["notes"], *report.notes]
        shared.checks = [tuple(c) for c in msg["checks"]]  # type: ignore[misc]
        long = [cid for cid, _ in shared.checks if cid in msg.get("long", ())]
        rest = [cid for cid, _ in shared.checks if cid not in long]
        shared.pending = [] if msg.get("failure") else long + rest  # the long ones first
    if msg.get("failure"):
        shared.add(result_from_dict(msg["failure"]))


def _asdict(result: CheckResult) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(result), default=repr))
