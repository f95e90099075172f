"""Provision for real: the Pulumi engine built from its Go module, the Keycloak provider,
and a real Keycloak in the lab's data centre.

One lab (hub ``hkcl-zeitz``, its hosts never configured: the cloud part needs
none) and one Keycloak serve the module; the tests run in file order and build
on each other: provision, no-op, previews of a change, secrets, verify and
drift, kill -9, destroy.  Keycloak answers only in the lab's mgmt netns, so the
tests read it from there (``hubkit.netns.run_in``), as verify does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubkit.scaffold import init_single_hub_fleet
from tests.cloudlab import HUBKIT, prereqs, runner

pytestmark = [pytest.mark.lab, pytest.mark.slow]
HUB = "hkcl-zeitz"
REALM = "digitalhubs"
VAULT_PW = "cloud-lab-vault-pw-5y"
ENV = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": VAULT_PW}
OUTPUTS: list[str] = []


hk = runner(ENV, OUTPUTS)


def kc(fn, *args):
    """Run ``fn(admin, *args)`` against the lab's Keycloak, from its mgmt netns."""
    from hubkit import netns
    from hubkit.cloud import keycloak_api
    from hubkit.lab import keycloak, load

    def call():
        svc = keycloak.service(HUB)
        return fn(keycloak_api.Admin(svc.url, keycloak.ADMIN_USER, svc.admin_password()), *args)
    return netns.run_in(load(HUB).netns_mgmt, call)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    prereqs()
    root = init_single_hub_fleet(tmp_path_factory.mktemp("cloudlab") / "fleet", HUB)
    hk(root, "secrets", "init", HUB, check=True)
    hk(root, "render", HUB, check=True)  # verify reads the rendered tree
    from hubkit import lab as hklab
    if hklab.load(HUB) is not None:
        hklab.down(HUB)
    hk(root, "lab", "up", HUB, check=True)
    yield root
    hk(root, "lab", "down", HUB)


def _staff(root) -> list[str]:
    from hubkit.fleet.repo import load_fleet
    return sorted(m.username for m in load_fleet(root).hub(HUB).model.staff)


def test_provision_creates_the_realm_settings_and_the_hub_identity(lab):
    r = hk(lab, "provision", HUB, "--lab", "--json", check=True)
    doc = json.loads(r.stdout)
    assert doc["real"] == ["identity"] and doc["planned_only"] == ["dns", "backup", "monitoring"]
    assert doc["changes"].get("create", 0) >= 8 and doc["realm"]["changes"].get("create", 0) >= 10
    assert doc["outputs"]["staff_users"] == _staff(lab)

    def read(a):
        g = a.group(REALM, "hub-zeitz")
        users = {n: a.user(REALM, n) for n in _staff(lab)}
        lead_roles = a.get(f"/admin/realms/{REALM}/users/{users['zz-lead']['id']}/role-mappings/realm/composite")
        return {"realm": a.realm(REALM), "members": a.group_members(REALM, g["id"]), "users": users,
                "admin_composites": a.role_composites(REALM, "hub-zeitz-admin"),
                "lead_roles": sorted(x["name"] for x in lead_roles)}
    live = kc(read)
    assert live["realm"]["bruteForceProtected"] is True and live["realm"]["browserFlow"] == "hubkit-browser"
    assert live["members"] == _staff(lab)
    assert all(u["requiredActions"] == ["UPDATE_PASSWORD"] and u["enabled"] for u in live["users"].values())
    assert live["admin_composites"] == ["mfa-required"]
    assert {"hub-zeitz-admin", "mfa-required"} <= set(live["lead_roles"])


def test_keycloak_is_in_the_lab_status_and_reachable_from_mgmt_only(lab):
    from hubkit.lab import load
    st = json.loads(hk(lab, "lab", "status", HUB, "--json", check=True).stdout)
    svc = st["services"]["keycloak"]
    assert svc["state"] == "running" and svc["admin_user"] == "admin"
    assert svc["url"] == "http://172.31.255.1:8080"
    pw = Path(svc["admin_password_file"])
    assert pw.stat().st_mode & 0o777 == 0o600 and pw.stat().st_uid == 0
    info = load(HUB)
    probe = ("import socket,sys; s=socket.socket(); s.settimeout(2); "
             "sys.exit(0 if s.connect_ex(('172.31.255.1', 8080)) == 0 else 1)")
    assert subprocess.run(info.netns_exec(sys.executable, "-c", probe)).returncode == 0
    for h in info.hosts:
        if h["role"] in ("workstation", "router"):  # staff, guest and the router's own namespace
            r = subprocess.run(["ip", "netns", "exec", h["netns"], sys.executable, "-c", probe])
            assert r.returncode == 1, h["name"]
    forwarding = subprocess.run(info.netns_exec("cat", "/proc/sys/net/ipv4/ip_forward"), capture_output=True,
                                text=True).stdout.strip()
    assert forwarding == "0"  # the mgmt laptop never routes a hub segment to the identity provider


