"""Process helpers for the tests that check no worker outlives optcheck."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def gone(pid: int, wait: float = 10.0) -> bool:
    """Whether process ``pid`` has ended (or is a zombie) within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(children - found)
            found |= children
    return found


def signal_when_marked(
    command: list[str], mark: Path, signum: int, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], int, set[int]]:
    """Start ``command``; once a worker has written its process id to ``mark`` (a hostile
    target does, given $OPTCHECK_TEST_MARK), send ``signum``. (how it ended, the worker's
    id, every process below the command at that moment)."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "OPTCHECK_TEST_MARK": str(mark)},
    )
    try:
        deadline = time.monotonic() + 300
        while not (mark.exists() and mark.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        below = descendants(proc.pid)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    done = subprocess.CompletedProcess(command, proc.returncode, out, err)
    return done, int(mark.read_text()), below
