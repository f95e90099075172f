"""From factory state in the lab: bootstrap, then what a real site must show.

The session's factory lab (tests/bootstrap/factorylab.py, opened by the installed wheel)
serves the module; the tests run in file order and build on each other: the opening, then
read-only checks, then the changed host key, then removing an admin.  The lab goes down
with the module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .factorylab import ADMINS, HUB, VAULT_PASSWORD, set_admins

pytestmark = [pytest.mark.lab, pytest.mark.slow]
HUBKIT = str(Path(sys.executable).with_name("hubkit"))
ENV = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": VAULT_PASSWORD}
for _k in ("HUBKIT_SSH_USER", "HUBKIT_SSH_KEY", "HUBKIT_SSH_JUMP", "HUBKIT_INSTALLER_KEY"):
    ENV.pop(_k, None)


def hk(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HUBKIT, "--fleet", str(root), *args], capture_output=True, text=True, env=ENV,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def lab(factory_lab):
    yield factory_lab
    # These tests broke it; nothing later needs it up (the wheel's test reads what the opening kept).
    from hubkit import lab as hklab
    if hklab.load(HUB) is not None:
        hklab.down(HUB)


def _hub_hosts(info) -> list[dict]:
    return [h for h in info.hosts if h["role"] not in ("core", "mgmt")]


def _ssh(info, address: str, *opts: str, cmd: str = "true", known_hosts=None) -> subprocess.CompletedProcess:
    """ssh from the mgmt netns, checking the host keys bootstrap recorded."""
    argv = info.netns_exec("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ControlMaster=no",
                           "-o", "ControlPath=none", "-o", f"UserKnownHostsFile={known_hosts or info.site_known_hosts}",
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", *opts, address, cmd)
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_open_from_factory_state_ends_green(lab):
    r = lab["open"]
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert lab["info"].factory
    assert re.search(r"bootstrap .*7 bootstrapped", r.stderr), r.stderr
    doc = lab["evidence"]
    assert [row["id"] for row in doc["bsi"] if row["status"] == "fail"] == []
    assert doc["verify"]["result"]["summary"]["failed"] == 0


def test_root_and_password_logins_are_refused_on_every_host(lab):
    info = lab["info"]
    for h in _hub_hosts(info):
        r = _ssh(info, h["mgmt_address"], "-i", str(info.installer_key), "-l", "root")
        assert r.returncode == 255 and "Permission denied" in r.stderr, (h["name"], r.stderr)
        # What the server offers at all: public keys only, no password or keyboard-interactive.
        r = _ssh(info, h["mgmt_address"], "-o", "PreferredAuthentications=none", "-l", ADMINS[0])
        assert "Permission denied (publickey)." in r.stderr, (h["name"], r.stderr)


def test_each_admin_logs_in_with_their_own_key_and_has_sudo(lab):
    info = lab["info"]
    for h in _hub_hosts(info):
        for n in ADMINS:
            r = _ssh(info, h["mgmt_address"], "-i", str(lab["keys"] / n), "-l", n, cmd="sudo -n id -u")
            assert r.returncode == 0 and r.stdout.strip() == "0", (h["name"], n, r.stderr)
        # Another admin's key does not open this admin's account.
        r = _ssh(info, h["mgmt_address"], "-i", str(lab["keys"] / ADMINS[1]), "-l", ADMINS[0])
        assert r.returncode == 255, h["name"]


def test_bootstrap_recorded_the_host_keys_and_a_rerun_changes_nothing(lab):
    info = lab["info"]
    recorded = info.site_known_hosts.read_text()
    generated = info.known_hosts.read_text().splitlines()
    for h in _hub_hosts(info):
        want = [line.split(None, 1)[1] for line in generated if line.startswith(h["name"] + ",")]
        assert want and all(f"{h['name']},{h['mgmt_address']} {k}" in recorded for k in want), h["name"]
    r = hk(lab["root"], "bootstrap", HUB, "--lab", "--json")
    assert r.returncode == 0, r.stderr
    assert {h["status"] for h in json.loads(r.stdout)["hosts"]} == {"already"}
    assert info.site_known_hosts.read_text() == recorded


def test_inventory_overlay_changes_connection_details_only(lab):
    """ansible-inventory of the rendered inventory against rendered + lab overlay."""
    from hubkit.lab.artifacts import CONNECTION_VARS, LAB_VARS
    inv = lab["root"] / "build" / HUB / "inventory"
    exe = str(Path(sys.executable).with_name("ansible-inventory"))

    def host_vars(*sources):
        args = [exe, "--list"]
        for s in sources:
            args += ["-i", str(s)]
        out = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
        return out["_meta"]["hostvars"], out

    site, _ = host_vars(inv)
    both, _ = host_vars(inv, lab["info"].inventory_dir)
    assert set(site) == set(both) and len(site) == 8
    for name in site:
        s, b = site[name], both[name]
        assert s.get("ansible_user") == "op-alpha" and s.get("ansible_become") is True, name
        assert b.get("ansible_user", s["ansible_user"]) == s["ansible_user"]
        changed = {k for k in set(s) | set(b) if s.get(k) != b.get(k)}
        assert changed <= set(CONNECTION_VARS + LAB_VARS), (name, changed - set(CONNECTION_VARS + LAB_VARS))


def test_a_changed_host_key_is_refused(lab):
    info = lab["info"]
    ws = next(h for h in _hub_hosts(info) if h["name"].endswith("ws04"))
    key = lab["keys"] / ADMINS[0]
    keys = "ssh_host_ed25519_key ssh_host_ed25519_key.pub ssh_host_ecdsa_key ssh_host_ecdsa_key.pub"
    regen = (f"sudo tar -C /etc/ssh -czf /root/hostkeys.tgz {keys} && "
             "sudo rm -f /etc/ssh/ssh_host_ed25519_key* /etc/ssh/ssh_host_ecdsa_key* && "
             "sudo ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && "
             "sudo ssh-keygen -q -t ecdsa -N '' -f /etc/ssh/ssh_host_ecdsa_key && sudo systemctl restart ssh")
    r = _ssh(info, ws["mgmt_address"], "-i", str(key), "-l", ADMINS[0], cmd=regen)
    assert r.returncode == 0, r.stderr
    r = hk(lab["root"], "bootstrap", HUB, "--lab")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"the host key of {ws['name']} ({ws['mgmt_address']}) changed" in r.stderr
    assert f"{info.site_known_hosts}:" in r.stderr
    r = hk(lab["root"], "configure", HUB, "--lab", "--limit", ws["name"])
    assert r.returncode == 1
    out = " ".join((r.stdout + r.stderr).split())  # the recap wraps long lines
    assert f"the host key is not the one recorded in {info.site_known_hosts}; refused" in out
    # Back to the keys the lab knows (its own checks use them), then: the operator removes
    # the host's record on purpose, and bootstrap records the key the host presents.
    r = _ssh(info, ws["mgmt_address"], "-i", str(key), "-l", ADMINS[0], "-o", "StrictHostKeyChecking=no",
             known_hosts="/dev/null", cmd="sudo tar -C /etc/ssh -xzf /root/hostkeys.tgz && sudo systemctl restart ssh")
    assert r.returncode == 0, r.stderr
    kept = [ln for ln in info.site_known_hosts.read_text().splitlines() if not ln.startswith(ws["name"] + ",")]
    info.site_known_hosts.write_text("\n".join(kept) + "\n")
    r = hk(lab["root"], "bootstrap", HUB, "--lab", "--json")
    assert r.returncode == 0, r.stderr
    statuses = {h["name"]: h["status"] for h in json.loads(r.stdout)["hosts"]}
    assert statuses[ws["name"]] == "already" and ws["name"] in info.site_known_hosts.read_text()


def test_an_admin_removed_from_the_fleet_loses_the_account(lab):
    root, info = lab["root"], lab["info"]
    set_admins(root, ADMINS[:1], lab["keys"])
    assert hk(root, "render", HUB).returncode == 0
    r = hk(root, "configure", HUB, "--lab")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    for h in _hub_hosts(info):
        r = _ssh(info, h["mgmt_address"], "-i", str(lab["keys"] / ADMINS[0]), "-l", ADMINS[0],
                 cmd=f"getent passwd {ADMINS[1]}; getent group hubkit-admin")
        assert r.returncode == 0, r.stderr
        assert ADMINS[1] not in r.stdout and "hubkit-admin:x:" in r.stdout, (h["name"], r.stdout)
        r = _ssh(info, h["mgmt_address"], "-i", str(lab["keys"] / ADMINS[1]), "-l", ADMINS[1])
        assert r.returncode == 255, h["name"]
    r = hk(root, "verify", HUB, "--lab", "-k", "admin")
    assert r.returncode == 0, r.stdout[-3000:]
    assert yaml.safe_load((root / "build" / HUB / "inventory/group_vars/all.yml").read_text())[
        "hubkit_admins"][0]["username"] == ADMINS[0]
