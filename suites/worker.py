"""The supervised worker: loads, builds and checks the target in a process of its own.

optcheck runs other people's code, and that code may exit, crash or hang. ``optcheck
validate`` therefore runs it here (started by ``optcheck.suites.supervise`` from a forkserver
that has optcheck and torch imported already, so a worker, and a restart after a crash, costs
a fork) and owns the verdict, the report and the exit code. A run may have several workers at
once: each asks the parent for its next check ("want"; the parent answers {"id": ...}, null
when none is left). The worker streams what it finds, one JSON message per event, on the
connection it was handed:

    {"t": "ready"}                       forked; the target comes next
    {"t": "usage", "message": ..., "kind": "target"|"config"}
                                         a usage mistake (exit 2 in the parent)
    {"t": "raised", "message": ...}      the target raised while being imported or built
    {"t": "prepared", ...}               the target is built: the header and the checks to run
    {"t": "want"}                        which check next? (answered {"id": ...} or {"id": null})
    {"t": "start", "id": ...}            a check begins (its time limit starts)
    {"t": "warm", "on": true|false}      a new optimizer's first step() starts / ends (--warmup)
    {"t": "result", "result": {...}}     a check's result
    {"t": "naming"} / {"t": "matches"}   naming the variant a failed comparison matches (a worker
                                         of its own, once the checks are done: "name_only")
    {"t": "done"}

Whatever the target prints goes to a log file the parent reads when the worker dies. When the
parent goes away the worker ends too, so a killed parent leaves no orphan behind.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from dataclasses import asdict
from typing import Any

from optcheck.checks.result import CheckResult, _jsonable
from optcheck.suites.supervise import result_from_dict


def preload() -> list[str]:
    """What a worker needs, imported once by the forkserver (``supervise``), never by the
    parent (which imports this module only to name ``serve``): torch with the dynamo stack its
    optimizers import when first built, optcheck's runner, every check and record module."""
    import pkgutil

    from optcheck.checks import algorithms

    names = ["optcheck.suites._forkserver_path", "numpy", "torch", "torch._dynamo"]
    names.append("optcheck.suites.runner")
    checks = os.path.dirname(os.path.dirname(algorithms.__file__))
    found = pkgutil.iter_modules([checks])
    names += [f"optcheck.checks.{m.name}" for m in found if m.name.endswith("_checks")]
    found = pkgutil.iter_modules(algorithms.__path__)
    names += [f"optcheck.checks.algorithms.{m.name}" for m in found]
    return names


_CONNECTION: Any = None


def _send(message: dict[str, Any]) -> None:
    _CONNECTION.send_bytes(json.dumps(message, default=_jsonable).encode())


def _next_check() -> str | None:
    """Ask the parent for the next check to run: None when none is left for this worker."""
    _send({"t": "want"})
    return json.loads(_CONNECTION.recv_bytes())["id"]


def _paths(parent: list[str]) -> None:
    """The parent's import path (the zoo of a test, a user's PYTHONPATH), with the current
    directory last: the target's folder stays importable but never shadows the stdlib."""
    cwd = os.getcwd()
    here = [p for p in parent if p not in ("", ".", cwd)]
    sys.path[:] = [*dict.fromkeys(here), ""]