def test_second_provision_and_preview_change_nothing(lab):
    doc = json.loads(hk(lab, "provision", HUB, "--lab", "--json", check=True).stdout)
    assert set(doc["changes"]) == {"same"} and doc["steps"] == []
    assert set(doc["realm"]["changes"]) == {"same"} and doc["realm"]["steps"] == []
    doc = json.loads(hk(lab, "plan", HUB, "--lab", "--cloud-only", "--json", check=True).stdout)
    assert doc["steps"] == [] and doc["realm"]["steps"] == []


def test_preview_shows_a_staff_change_exactly(lab):
    hub = lab / "hubs" / f"{HUB}.yaml"
    original = hub.read_text()
    try:
        hub.write_text(original.replace(
            "  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n",
            "  - {username: zz-staff03, full_name: Staff Member Three, role: staff}\n"))
        hk(lab, "secrets", "init", HUB, check=True)
        doc = json.loads(hk(lab, "plan", HUB, "--lab", "--cloud-only", "--json", check=True).stdout)
        assert [(s["op"], s["name"], s["diffs"]) for s in doc["steps"]] == [
            ("update", f"{HUB}-members", ["members"]),
            ("create", f"{HUB}-user-zz-staff03", []),
            ("delete", f"{HUB}-user-zz-trainee01", []),
        ]
        text = hk(lab, "plan", HUB, "--lab", "--cloud-only", check=True).stdout
        assert re.search(rf"create\s+keycloak:index/user:User {HUB}-user-zz-staff03", text)
        assert "planned only (no server here): dns, backup, monitoring" in text
    finally:
        hub.write_text(original)
    assert json.loads(hk(lab, "plan", HUB, "--lab", "--cloud-only", "--json", check=True).stdout)["steps"] == []


def test_no_secret_in_state_logs_or_output(lab):
    from hubkit.lab import keycloak, load
    from hubkit.secrets import load_secrets
    secrets = list(load_secrets(lab, HUB, VAULT_PW)["vault_staff_passwords"].values())
    secrets += [VAULT_PW, keycloak.service(HUB).admin_password(), keycloak.state_passphrase(HUB)]
    r = hk(lab, "-vv", "provision", HUB, "--lab")
    assert r.returncode == 0
    places = [p for base in (lab, load(HUB).dir / "pulumi") for p in base.rglob("*")
              if p.is_file() and "secrets" not in p.parts]
    assert any(p.name.endswith(".json") and "stacks" in str(p) for p in places), "no stack state written"
    for secret in secrets:
        assert all(secret not in out for out in OUTPUTS)
        for p in places:
            assert secret.encode() not in p.read_bytes(), f"a secret in {p}"


def test_verify_reads_the_live_realm_and_fails_on_drift(lab):
    r = hk(lab, "verify", HUB, "--lab", "-k", "identity", "--json")
    checks = {c["id"]: c["status"] for c in json.loads(r.stdout)["checks"]}
    assert r.returncode == 0 and set(checks.values()) == {"passed"} and len(checks) == 4, r.stdout[-2000:]

    def drift(a):
        a.write("POST", f"/admin/realms/{REALM}/users", {"username": "hkdrift", "enabled": True})
        uid, gid = a.user(REALM, "hkdrift")["id"], a.group(REALM, "hub-zeitz")["id"]
        a.write("PUT", f"/admin/realms/{REALM}/users/{uid}/groups/{gid}", {})
        a.write("PUT", f"/admin/realms/{REALM}", {"bruteForceProtected": False})
    kc(drift)
    r = hk(lab, "verify", HUB, "--lab", "-k", "identity", "--json")
    doc = json.loads(r.stdout)
    failed = {c["id"]: c["message"] for c in doc["checks"] if c["status"] == "failed"}
    assert r.returncode == 1
    assert set(failed) == {"identity::test_hub_group_holds_exactly_the_staff", "identity::test_brute_force_lockout_is_on"}
    assert "also hkdrift" in failed["identity::test_hub_group_holds_exactly_the_staff"]
    # provision repairs what it owns: the realm's settings and the group's exact membership.
    hk(lab, "provision", HUB, "--lab", check=True)
    assert hk(lab, "verify", HUB, "--lab", "-k", "identity").returncode == 0
    kc(lambda a: a.delete(f"/admin/realms/{REALM}/users/{a.user(REALM, 'hkdrift')['id']}"))


