"""The lab's state file: every resource is recorded BEFORE it is created.

``/run/hubkit/labs/<id>/state.json`` lists netns, links, mounts, cgroups,
processes and directories.  Because each entry is written (atomically) before
the thing exists, ``lab down`` can remove exactly what a lab made, even after
``lab up`` was killed with -9 at any point.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from hubkit.atomic import write_atomic
from hubkit.errors import LockedError

RUN = Path(os.environ.get("HUBKIT_LAB_RUN", "/run/hubkit/labs"))
LOCKS = Path(os.environ.get("HUBKIT_LAB_LOCKS", "/run/hubkit/locks"))
KINDS = ("netns", "links", "mounts", "cgroups", "processes", "dirs", "propagate", "services")


def lab_dir(lab_id: str) -> Path:
    return RUN / lab_id


class State:
    """A lab's resource ledger.  Thread-safe: hosts are prepared in parallel."""

    def __init__(self, lab_id: str, data: dict | None = None):
        self.lab_id = lab_id
        self.dir = lab_dir(lab_id)
        self.path = self.dir / "state.json"
        self.data = data or {"id": lab_id, "phase": "creating", **{k: [] for k in KINDS}}
        for k in KINDS:
            self.data.setdefault(k, [])
        self._lock = threading.Lock()

    @classmethod
    def load(cls, lab_id: str) -> State | None:
        p = lab_dir(lab_id) / "state.json"
        try:
            return cls(lab_id, json.loads(p.read_text()))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            # A torn write cannot happen (rename), but a hand-edited file can.
            return cls(lab_id, None)

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")

    def record(self, kind: str, item) -> None:
        """Add ``item`` to the ledger and persist it, before the caller creates it."""
        with self._lock:
            if item not in self.data[kind]:
                self.data[kind].append(item)
                self._save()

    def forget(self, kind: str, item) -> None:
        with self._lock:
            if item in self.data[kind]:
                self.data[kind].remove(item)
                self._save()

    def set(self, **values) -> None:
        with self._lock:
            self.data.update(values)
            self._save()

    def get(self, key, default=None):
        return self.data.get(key, default)

    def remove_file(self) -> None:
        self.path.unlink(missing_ok=True)


def all_states() -> list[dict]:
    out = []
    if RUN.is_dir():
        for d in sorted(RUN.iterdir()):
            s = State.load(d.name)
            if s is not None:
                out.append(s.data)
    return out


def _open_lock(name: str) -> int:
    LOCKS.mkdir(parents=True, exist_ok=True)
    return os.open(LOCKS / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)


@contextmanager
def machine_lock(name: str):
    """A short, blocking machine-wide lock (flock) around a change every lab shares."""
    fd = _open_lock(name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def lab_lock(lab_id: str):
    """Machine-wide lock of one lab for up/down (flock: released even on kill -9).

    The lock file lives outside the lab dir (``down`` removes that) and is never
    unlinked, so two runs can never lock two different inodes.
    """
    fd = _open_lock(f"lab-{lab_id}")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise LockedError(f"lab {lab_id} is busy: another hubkit lab command (pid {holder}) works on it",
                              "wait for it to finish, then retry") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
