"""Per-host cgroups: each container gets its own before nspawn starts.

With ``--keep-unit`` nspawn creates ``payload``/``supervisor`` inside its
*current* cgroup, so two containers started from one cgroup would collide.
The cgroups also let ``lab down`` find a guest whose nspawn was killed -9.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def hierarchies() -> list[Path]:
    """The cgroup hierarchies that track every process (v1 name=systemd and/or v2)."""
    if (ROOT / "cgroup.controllers").exists():
        return [ROOT]  # pure cgroup v2
    return [ROOT / h for h in ("systemd", "unified") if (ROOT / h / "cgroup.procs").exists()]


def paths(lab: str, host: str) -> list[Path]:
    return [h / f"hubkit-{lab}" / host for h in hierarchies()]


def pids(cg: Path) -> set[int]:
    """All pids in ``cg`` and below."""
    out: set[int] = set()
    if not cg.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(cg):
        if "cgroup.procs" in files:
            try:
                out |= {int(x) for x in Path(dirpath, "cgroup.procs").read_text().split()}
            except OSError:
                pass
    return out


def signal_all(cg: Path, sig: int) -> None:
    for pid in pids(cg):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def guest_inits(cg: Path) -> list[int]:
    """Pids that are PID 1 of a pid namespace (the guest's systemd) inside ``cg``."""
    found = []
    for pid in pids(cg):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if len(ids) > 1 and ids[-1] == "1":
                    found.append(pid)
    return found


def poweroff(cg: Path) -> None:
    """SIGRTMIN+4 to the guest's systemd: its 'poweroff' request."""
    for pid in guest_inits(cg):
        try:
            os.kill(pid, signal.SIGRTMIN + 4)
        except ProcessLookupError:
            pass


def remove(cg: Path) -> None:
    """rmdir ``cg`` and its sub-cgroups, deepest first (only what lies inside it)."""
    if not cg.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(cg, topdown=False), key=lambda t: -t[0].count("/")):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass
