"""Lab tests that create and break their own lab (hklt-wittenberg)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab.conftest import HUBKIT, TEST_HUBS, hubkit
from tests.lab.lab_leftovers import _alive, leftovers

pytestmark = pytest.mark.lab
OTHER = TEST_HUBS["wittenberg"]


def _ledger(lab_id):
    from hubkit.lab.state import State
    st = State.load(lab_id)
    return None if st is None else dict(st.data)


def test_two_labs_side_by_side_then_down_leaves_nothing(zeitz_lab):
    fleet = zeitz_lab["fleet"]
    hubkit(fleet, "lab", "up", OTHER, check=True)
    from hubkit import lab
    other = lab.load(OTHER)
    ledger = _ledger(OTHER)
    try:
        for info in (zeitz_lab["info"], other):
            core = next(h["name"] for h in info.hosts if h["role"] == "core")
            r = subprocess.run(info.ssh(core, "hostname"), capture_output=True, text=True, timeout=30)
            assert r.stdout.strip() == core  # both labs have a "dc-core", each its own
        assert not set(h["netns"] for h in other.hosts) & set(h["netns"] for h in zeitz_lab["info"].hosts)
    finally:
        r = hubkit(fleet, "lab", "down", OTHER)
    assert r.returncode == 0, r.stderr
    assert leftovers(ledger) == {k: [] for k in leftovers(ledger)}
    assert lab.load(OTHER) is None
    # The first lab is untouched.
    assert all(h["state"] in ("running", "up") for h in lab.status(zeitz_lab["id"])["hosts"])


@pytest.mark.parametrize("stage", ["links", "processes"])
def test_kill_9_during_up_then_down_cleans_up(zeitz_lab, stage):
    """Kill ``lab up`` once the ledger holds its first <stage> entry; ``down`` removes everything."""
    fleet = zeitz_lab["fleet"]
    env = {**os.environ, "CI": "true"}
    proc = subprocess.Popen([HUBKIT, "--fleet", str(fleet), "lab", "up", OTHER], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    ledger = None
    while time.monotonic() < deadline and proc.poll() is None:
        ledger = _ledger(OTHER)
        if ledger and ledger.get(stage):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ledger = _ledger(OTHER)
    assert ledger and ledger.get(stage), f"up ended before recording {stage}"
    assert ledger["phase"] == "creating"
    if stage == "processes":
        # `up` over a partial lab cleans it from its ledger and builds it again.
        hubkit(fleet, "lab", "up", OTHER, check=True)
        from hubkit import lab
        assert all(h["state"] in ("running", "up") for h in lab.status(OTHER)["hosts"])
        new_pids = {p["pid"] for p in _ledger(OTHER)["processes"]}
        assert not [p for p in ledger["processes"] if p["pid"] not in new_pids and _alive(p["pid"])]
        ledger = _ledger(OTHER)
    r = hubkit(fleet, "lab", "down", OTHER)
    assert r.returncode == 0, r.stderr
    assert _ledger(OTHER) is None
    left = leftovers(ledger)
    assert left == {k: [] for k in left}


def test_reboot_inside_a_host_comes_back(zeitz_lab):
    info = zeitz_lab["info"]
    if info.mode != "nspawn":
        pytest.skip("reboot needs systemd in the host (nspawn mode)")
    ws = [h["name"] for h in info.hosts if h["role"] == "workstation"][-1]
    subprocess.run(info.ssh(ws, "sudo systemctl reboot"), capture_output=True, timeout=30)
    ok = False
    for _ in range(100):
        r = subprocess.run(info.ssh(ws, "systemctl is-system-running"), capture_output=True, text=True,
                           timeout=30)
        if r.stdout.strip() in ("running", "degraded"):
            ok = r.stdout.strip() == "running"
            break
        time.sleep(0.2)
    assert ok, "host did not come back after reboot"


def test_down_after_kill_9_of_nspawn_finds_guests_by_cgroup(zeitz_lab):
    """kill -9 of the supervisors and nspawn leaves the guests running, re-parented;
    down finds them through their cgroups and removes everything."""
    from hubkit.lab import cgroups
    fleet = zeitz_lab["fleet"]
    hubkit(fleet, "lab", "up", OTHER, check=True)
    ledger = _ledger(OTHER)
    guests = 0
    for cg in ledger["cgroups"]:
        for pid in cgroups.pids(Path(cg)) - cgroups.pids(Path(cg) / "payload"):
            os.kill(pid, signal.SIGKILL)  # supervisor shell and systemd-nspawn
        guests += len(cgroups.pids(Path(cg) / "payload"))
    time.sleep(0.2)
    assert guests > 0, "the guests should outlive nspawn"
    r = hubkit(fleet, "lab", "down", OTHER)
    assert r.returncode == 0, r.stderr
    left = leftovers(ledger)
    assert left == {k: [] for k in left}
