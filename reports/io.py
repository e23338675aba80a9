"""Report files: atomic writes (a reader never sees half a report) and loading saved results."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from optcheck.reports import bench_result as br


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and
    os.replace, so ``path`` holds either its old content or the new one, never a part.

    Creates missing parent directories. Text is written as UTF-8.
    """
    target = Path(path)
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
