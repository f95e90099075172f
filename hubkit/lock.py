"""The per-hub lock shared by configure, provision/destroy and open.

``<fleet>/.hubkit/locks/<id>.lock`` is held with ``fcntl.flock``: the kernel
drops the lock when its holder dies (even on kill -9), so a stale lock is
taken over safely without guessing from PIDs.  The file's JSON body names the
holder (pid, host, command, start time) for the message a second run gets.
The file itself is never removed: unlinking a flock'd file lets two runs lock
two different inodes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubkit.errors import LockedError

LOCK_DIR = Path(".hubkit") / "locks"
POLL = 0.05
# A contender may see the file between the holder's flock and its body write.
BODY_GRACE = 1.0
# Locks this process holds (resolved lock path -> depth).
_HELD: dict[str, int] = {}
# `open` runs its cloud step in a thread beside configure: both re-enter the lock.
_COUNT = threading.Lock()


def lock_path(fleet_root: Path | str, hub_id: str) -> Path:
    return Path(fleet_root) / LOCK_DIR / f"{hub_id}.lock"


def _holder(fd: int) -> dict:
    deadline = time.monotonic() + BODY_GRACE
    while True:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        try:
            data = json.loads(raw)
            if isinstance(data, dict):
                return data
        except ValueError:
            pass
        if time.monotonic() >= deadline:
            return {}
        time.sleep(POLL)


def _describe(info: dict) -> str:
    if not info:
        return "another process (holder details unreadable)"
    return (f"PID {info.get('pid', '?')} on {info.get('host', '?')} running "
            f"{info.get('command', '?')!r} since {info.get('started', '?')}")


@contextmanager
def hub_lock(fleet_root: Path | str, hub_id: str, command: str, wait: float = 0) -> Iterator[Path]:
    """Hold the hub's lock for the ``with`` block.

    Raises ``LockedError`` naming the holder if it is held elsewhere (after
    up to ``wait`` seconds of waiting).
    """
    path = lock_path(fleet_root, hub_id)
    key = str(path.resolve())
    with _COUNT:
        nested = key in _HELD
        if nested:
            _HELD[key] += 1
    if nested:
        # Re-entrant within one process: `hubkit open` holds the lock for the whole
        # chain and calls configure/provision, which take it themselves.
        try:
            yield path
        finally:
            with _COUNT:
                _HELD[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + max(wait, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    info = _holder(fd)
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise LockedError(
                        f"hub {hub_id!r} is locked{waited} by {_describe(info)} ({path})",
                        "wait for that run to finish, or pass --wait SECONDS") from None
                time.sleep(POLL)
        body = json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": command, "hub": hub_id,
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }, sort_keys=True).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, body, 0)
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