def test_kill_9_during_provision_leaves_no_duplicate_and_a_clear_way_on(lab):
    hk(lab, "destroy", HUB, "--lab", "--yes", check=True)
    proc = subprocess.Popen([HUBKIT, "--fleet", str(lab), "provision", HUB, "--lab"], env=ENV,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            # The first user exists: the others are being created right now.
            if kc(lambda a: a.user(REALM, "zz-lead") or a.user(REALM, "zz-staff01")) is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "provision ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    r = hk(lab, "provision", HUB, "--lab")
    if r.returncode != 0:
        # The engine refuses to run over the killed run's pending operations: named, with the way on.
        assert r.returncode == 1 and "pending operation(s)" in r.stderr and "--clear-pending" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        r = hk(lab, "provision", HUB, "--lab", "--clear-pending")
    assert r.returncode == 0, r.stderr[-3000:]
    for name in _staff(lab):
        found = kc(lambda a, n: a.get(f"/admin/realms/{REALM}/users", username=n, exact="true"), name)
        assert len(found) == 1, name
    groups = kc(lambda a: a.get(f"/admin/realms/{REALM}/groups", search="hub-zeitz", exact="true"))
    assert [g["name"] for g in groups] == ["hub-zeitz"]
    assert json.loads(hk(lab, "plan", HUB, "--lab", "--cloud-only", "--json", check=True).stdout)["steps"] == []


def test_a_pending_create_is_named_and_cleared_without_a_duplicate(lab):
    """What a kill -9 at the wrong moment leaves: a user that exists in Keycloak while the
    state only knows its create as pending.  Made here on purpose, so this path always runs."""
    from hubkit.lab import load
    kc(lambda a: a.write("POST", f"/admin/realms/{REALM}/users", {"username": "hkpending", "enabled": True}))
    [state] = (load(HUB).dir / "pulumi" / "state").rglob(f"stacks/hubkit-hub/{HUB}.json")
    doc = json.loads(state.read_text())
    urn = f"urn:pulumi:{HUB}::hubkit-hub::hubkit:hub:HubIdentity$keycloak:index/user:User::{HUB}-user-hkpending"
    doc["checkpoint"]["latest"]["pending_operations"] = [{"resource": {
        "urn": urn, "custom": True, "type": "keycloak:index/user:User",
        "inputs": {"username": "hkpending", "realmId": REALM}}, "type": "creating"}]
    state.write_text(json.dumps(doc))
    r = hk(lab, "provision", HUB, "--lab")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"1 pending operation(s) from an interrupted run: {HUB}-user-hkpending" in r.stderr
    assert f"`hubkit provision {HUB} --lab --clear-pending`" in r.stderr
    r = hk(lab, "provision", HUB, "--lab", "--clear-pending")
    assert r.returncode == 0, r.stderr[-3000:]
    assert kc(lambda a: a.user(REALM, "hkpending")) is None  # it was the killed run's, not kept twice
    assert "pending_operations" not in json.loads(state.read_text())["checkpoint"]["latest"] or \
        not json.loads(state.read_text())["checkpoint"]["latest"]["pending_operations"]


def test_destroy_removes_what_it_created_and_nothing_else(lab):
    kc(lambda a: a.write("POST", f"/admin/realms/{REALM}/users", {"username": "made-by-hand", "enabled": True}))
    doc = json.loads(hk(lab, "destroy", HUB, "--lab", "--yes", "--json", check=True).stdout)
    assert doc["changes"].get("delete", 0) >= 8

    def read(a):
        return {"group": a.group(REALM, "hub-zeitz"), "users": [a.user(REALM, n) for n in _staff(lab)],
                "hand": a.user(REALM, "made-by-hand"), "realm": a.realm(REALM), "role": a.role(REALM, "hub-zeitz-admin")}
    live = kc(read)
    assert live["group"] is None and live["users"] == [None] * len(_staff(lab)) and live["role"] is None
    assert live["hand"] is not None and live["realm"] is not None  # not the hub stack's
    rec = json.loads((lab / ".hubkit" / "runs" / HUB / "cloud.json").read_text())
    assert rec["mode"] == "destroyed"
