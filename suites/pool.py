"""Benchmark tasks in supervised worker processes: a task whose worker exits, crashes or runs
past its time limit is a failure with a one-line reason, and every other task's result is
kept (a ProcessPoolExecutor loses them all to one crashed worker and waits forever on a hang).

Workers are spawned (so each reads the one-thread BLAS/OpenMP settings at import), run one
task at a time and are replaced after a crash or a hang. They end when the parent goes away
(``worker.watch_parent``) and are killed when the parent is interrupted (Ctrl-C, SIGTERM made
KeyboardInterrupt by the CLI), so no run leaves one behind.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from optcheck.suites import supervise
from optcheck.suites.supervise import how_it_ended, main_hidden

Task = tuple[Callable[..., Any], tuple]


@dataclass
class Outcome:
    index: int  # the task's position in the list given to ``run``
    ok: bool
    value: Any  # what the task returned; when not ok, one line saying why it has nothing


def format_exception(exc: BaseException) -> str:
    """One line for the user; the last frame says where."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}".splitlines()[0] + where


def _serve(connection: Any) -> None:
    """A worker's body: run the tasks sent on ``connection`` until told to stop (None)."""
    from optcheck.suites.worker import watch_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=watch_parent, name="optcheck:parent", daemon=True).start()
    while True:
        try:
            task = connection.recv()  # unpickling imports the task's module
        except (EOFError, OSError):
            break
        if task is None:
            break
        if "torch" in sys.modules:  # one intra-op thread per worker, as BLAS above
            sys.modules["torch"].set_num_threads(1)
        # Its modules are loaded (a new worker's first task imports torch and optcheck): the
        # task's time limit starts now.
        connection.send(("started", None))
        fn, args = task
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: the task's failure
            reply = ("failed", format_exception(exc))
        try:
            connection.send(reply)
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
            why = f"its result cannot be sent back: {format_exception(exc)}"
            connection.send(("failed", why))
    os._exit(0)  # not through interpreter shutdown: a task's threads must not hold it up


@contextlib.contextmanager
def single_threaded_children() -> Iterator[None]:
    # Spawned workers read these at import: one BLAS/OpenMP thread each, so N workers use N
    # cores instead of oversubscribing them.
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.connection, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), name="optcheck-bench", daemon=True)
        self.task: int | None = None
        self.since: float | None = None
        # A spawned worker reads the thread settings at import; a forked one has them.
        spawned = ctx.get_start_method() == "spawn"
        try:
            with single_threaded_children() if spawned else contextlib.nullcontext(), main_hidden():
                self.proc.start()
        finally:
            child.close()  # so that the worker's end is seen here as EOF

    def give(self, index: int, task: Task) -> None:
        self.connection.send(task)
        self.task, self.since = index, None  # the clock starts when the worker says so

    def limit(self, timeout: float | None) -> float | None:
        """When the running task's time is up (None: no limit, or not started yet)."""
        return None if timeout is None or self.since is None else self.since + timeout

    def ended(self) -> str:
        self.proc.join(5)
        if self.proc.exitcode is None:
            self.kill()
        return how_it_ended(self.proc.exitcode)

    def kill(self) -> None:
        if self.proc.pid is not None and self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join(10)
        self.connection.close()


def run(
    tasks: Sequence[Task],
    jobs: int,
    *,
    timeout: float | None = None,
    total: float | None = None,
    done: Callable[[Outcome], None] | None = None,
    forked: bool = False,
) -> list[Outcome]:
    """Run ``tasks`` (function, args) on ``jobs`` workers: one Outcome per task, in order.
    ``timeout`` bounds each task, ``total`` the whole run (tasks not finished by then fail).
    ``done`` is called as each task ends. ``forked``: workers forked from the validator's
    forkserver (torch loaded, a fork each) rather than spawned (fresh interpreters, one
    BLAS thread each: what timed or compared runs need)."""
    ctx = supervise.context() if forked else multiprocessing.get_context("spawn")
    outcomes: dict[int, Outcome] = {}
    pending = deque(range(len(tasks)))
    deadline = time.monotonic() + total if total else None
    workers: list[_Worker] = []

    def finish(worker: _Worker | None, index: int, ok: bool, value: Any) -> None:
        if worker is not None:
            worker.task = None
        outcomes[index] = Outcome(index, ok, value)
        if done is not None:
            done(outcomes[index])

    try:
        workers = [_Worker(ctx) for _ in range(min(jobs, len(tasks)))]
        while pending or any(w.task is not None for w in workers):
            for i, w in enumerate(workers):
                if w.task is None and pending:
                    index = pending.popleft()
                    try:
                        w.give(index, tasks[index])
                    except OSError:  # it died idle (a thread a task left behind did it)
                        w.kill()
                        workers[i] = _Worker(ctx)
                        workers[i].give(index, tasks[index])
            busy = [w for w in workers if w.task is not None]
            ends = [t for t in (w.limit(timeout) for w in busy) if t is not None]
            ends += [deadline] if deadline else []
            wait = max(min(ends) - time.monotonic(), 0.0) if ends else None
            ready = multiprocessing.connection.wait(
                [w.connection for w in busy] + [w.proc.sentinel for w in busy], wait
            )
            now = time.monotonic()
            for i, w in enumerate(workers):
                if w.task is None:
                    continue
                if w.connection in ready or w.proc.sentinel in ready:
                    try:
                        kind, value = w.connection.recv()
                    except (EOFError, OSError):  # it died: exit, crash, a killed process
                        why = f"the worker process running it {w.ended()}"
                    else:
                        if kind == "started":
                            w.since = time.monotonic()
                        else:
                            finish(w, w.task, kind == "ok", value)
                        continue
                elif (end := w.limit(timeout)) is not None and now >= end:
                    why = f"timed out after {timeout:g} s (--timeout)"
                else:
                    continue
                w.kill()
                finish(w, w.task, False, why)
                if pending:  # a fresh worker for the tasks left
                    workers[i] = _Worker(ctx)
            if deadline and time.monotonic() >= deadline:
                why = f"the whole-run limit of {total:g} s (--total-timeout) was reached"
                for w in workers:
                    if w.task is not None:
                        finish(w, w.task, False, why)
                while pending:
                    finish(None, pending.popleft(), False, f"not run: {why}")
                break
    finally:
        for w in workers:
            w.kill()
    return [outcomes[i] for i in range(len(tasks))]
