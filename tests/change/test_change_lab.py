"""Day two in the lab: plan and apply joiners, a moved workstation, a leaver, a
staff password rotation and a WireGuard rotation that is killed half-way.

One lab (hub ``hkch-zeitz``, opened for real with its Keycloak) serves the
module; the tests run in file order and build on each other.  Every plan is
compared with what its apply changed; logins are tried for real (``su`` from
an unprivileged user through PAM on the workstation), and no secret may
appear in any output.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from hubkit.scaffold import init_single_hub_fleet
from tests.cloudlab import HUBKIT, prereqs, runner

pytestmark = [pytest.mark.lab, pytest.mark.slow]
HUB = "hkch-zeitz"
VAULT_PW = "change-lab-vault-pw-K3v"
ENV = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": VAULT_PW}
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "plan.schema.json").read_text())
OUTPUTS: list[str] = []
SECRETS: set[str] = {VAULT_PW}

# Runs on a workstation as root: `su - USER` from user nobody, so PAM asks for
# USER's password; prints what su said (the password never echoed back).
LOGIN = r'''
import os, pty, select, sys, time
user, pw = sys.stdin.readline().rstrip("\n").split(" ", 1)
pid, fd = pty.fork()
if pid == 0:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    os.execvp("su", ["su", "-", user, "-c", "echo LOGIN-OK"])
out, sent, end = b"", False, time.time() + 20
while time.time() < end:
    if not select.select([fd], [], [], 0.5)[0]:
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        continue
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and b"assword:" in out:
        os.write(fd, pw.encode() + b"\n")
        sent = True
    elif sent and (b"Current password" in out or b"LOGIN-OK" in out):
        break
try:
    os.kill(pid, 9)
except ProcessLookupError:
    pass
print(out.decode(errors="replace"))
'''


hk = runner(ENV, OUTPUTS)


def passwords(root) -> dict[str, str]:
    from hubkit.secrets import load_secrets
    data = load_secrets(root, HUB, VAULT_PW)
    SECRETS.update(data["vault_staff_passwords"].values())
    SECRETS.add(data["vault_wg_private_key"])
    return dict(data["vault_staff_passwords"])


def try_login(host: str, user: str, password: str) -> str:
    """What ``su - user`` on ``host`` says to ``password``."""
    from hubkit import lab
    code = base64.b64encode(LOGIN.encode()).decode()
    argv = lab.load(HUB).ssh(host, "sudo", "python3", "-c",
                             f"'import base64; exec(base64.b64decode(\"{code}\"))'")
    r = subprocess.run(argv, input=f"{user} {password}\n", capture_output=True, text=True, timeout=60)
    return r.stdout


def works_with_change_forced(out: str) -> bool:
    # The password is accepted, and PAM demands a new one before the session starts.
    return "You are required to change your password immediately" in out


def edit_hub(root, *pairs: tuple[str, str]) -> None:
    hub = Path(root) / "hubs" / f"{HUB}.yaml"
    text = hub.read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    hub.write_text(text)


def plan(root, *extra) -> dict:
    doc = json.loads(hk(root, "plan", HUB, "--lab", "--json", *extra, check=True).stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def apply(root) -> dict:
    return json.loads(hk(root, "apply", HUB, "--lab", "--json", check=True).stdout)


def planned_tasks(doc) -> dict[str, list[str]]:
    return {h: sorted({c["task"] for c in v["changes"]}) for h, v in doc["hosts"]["hosts"].items() if v["changes"]}


def cloud_ops(doc) -> set[tuple[str, str]]:
    return {(s["op"], s["name"]) for s in doc["cloud"]["steps"] + doc["cloud"]["realm_steps"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    prereqs()
    root = init_single_hub_fleet(tmp_path_factory.mktemp("changelab") / "fleet", HUB)
    hk(root, "secrets", "init", HUB, check=True)
    from hubkit import lab as hklab
    if hklab.load(HUB) is not None:
        hklab.down(HUB)
    try:
        hk(root, "open", HUB, "--lab", check=True)
        yield root
    finally:
        hk(root, "lab", "down", HUB)


def test_a_plan_with_no_change_is_refused_once_the_fleet_changed_and_applies_when_it_is_back(lab):
    doc = plan(lab)
    assert doc["target"] == "lab" and doc["cloud"]["mode"] == "preview"
    assert doc["summary"]["changes"] is False, doc["summary"]
    hub = Path(lab) / "hubs" / f"{HUB}.yaml"
    original = hub.read_text()
    hub.write_text(original + "# reviewed\n")
    r = hk(lab, "apply", HUB, "--lab")
    assert r.returncode == 1 and "the fleet changed since the plan was made (layers differ)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    hub.write_text(original)
    res = apply(lab)  # the same inputs again: the plan is valid again (a hash of content, not of time)
    assert res["hosts_changed"] == {} and res["cloud"] == {}, res
    assert res["as_planned"] and res["ok"], res["verify"]


def test_joiner_and_moved_workstation_as_planned(lab):
    # zz-staff03 joins on zz-staff01's workstation; zz-staff01 moves to ws04.
    edit_hub(lab, ("  - {hostname: zeitz-ws02, segment: staff, assigned_to: zz-staff01}\n",
                   "  - {hostname: zeitz-ws02, segment: staff, assigned_to: zz-staff03}\n"),
             ("  - {hostname: zeitz-ws04, segment: staff}\n",
              "  - {hostname: zeitz-ws04, segment: staff, assigned_to: zz-staff01}\n"),
             ("  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n",
              "  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n"
              "  - {username: zz-staff03, full_name: Staff Member Three, role: staff}\n"))
    hk(lab, "secrets", "init", HUB, check=True)  # the joiner's initial password
    pw = passwords(lab)
    # One plan run: the merge-request comment on stdout, the plan document in --out.
    saved = Path(lab).parent / "joiner-plan.json"
    md = hk(lab, "plan", HUB, "--lab", "--format", "markdown", "--out", str(saved), check=True).stdout
    for heading in ("### hubkit plan: `hkch-zeitz` (lab)", "#### Rendered files", "#### Hosts", "#### Cloud"):
        assert heading in md.splitlines(), md
    assert "- **zeitz-ws02**" in md and "- **zeitz-ws04**" in md and "`hkch-zeitz-user-zz-staff03`" in md
    doc = json.loads(saved.read_text())
    jsonschema.validate(doc, SCHEMA)
    tasks = planned_tasks(doc)
    assert "Create the staff account (initial password only when created)" in tasks["zeitz-ws04"]
    assert {"Lock the accounts of staff no longer on this workstation at once",
            "Remove the leavers' accounts and homes",
            "Create the staff account (initial password only when created)"} <= set(tasks["zeitz-ws02"])
    assert set(tasks) == {"zeitz-ws02", "zeitz-ws04"}, tasks
    assert ("create", "hkch-zeitz-user-zz-staff03") in cloud_ops(doc)
    res = apply(lab)
    assert res["hosts_changed"] == tasks and res["as_planned"], res
    assert res["cloud"].get("create") == 1 and res["ok"], res
    assert works_with_change_forced(try_login("zeitz-ws02", "zz-staff03", pw["zz-staff03"]))
    assert works_with_change_forced(try_login("zeitz-ws04", "zz-staff01", pw["zz-staff01"]))
    # The former holder of ws02 has no login there any more.
    assert "does not exist" in try_login("zeitz-ws02", "zz-staff01", pw["zz-staff01"])


def test_leaver_is_locked_out_everywhere_and_verify_proves_the_absence(lab):
    pw = passwords(lab)
    edit_hub(lab, ("  - {hostname: zeitz-ws02, segment: staff, assigned_to: zz-staff03}\n",
                   "  - {hostname: zeitz-ws02, segment: staff}\n"),
             ("  - {username: zz-staff03, full_name: Staff Member Three, role: staff}\n", ""))
    # The absence check, against the hub file as it now is, is red before the apply ...
    hk(lab, "render", HUB, check=True)
    r = hk(lab, "verify", HUB, "--lab", "-k", "no_login", "--json")
    checks = {c["host"]: c for c in json.loads(r.stdout)["checks"]}
    assert r.returncode == 1 and checks["zeitz-ws02"]["status"] == "failed", r.stdout
    assert "found zz-staff03" in checks["zeitz-ws02"]["message"]
    doc = plan(lab)
    tasks = planned_tasks(doc)
    assert {"Lock the accounts of staff no longer on this workstation at once",
            "Archive the leavers' home directories (kept for the retention period)",
            "Remove the leavers' accounts and homes"} <= set(tasks["zeitz-ws02"]), tasks
    assert ("delete", "hkch-zeitz-user-zz-staff03") in cloud_ops(doc)
    res = apply(lab)
    assert res["hosts_changed"] == tasks and res["as_planned"], res
    assert res["cloud"].get("delete") == 1, res
    # ... and green after it, with the whole verify.
    assert res["ok"] and res["verify"]["failed"] == 0, res["verify"]
    out = try_login("zeitz-ws02", "zz-staff03", pw["zz-staff03"])
    assert "does not exist" in out and "LOGIN-OK" not in out
    from hubkit import lab as hklab
    ls = subprocess.run(hklab.load(HUB).ssh("zeitz-ws02", "sudo", "stat", "-c", "%a:%U",
                                             "/var/lib/hubkit/leavers/zz-staff03.tar.gz"),
                        capture_output=True, text=True)
    assert ls.stdout.strip() == "600:root", ls.stderr


def test_staff_password_rotation(lab):
    before = passwords(lab)["zz-staff01"]
    r = hk(lab, "secrets", "rotate", HUB, "--staff", "zz-staff01", check=True)
    after = passwords(lab)["zz-staff01"]
    assert after != before and after not in r.stdout + r.stderr
    doc = plan(lab)
    assert planned_tasks(doc) == {"zeitz-ws04": [
        "Force a password change at the next login (a new account, or a rotated password)",
        "Record which initial password the account has (a fingerprint, not the password)",
        "Set a rotated initial password (`hubkit secrets rotate --staff`)"]}, planned_tasks(doc)
    res = apply(lab)
    assert res["as_planned"] and res["ok"], res
    assert works_with_change_forced(try_login("zeitz-ws04", "zz-staff01", after))
    assert "Authentication failure" in try_login("zeitz-ws04", "zz-staff01", before)


def _wg_peers(host: str) -> list[str]:
    from hubkit import lab as hklab
    return subprocess.run(hklab.load(HUB).ssh(host, "sudo", "wg", "show", "wg0", "peers"),
                          capture_output=True, text=True).stdout.split()


def test_wireguard_rotation_killed_between_router_and_concentrator_recovers(lab):
    from hubkit.secrets import read_public_key
    old = read_public_key(lab, HUB)
    record = Path(lab) / ".hubkit" / "runs" / HUB / "rotation.json"
    proc = subprocess.Popen([HUBKIT, "--fleet", str(lab), "secrets", "rotate", HUB, "--wireguard", "--lab"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if record.is_file() and json.loads(record.read_text()).get("phase") == "router":
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    out = proc.communicate()[0]
    OUTPUTS.append(out)
    assert proc.returncode == -signal.SIGKILL, f"not killed between router and concentrator:\n{out}"
    new = read_public_key(lab, HUB)
    assert new != old and old in _wg_peers("dc-core") and new not in _wg_peers("dc-core")
    # The tunnel is down now: the router has the new key, the concentrator the old one.
    r = hk(lab, "verify", HUB, "--lab", "-k", "test_hub_peer_present")
    assert r.returncode == 1, r.stdout
    r = hk(lab, "secrets", "rotate", HUB, "--wireguard", "--lab", check=True)
    assert "resuming the rotation" in r.stderr and "handshake with the new key" in r.stdout
    peers = _wg_peers("dc-core")
    assert new in peers and old not in peers, peers
    assert not record.exists()
    passwords(lab)
    res = hk(lab, "verify", HUB, "--lab", "-k", "wireguard or hub_peer or tunnel", check=True)
    assert "0 failed" in res.stdout


def test_no_secret_in_any_output_or_plan(lab):
    passwords(lab)
    texts = OUTPUTS + [p.read_text(errors="replace") for p in (Path(lab) / ".hubkit").rglob("*")
                       if p.is_file() and p.suffix in (".json", ".log")]
    for secret in SECRETS:
        assert not any(secret in t for t in texts), "a secret value leaked into an output"
