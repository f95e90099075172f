"""Host prerequisites of the lab: Linux, root, and the tools it drives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hubkit.atomic import write_atomic
from hubkit.errors import PrerequisiteError
from hubkit.lab.state import LOCKS

# tool -> Debian package that provides it (a fresh machine has none of them).
TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "ip": "iproute2",
    "nft": "nftables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "unshare": "util-linux",
    "mount": "mount",
}
# What `lab up` needs at run time (debootstrap only builds the image).
RUN_TOOLS = ("ip", "ssh", "ssh-keygen", "unshare", "mount")


def require_root() -> None:
    if not sys.platform.startswith("linux"):
        raise PrerequisiteError("the lab needs Linux (network namespaces, overlayfs)",
                                "run it on a Debian 12 machine")
    if os.geteuid() != 0:
        raise PrerequisiteError("the lab needs root (namespaces, mounts, cgroups)",
                                "re-run with sudo")


def missing(tools=RUN_TOOLS) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def require_tools(tools=RUN_TOOLS) -> None:
    gone = missing(tools)
    if gone:
        pkgs = sorted({TOOLS.get(t, t) for t in gone})
        raise PrerequisiteError(f"missing tool(s): {', '.join(gone)}",
                                f"run 'hubkit lab image build' or 'apt-get install {' '.join(pkgs)}'")


def install_host_packages(tools=tuple(TOOLS)) -> list[str]:
    """apt-get install the Debian packages behind missing tools; returns what it installed."""
    gone = missing(tools)
    if not gone:
        return []
    if shutil.which("apt-get") is None:
        raise PrerequisiteError(f"missing tool(s): {', '.join(gone)} and no apt-get to install them",
                                "install debootstrap, systemd-container, nftables, iproute2 by hand")
    pkgs = sorted({TOOLS.get(t, t) for t in gone})
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise PrerequisiteError(f"'{' '.join(cmd)}' failed: {r.stderr.strip()[-300:]}",
                                    "check the apt sources and retry")
    return pkgs


# Every systemd guest holds ~15 inotify instances and all lab roots are the
# machine's root user (no user namespace), so the default of 128 runs out with
# the second lab: guests then hang at boot ("Failed to create inotify object").
INOTIFY_INSTANCES = 4096
INOTIFY_SYSCTL = "/proc/sys/fs/inotify/max_user_instances"
# Where `lab up` keeps the machine's own limit until the last lab is down.
INOTIFY_RECORD = LOCKS / "inotify-max-user-instances.orig"


def raise_inotify_limit(record: Path = INOTIFY_RECORD, path: str = INOTIFY_SYSCTL) -> int | None:
    """Raise the per-user inotify instance limit if below INOTIFY_INSTANCES; returns the old value.

    The old value goes to ``record`` first (unless a record exists: the first
    lab's value is the machine's own), so that ``restore_inotify_limit`` can
    put it back when the last lab is gone.  Callers hold ``machine_lock("sysctl")``.
    """
    try:
        cur = int(Path(path).read_text())
    except OSError:
        return None
    if cur >= INOTIFY_INSTANCES:
        return None
    if not record.exists():
        write_atomic(record, f"{cur}\n")
    Path(path).write_text(str(INOTIFY_INSTANCES))
    return cur


def restore_inotify_limit(record: Path = INOTIFY_RECORD, path: str = INOTIFY_SYSCTL) -> tuple[int, bool] | None:
    """Put back the value ``record`` holds; (old value, restored?) or None without a record.

    Only a limit still at INOTIFY_INSTANCES is restored: a value someone set
    since then is theirs and stays.  The record is removed either way.
    """
    try:
        old = int(record.read_text())
    except (OSError, ValueError):
        return None
    try:
        restored = int(Path(path).read_text()) == INOTIFY_INSTANCES
        if restored:
            Path(path).write_text(str(old))
    except OSError:
        restored = False
    record.unlink(missing_ok=True)
    return old, restored

