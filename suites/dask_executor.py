"""Benchmark tasks on Dask distributed: a LocalCluster of worker processes on this machine, or
the scheduler of a real cluster. It takes the same (function, args) tasks as the supervised
pool (``optcheck.suites.pool.run``) and gives the same Outcomes, so what runs a task is the
only difference: a task that raises, kills its worker or runs past its time limit is a failure
with a one-line reason, every other result is kept.

Dask is optional: it is imported here, inside functions, and only when ``--dask`` asks for it.

Time limits: Dask has none per task, so each task announces its start on an event topic (the
clock starts there, after its modules were imported, as in the pool); a task past its limit is
cancelled and the worker running it restarted by its nanny (a hung thread cannot be stopped
otherwise). A task that kills its worker fails at once on our own LocalCluster
(allowed-failures 0, one task per worker at a time, so no bystander is blamed); a real cluster
retries it as its scheduler's ``distributed.scheduler.allowed-failures`` says (default 3).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from optcheck.suites.pool import Outcome, Task, format_exception, single_threaded_children
from optcheck.suites.supervise import main_hidden

# How long to wait for a --scheduler to answer: a wrong address fails in seconds, not minutes.
CONNECT_TIMEOUT = 10.0
# How often the client looks at the clock while no task finishes (time limits).
POLL = 0.5
START_TOPIC = "optcheck-task-started"
WORKER_DIED = "the Dask worker process running it died (it crashed or exited)"


def require_dask() -> None:
    """A ValueError with the install line when Dask distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError(
            "--dask needs Dask distributed, which is not installed: "
            "pip install 'optcheck[bench]' (or pip install distributed)"
        ) from None


def scheduler_address(address: str) -> str:
    """``address`` as tcp://HOST:PORT, or a ValueError saying what is wrong with it. A bare
    HOST:PORT is taken as tcp, the scheme `dask scheduler` listens on by default."""
    require_dask()
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address if "://" in address else f"tcp://{address}")
        if scheme != "tcp":
            raise ValueError(f"scheme {scheme}:// is not supported (tcp:// only)")
        host, port = parse_host_port(location)
    except ValueError as exc:
        why = str(exc).splitlines()[0] if str(exc) else "not HOST:PORT"
        raise ValueError(f"--scheduler {address!r}: {why}; expected tcp://HOST:PORT") from None
    if not host or not 0 < int(port) < 65536:
        raise ValueError(f"--scheduler {address!r}: expected tcp://HOST:PORT")
    return f"tcp://{host}:{port}"


def _reachable(address: str, timeout: float) -> None:
    """Fail fast with one line where nothing listens (the usual mistake: a wrong port or no
    scheduler started), before Dask's client retries until its timeout."""
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise ValueError(f"--scheduler {address}: unknown host {host} ({exc.strerror})") from None
    except TimeoutError:
        raise ValueError(f"--scheduler {address}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise ValueError(
            f"--scheduler {address}: cannot connect ({exc.strerror or exc}); is `dask scheduler` "
            "running there?"
        ) from None


def _is_a_scheduler(address: str, timeout: float) -> None:
    """Ask what listens at ``address``, within ``timeout``: Dask's Client waits for ever on a
    port that accepts and never answers, and a worker's address is a common slip."""
    import asyncio

    from distributed.core import rpc

    async def identity() -> dict[str, Any]:
        async with rpc(address, timeout=timeout) as remote:
            return await remote.identity()

    try:
        who = asyncio.run(asyncio.wait_for(identity(), timeout))
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        why = f"({format_exception(exc)})" if str(exc) else ""
        raise ValueError(
            f"--scheduler {address}: no Dask scheduler answered within {timeout:g} s {why}".strip()
        ) from None
    if who.get("type") != "Scheduler":
        raise ValueError(
            f"--scheduler {address}: that is a Dask {who.get('type', 'server')}, not the "
            "scheduler (`dask scheduler` prints the scheduler's address)"
        )


