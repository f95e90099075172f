"""List whatever of a lab is still on the machine (by its recorded names, never by pattern)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _alive(pid: int) -> bool:
    """A live process; a zombie already released everything and waits for its
    parent (the machine's init, as the supervisors are detached) to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def leftovers(ledger: dict) -> dict[str, list]:
    lab_id = ledger["id"]
    netns = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    mounts = Path("/proc/mounts").read_text()
    procs = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cg = (p / "cgroup").read_text()
        except OSError:
            continue
        if f"/hubkit-{lab_id}/" in cg and _alive(int(p.name)):
            procs.append(int(p.name))
    recorded_pids = [x["pid"] for x in ledger.get("processes", [])
                     if _alive(x["pid"])]
    return {
        "netns": sorted(n for n in ledger.get("netns", []) if n in netns),
        "mounts": sorted(m for m in ledger.get("mounts", []) if f" {m} " in mounts),
        "cgroups": sorted(c for c in ledger.get("cgroups", []) if Path(c).exists()),
        "cgroup_parents": sorted(str(Path(c).parent) for c in ledger.get("cgroups", [])
                                 if Path(c).parent.exists()),
        "processes": sorted(set(procs) | set(recorded_pids)),
        "propagate": sorted(d for d in ledger.get("propagate", []) if Path(d).exists()),
        "dirs": sorted(d for d in ledger.get("dirs", []) if Path(d).exists()),
    }


def nothing_left(ledger: dict) -> bool:
    return not any(leftovers(ledger).values())