def watch_parent() -> None:
    """End the process when the parent is gone (it finished, or was killed)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    multiprocessing.connection.wait([parent.sentinel])
    os._exit(3)


def _run(config: dict[str, Any]) -> None:
    import numpy as np

    from optcheck.suites.prepare import ConfigError, prepare
    from optcheck.suites.runner import environment, identify_variants, mark_known
    from optcheck.suites.target import TargetError, TargetRaised

    defaults = np.geterr()
    try:
        prepared = prepare(
            config["target"],
            config["like"],
            config["hp"],
            device=config["device"],
            dtype=config["dtype"],
            max_examples=config["max_examples"],
            seed=config["seed"],
            profile=config["profile"],
            timeout=None,  # the parent keeps the time
            setup=config.get("setup") or None,
            shapes=config.get("shapes"),
            create_graph=config.get("create_graph", False),
        )
    except TargetRaised as exc:  # the target's own code failed: a finding, not a usage error
        _send({"t": "raised", "message": str(exc)})
        return
    except (TargetError, ConfigError) as exc:
        kind = "target" if isinstance(exc, TargetError) else "config"
        _send({"t": "usage", "message": str(exc), "kind": kind})
        return
    ctx = prepared.context
    if config.get("warmup"):
        _time_first_steps()
    checks = prepared.checks(config["select"])
    if not checks:
        _send({"t": "usage", "message": "no check applies (is --select too narrow?)"})
        return
    np.seterr(**defaults)  # a target's np.seterr(all="raise") is not optcheck's
    _send(
        {
            "t": "prepared",
            "target": prepared.target.label,
            "like": prepared.like,
            "settings": {
                **vars(ctx.settings),
                "timeout": config["timeout"],
                "warmup": config.get("warmup", 0.0),
                "profile": prepared.profile,
                "hp": dict(prepared.hp),
            },
            "environment": environment(),
            "notes": list(prepared.notes),
            "checks": [[c.id, c.title] for c in checks],
            "long": [c.id for c in checks if c.long],
            "failure": asdict(prepared.failure) if prepared.failure is not None else None,
        }
    )
    if prepared.failure is not None:
        return
    results = [result_from_dict(r) for r in config.get("prior", ())]
    by_id = {c.id: c for c in checks}
    while not config.get("name_only") and (check := by_id.get(_next_check() or "")) is not None:
        _send({"t": "start", "id": check.id})
        result = _execute(check, ctx)
        np.seterr(**defaults)
        result = mark_known(result, ctx)
        results.append(result)
        _send({"t": "result", "result": asdict(result)})
    if config.get("name_only") and any(r.failed for r in results):
        _send({"t": "naming"})
        try:
            matches = identify_variants(ctx, results)
        except BaseException:  # noqa: BLE001 - no name is a finding of its own, not a crash
            matches = []
        _send({"t": "matches", "matches": matches})


def _time_first_steps() -> list[Any]:
    """Tell the parent when the first step() of each new optimizer starts and ends, so that
    a warm-up there (torch.compile on the first call) is not taken for a hang (--warmup).
    torch's global step hooks see every Optimizer subclass that calls its __init__."""
    import weakref

    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    stepped: weakref.WeakSet[Any] = weakref.WeakSet()
    first: weakref.WeakSet[Any] = weakref.WeakSet()

    def before(opt: Any, args: Any, kwargs: Any) -> None:
        if opt not in stepped:
            stepped.add(opt)
            first.add(opt)
            _send({"t": "warm", "on": True})

    def after(opt: Any, args: Any, kwargs: Any) -> None:
        if opt in first:
            first.discard(opt)
            _send({"t": "warm", "on": False})

    return [
        register_optimizer_step_pre_hook(before),
        register_optimizer_step_post_hook(after),
    ]


def _execute(check: Any, ctx: Any) -> CheckResult:
    """``registry.execute``, with whatever the target raises (SystemExit, KeyboardInterrupt,
    any BaseException) a violation of this check rather than the end of the run."""
    from optcheck.checks.kit import registry

    try:
        return registry.execute(check, ctx)
    except BaseException as exc:  # noqa: BLE001
        text = str(exc).splitlines()[0] if str(exc) else ""
        return CheckResult(
            check.id,
            check.title,
            "violation",
            f"the target raised {type(exc).__name__}"
            + (f": {text}" if text else "")
            + " during the check",
        )


def serve(connection: Any, config: dict[str, Any], log: str) -> None:
    """The worker's body (a multiprocessing target): run ``config``, report on ``connection``."""
    global _CONNECTION
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _CONNECTION = connection
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)  # the target's prints (and a crash's last words) go to the log
    os.dup2(fd, 2)
    os.close(fd)
    _paths(config.get("sys_path", []))
    threading.Thread(target=watch_parent, name="optcheck:parent", daemon=True).start()
    try:
        _send({"t": "ready"})
        _run(config)
        _send({"t": "done"})
    except BaseException as exc:  # noqa: BLE001 - a target exiting while being loaded
        # SystemExit or another BaseException out of the target's import or constructor:
        # the parent reports it from this line (the process ending says no more).
        try:
            text = str(exc).splitlines()[0][:300] if str(exc) else ""
            _send({"t": "raised", "message": f"raised {type(exc).__name__}: {text}".rstrip(": ")})
        except BaseException:  # noqa: BLE001
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            # Not through the interpreter's shutdown: the target's threads and torch's pools
            # must not turn a finished run into "terminate called without an active
            # exception".
            os._exit(0)
