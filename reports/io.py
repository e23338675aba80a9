"""Report files: atomic writes (a reader never sees half a report) and loading saved results."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from optcheck.reports import bench_result as br


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a report file cannot be written at ``path`` (None when it can), decided before
    any work: only regular files are written, so a directory, a device, a FIFO (or a link to
    one) is refused; a link to a regular file is written through. Its folder must exist or
    be creatable in an existing, writable folder (one missing level: a typo in a deep path
    is a mistake, not a request for folders)."""
    target = Path(os.path.realpath(path))
    if target.exists():
        mode = os.stat(target).st_mode
        if stat.S_ISDIR(mode):
            return f"{os.fspath(path)} is a directory; give a file path"
        if not stat.S_ISREG(mode):
            return f"{os.fspath(path)} is not a regular file (a device, FIFO or socket)"
    return folder_problem(target.parent)


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why report files cannot be written into ``folder`` (None when they can)."""
    folder = Path(os.path.realpath(folder))
    if folder.exists():
        if not folder.is_dir():
            return f"{folder} is not a directory"
        probe = folder
    else:
        probe = folder.parent
        if probe.exists() and not probe.is_dir():
            return f"{probe} is not a directory"
    if not probe.is_dir():
        return f"folder {probe} does not exist"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"folder {probe} is not writable"
    return None


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and
    os.replace, so ``path`` holds either its old content or the new one, never a part.

    Creates missing parent directories. Text is written as UTF-8. A link is followed (the
    file it names is replaced, not the link); a path that is not a regular file (a device,
    a FIFO, a directory) is refused with an OSError, never replaced.
    """
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        raise OSError(f"{os.fspath(path)} is not a regular file; not writing a report there")
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


JSON_NAME = "bench.json"


def write_json(out_dir: str | os.PathLike[str], result: br.BenchResult) -> Path:
    """bench.json, atomically. Kept apart from the renderers (matplotlib): the results are
    saved even when rendering cannot start."""
    path = Path(out_dir) / JSON_NAME
    write_atomic(path, br.dumps(result))
    return path


def load_result(path: str | os.PathLike[str]) -> br.BenchResult:
    """Read a bench JSON; any problem becomes a one-line ValueError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read {os.fspath(path)}: {reason}") from None
    try:
        return br.loads(text)
    except br.SchemaError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
