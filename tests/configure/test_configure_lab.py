"""configure against the real lab (nspawn hosts in their own netns).

One converged lab is shared (``converged_lab``); the tests that break
something (a stopped workstation, a forced failure) repair it before they end.
Test order matters only in that each test leaves the lab converged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import HUBKIT, LAB_HUB, VAULT_PASSWORD, configure_json, hubkit, lab_exec, netns_of

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = {"zeitz-rt01", "zeitz-sw01", "zeitz-ws01", "zeitz-ws02", "zeitz-ws03", "zeitz-ws04",
         "zeitz-gw01", "dc-core"}


def test_first_converge_succeeds_on_every_host(converged_lab):
    rc, doc, err = converged_lab["first"]
    assert rc == 0, err
    assert set(doc["hosts"]) == HOSTS
    for host, c in doc["hosts"].items():
        assert c["failed"] == 0 and c["unreachable"] == 0, (host, c)
        assert c["ok"] > 0
    assert doc["changed_tasks"], "a first converge changes something"
    record = json.loads((converged_lab["fleet"] / ".hubkit" / "runs" / LAB_HUB / "configure.json").read_text())
    assert record["hosts"] == doc["hosts"] and record["failed_hosts"] == []


def test_second_converge_changes_nothing(converged_lab):
    rc, doc, err = configure_json(converged_lab["fleet"])
    assert rc == 0, err
    assert set(doc["hosts"]) == HOSTS
    assert {h: c["changed"] for h, c in doc["hosts"].items()} == {h: 0 for h in HOSTS}, doc["changed_tasks"]
    assert doc["changed_tasks"] == []


def _state(host: str) -> str:
    """What configure manages on ``host``: files, users, services, live addresses."""
    script = ("cd / && sha256sum etc/issue.net etc/hosts etc/ssh/sshd_config.d/* etc/sudoers.d/* "
              "etc/chrony/chrony.conf etc/apt/apt.conf.d/* etc/systemd/network/* 2>/dev/null; "
              "getent passwd | sort; getent group sudo; "
              "systemctl is-enabled ssh chrony rsyslog unattended-upgrades 2>&1; "
              "systemctl is-active ssh chrony rsyslog 2>&1; ip -4 -o addr show | awk '{print $2, $4}'")
    return lab_exec(host, "sh", "-c", script).stdout


def test_check_mode_reports_drift_but_changes_nothing(converged_lab):
    fleet = converged_lab["fleet"]
    lab_exec("zeitz-ws02", "sh", "-c", "echo drifted > /etc/issue.net")
    hosts = ("zeitz-ws02", "zeitz-rt01", "dc-core")
    before = {h: _state(h) for h in hosts}
    r = hubkit(fleet, "configure", LAB_HUB, "--lab", "--check", "--diff", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["hosts"]["zeitz-ws02"]["changed"] >= 1  # the drift is reported ...
    # ... check mode runs every task on every host without failing (the hardening tasks' apt-source
    # read and firewall drift probe included), and finds nothing else to change ...
    assert {h: c for h, c in doc["hosts"].items() if c["failed"] or c["unreachable"]
            or (c["changed"] and h != "zeitz-ws02")} == {}, doc["changed_tasks"]
    assert {h: _state(h) for h in hosts} == before      # ... and nothing changed
    assert lab_exec("zeitz-ws02", "cat", "/etc/issue.net").stdout == "drifted\n"
    rc, doc, err = configure_json(fleet, "--limit", "zeitz-ws02")  # a real run repairs it
    assert rc == 0 and doc["hosts"]["zeitz-ws02"]["changed"] >= 1, err
    assert "drifted" not in lab_exec("zeitz-ws02", "cat", "/etc/issue.net").stdout


def test_wireguard_handshake_router_core_is_fresh(converged_lab):
    core_pub = lab_exec("dc-core", "wg", "show", "wg0", "public-key").stdout.strip()
    deadline = time.monotonic() + 60
    age = None
    while time.monotonic() < deadline:
        out = lab_exec("zeitz-rt01", "wg", "show", "wg0", "latest-handshakes").stdout.split()
        now = int(lab_exec("zeitz-rt01", "date", "+%s").stdout)
        if len(out) == 2 and out[0] == core_pub and int(out[1]) > 0:
            age = now - int(out[1])
            if age < 180:  # WireGuard re-handshakes every 2 minutes on an active tunnel
                break
        time.sleep(2)
    assert age is not None and age < 180, f"no fresh handshake with the core (age {age})"
    router_peers = lab_exec("dc-core", "wg", "show", "wg0", "latest-handshakes").stdout
    assert re.search(r"\s[1-9]\d*$", router_peers.strip()), router_peers


def test_second_concurrent_run_is_refused_by_the_lock(converged_lab):
    fleet = converged_lab["fleet"]
    env = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": VAULT_PASSWORD}
    # One host is enough to hold the lock (the whole hub would only make the test slower).
    first = subprocess.Popen([HUBKIT, "--fleet", str(fleet), "configure", LAB_HUB, "--lab", "--check",
                              "--limit", "zeitz-ws01"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        from hubkit.lock import lock_path
        lock = lock_path(fleet, LAB_HUB)
        deadline = time.monotonic() + 60
        holder = None
        while time.monotonic() < deadline and first.poll() is None:
            text = lock.read_text() if lock.exists() else ""
            if f'"pid": {first.pid}' in text:
                holder = text
                break
            time.sleep(0.05)
        assert holder, "the first run never took the hub lock"
        t0 = time.monotonic()
        second = hubkit(fleet, "configure", LAB_HUB, "--lab", "--check")
        waited = time.monotonic() - t0
        assert first.poll() is None, "the second run must be refused while the first still runs"
        assert second.returncode == 1, second.stderr
        assert f"PID {first.pid}" in second.stderr and "locked" in second.stderr
        assert "--wait" in second.stderr
        print(f"second run refused after {waited:.2f} s")
    finally:
        out, err = first.communicate(timeout=1800)
    assert first.returncode == 0, err


def _set_link(host: str, up: bool) -> None:
    subprocess.run(["ip", "-n", netns_of(host), "link", "set", "eth0", "up" if up else "down"], check=True)


def test_one_workstation_down_the_others_converge_and_a_rerun_fixes_it(converged_lab):
    fleet = converged_lab["fleet"]
    down = "zeitz-ws04"
    _set_link(down, False)
    try:
        r = hubkit(fleet, "configure", LAB_HUB, "--lab")
        assert r.returncode == 1
        assert down in r.stdout and "FAILED hosts: zeitz-ws04" in r.stdout.replace("\n", " ")
        record = json.loads((fleet / ".hubkit" / "runs" / LAB_HUB / "configure.json").read_text())
        assert record["failed_hosts"] == [down]
        assert record["hosts"][down]["unreachable"] >= 1
        for host in HOSTS - {down}:
            c = record["hosts"][host]
            assert c["failed"] == 0 and c["unreachable"] == 0, (host, c)
    finally:
        _set_link(down, True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # networkd renews the lease once the link is back
        if lab_exec(down, "true", check=False).returncode == 0:
            break
        time.sleep(1)
    rc, doc, err = configure_json(fleet, "--limit", down)
    assert rc == 0, err
    assert set(doc["hosts"]) == {down} and doc["hosts"][down]["failed"] == 0


def _secrets(fleet: Path, info) -> dict[str, str]:
    from hubkit.secrets import load_secrets
    data = load_secrets(fleet, LAB_HUB, VAULT_PASSWORD)
    found = {"vault password": VAULT_PASSWORD, "wg private key": data["vault_wg_private_key"]}
    for user, pw in data["vault_staff_passwords"].items():
        found[f"password of {user}"] = pw
    found["lab core key"] = (info.dir / "core-wg.key").read_text().strip()
    return found


def test_canary_secrets_never_appear_at_vvvv_even_when_a_secret_task_fails(converged_lab):
    fleet, info = converged_lab["fleet"], converged_lab["info"]
    canaries = _secrets(fleet, info)
    assert all(len(v) >= 8 for v in canaries.values())
    # Force the WireGuard config task (no_log, carries the private key) to fail on the router.
    lab_exec("zeitz-rt01", "sh", "-c", "mv /etc/wireguard /etc/wireguard.hkcf && touch /etc/wireguard")
    try:
        r = hubkit(fleet, "-vvvv", "configure", LAB_HUB, "--lab", "--diff")
        assert r.returncode == 1, r.stderr
        assert "zeitz-rt01" in r.stdout
        texts = {"stdout": r.stdout, "stderr": r.stderr}
        for f in (fleet / ".hubkit").rglob("*"):
            if f.is_file():
                texts[str(f.relative_to(fleet))] = f.read_text(errors="replace")
        # Ansible prints its options at -vvvv (Mitogen's connections print no ESTABLISH lines);
        # module arguments ("module_args") show from -vvv on.
        assert any("verbosity: 4" in t for t in texts.values()), "not run at -vvvv"
        assert any('"module_args"' in t for t in texts.values()), "module arguments not shown"
        for where, text in texts.items():
            for what, secret in canaries.items():
                assert secret not in text, f"{what} in plaintext in {where}"
    finally:
        lab_exec("zeitz-rt01", "sh", "-c", "rm -f /etc/wireguard && mv /etc/wireguard.hkcf /etc/wireguard")
    rc, doc, err = configure_json(fleet, "--limit", "zeitz-rt01")
    assert rc == 0, err
