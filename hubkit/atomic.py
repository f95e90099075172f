"""Whole-file writes that a reader (or a kill -9) never sees half done.

The one writer of hubkit's records, reports and small state files: the data
goes to a temp file beside the target (same filesystem, so the rename is
atomic), which then replaces the target.  A failure removes the temp file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644, fsync: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` with ``mode``, all or nothing.

    ``mode`` is set before any byte is written, so a secret file (0600) is
    never readable by others, not even while it is being written.  ``fsync``
    flushes the data to disk before the rename (vaults: losing one is worse
    than a slower write).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data, mode: int = 0o644) -> Path:
    """``data`` as indented JSON with sorted keys (hubkit's records are diffable and deterministic)."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", mode)