def _announce_and_run(key: str, fn: Callable[..., Any], args: tuple) -> tuple[str, Any]:
    """A task's body on a worker: say it started, run it, and turn any failure into one line
    (as the pool's worker does), so that only a dead worker is a Dask error."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(START_TOPIC, {"key": key, "worker": worker.address, "pid": os.getpid()})
    if "torch" in sys.modules:  # one intra-op thread per task, as in the pool's workers
        sys.modules["torch"].set_num_threads(1)
    try:
        value = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the task's failure
        return ("failed", format_exception(exc))
    try:
        pickle.dumps(value)
    except Exception as exc:  # noqa: BLE001 - a result that cannot be sent back
        return ("failed", f"its result cannot be sent back: {format_exception(exc)}")
    return ("ok", value)


@contextlib.contextmanager
def _quiet_distributed(level: int) -> Any:
    """distributed logs a dead worker or a cancelled task at WARNING/ERROR on stderr; each
    is already a failure with its reason in the report."""
    logger = logging.getLogger("distributed")
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


class DaskExecutor:
    """``with DaskExecutor(workers=2) as ex: ex.run(tasks, ...)``: a LocalCluster of
    ``workers`` single-threaded worker processes (default: CPUs), or with ``scheduler`` the
    cluster behind that address. Construction checks nothing; entering connects (a bad address
    is a ValueError with one line) and leaving closes the client and our own cluster."""

    def __init__(
        self, scheduler: str | None = None, workers: int | None = None, verbose: bool = False
    ) -> None:
        if scheduler is not None and workers is not None:
            raise ValueError("--workers sizes a local cluster; a --scheduler's cluster has its own")
        self.scheduler = scheduler
        self.workers = workers or os.cpu_count() or 1
        self.log_level = logging.WARNING if verbose else logging.CRITICAL
        self.client: Any = None
        self.cluster: Any = None
        self._stack = contextlib.ExitStack()

    def describe(self) -> str:
        """Where the tasks ran, for the report's header."""
        if self.scheduler is None:
            return f"{self.workers} Dask worker processes (LocalCluster)"
        return f"the Dask cluster at {self.scheduler} ({self._threads()} worker threads)"

    def __enter__(self) -> DaskExecutor:
        require_dask()
        import dask
        from distributed import Client, LocalCluster

        try:
            self._stack.enter_context(_quiet_distributed(self.log_level))
            if self.scheduler is not None:
                address = scheduler_address(self.scheduler)
                _reachable(address, CONNECT_TIMEOUT)
                _is_a_scheduler(address, CONNECT_TIMEOUT)
                self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            else:
                # Our own cluster: a task that kills its worker fails at once, and each worker
                # holds one task at a time, so that no queued bystander shares the blame.
                config = {
                    "distributed.scheduler.allowed-failures": 0,
                    "distributed.scheduler.worker-saturation": 1.0,
                }
                with dask.config.set(config), single_threaded_children(), main_hidden():
                    self.cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address="127.0.0.1:0",  # its HTTP server: no fixed port
                        silence_logs=self.log_level,
                    )
                self.client = Client(self.cluster, set_as_default=False)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and our LocalCluster (its worker processes end with it)."""
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.close(timeout=10)
        with contextlib.suppress(Exception):
            if self.cluster is not None:
                self.cluster.close(timeout=10)
        self.client = self.cluster = None
        self._stack.close()

    def run(
        self,
        tasks: Sequence[Task],
        jobs: int = 0,
        *,
        timeout: float | None = None,
        total: float | None = None,
        done: Callable[[Outcome], None] | None = None,
        forked: bool = False,
    ) -> list[Outcome]:
        """``optcheck.suites.pool.run`` on the cluster: one Outcome per task, in order;
        ``jobs`` and ``forked`` are the pool's (the cluster has its own workers).

        Tasks are handed out as worker threads free up, not all at once: each starts when it
        is submitted (so its clock is right) and a worker holds one task per thread, so that a
        task that kills its worker takes no queued bystander with it."""
        client = self.client
        if client is None:
            raise RuntimeError("DaskExecutor.run outside its `with` block")
        run_id = uuid.uuid4().hex[:12]
        keys = [f"optcheck-{run_id}-{i}" for i in range(len(tasks))]
        index = {k: i for i, k in enumerate(keys)}
        started: dict[str, tuple[float, str]] = {}  # key -> (when it started here, worker)

        def on_start(event: tuple[float, dict[str, str]]) -> None:
            msg = event[1]
            if msg.get("key") in index:
                started.setdefault(msg["key"], (time.monotonic(), msg.get("worker", "")))

        client.subscribe_topic(START_TOPIC, on_start)
        outcomes: dict[int, Outcome] = {}
        deadline = time.monotonic() + total if total else None
        waiting = deque(keys)
        running: dict[str, Any] = {}  # key -> future
        ended: queue.SimpleQueue[Any] = queue.SimpleQueue()  # futures, as they end

        def finish(key: str, ok: bool, value: Any) -> None:
            running.pop(key, None)
            outcomes[index[key]] = Outcome(index[key], ok, value)
            if done is not None:
                done(outcomes[index[key]])

        try:
            while waiting or running:
                free = self._threads() - len(running)
                while free > 0 and waiting:
                    key = waiting.popleft()
                    fn, args = tasks[index[key]]
                    fut = client.submit(_announce_and_run, key, fn, args, key=key, pure=False)
                    fut.add_done_callback(ended.put)
                    running[key] = fut
                    free -= 1
                with contextlib.suppress(queue.Empty):
                    fut = ended.get(timeout=POLL)
                    if fut.key in running:  # else: given up on already
                        finish(fut.key, *self._result(fut))
                now = time.monotonic()
                for key in [k for k in running if k in started]:
                    if timeout and now >= started[key][0] + timeout:
                        self._abandon(running[key], started[key][1])
                        finish(key, False, f"timed out after {timeout:g} s (--timeout)")
                if deadline and now >= deadline:
                    why = f"the whole-run limit of {total:g} s (--total-timeout) was reached"
                    for key in list(running):
                        self._abandon(running[key], started.get(key, (0, None))[1])
                        finish(key, False, why)
                    while waiting:
                        finish(waiting.popleft(), False, f"not run: {why}")
        finally:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(START_TOPIC)
            if running:  # interrupted: nothing of this run stays on the cluster
                with contextlib.suppress(Exception):
                    client.cancel(list(running.values()), force=True)
        return [outcomes[i] for i in range(len(tasks))]

    def _threads(self) -> int:
        """Worker threads in the cluster now (a real one may grow or shrink); at least one,
        so that a task waits on the scheduler for a worker to join."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - the scheduler is busy or gone: one at a time
            return 1

    @staticmethod
    def _result(fut: Any) -> tuple[bool, Any]:
        """(ok, value or why) of a finished future."""
        from distributed import KilledWorker

        if fut.status == "finished":
            kind, value = fut.result()
            return kind == "ok", value
        if fut.status == "cancelled":
            return False, "cancelled on the Dask cluster"
        exc = fut.exception()
        if isinstance(exc, KilledWorker):
            return False, WORKER_DIED
        return False, f"Dask could not run it: {format_exception(exc)}"

    def _abandon(self, fut: Any, worker: str | None) -> None:
        """Cancel a task and end the worker process running it (its nanny starts a new one):
        the thread running it cannot be stopped, and would keep that worker busy for good.
        Returns once the scheduler has let that worker go, so that no later task is handed
        to it (and dies with it)."""
        with contextlib.suppress(Exception):
            fut.cancel(force=True)
        if not worker:
            return
        try:
            self.client.run(_end_worker_process, workers=[worker], wait=False)
        except Exception:  # noqa: BLE001 - then the slower way, through its nanny
            with contextlib.suppress(Exception):
                self.client.restart_workers([worker], timeout=30, raise_for_error=False)
        until = time.monotonic() + CONNECT_TIMEOUT
        while time.monotonic() < until:
            with contextlib.suppress(Exception):
                if worker not in self.client.scheduler_info()["workers"]:
                    return
            time.sleep(0.05)


async def _end_worker_process() -> None:
    """Run in a worker's event loop, which a hung task thread does not block (Dask runs a
    function without waiting for its reply only when it is a coroutine)."""
    os._exit(1)
