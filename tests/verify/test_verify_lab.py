"""`hubkit verify --lab` against one real converged lab (root, namespaces, nspawn).

The session's shared converged Zeitz lab (CI budget, tests/conftest.py
``zeitz_lab``): the read-only checks run first, then the drift cases, each of which ends by running `hubkit configure` and
verifying green again, so the lab is converged whenever a test starts.
The lab's hub is the Zeitz example renamed, so an engineer's own `zeitz`
lab on the same machine is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from xml.etree import ElementTree as ET

import pytest

from hubkit.scaffold import init_fleet
from hubkit.verify.plugin import NOT_APPLICABLE
from tests.verify import labkit

pytestmark = pytest.mark.lab

HUB = labkit.SHARED_HUB
HUBKIT = labkit.HUBKIT


def not_passed(doc) -> set[tuple[str, str]]:
    return {(c["host"], c["id"]) for c in doc["checks"] if c["status"] in ("failed", "error")}


def messages(doc) -> dict:
    return {f'{c["host"]} {c["id"]}': c["message"] for c in doc["checks"] if c["status"] in ("failed", "error")}


def test_no_lab_is_exit_3(tmp_path):
    labkit.prereqs()
    root = tmp_path / "fleet"
    init_fleet(root)
    r = subprocess.run([HUBKIT, "--fleet", str(root), "verify", "wittenberg", "--lab"], capture_output=True,
                       text=True, env={**os.environ, "CI": "true"})
    assert r.returncode == 3 and "hubkit lab up wittenberg" in r.stderr and "Traceback" not in r.stderr


def test_converged_lab_verifies_green(lab, tmp_path):
    junit = tmp_path / "verify.xml"
    rc, doc = lab.verify("--junit", str(junit))
    assert messages(doc) == {}
    assert rc == 0
    s = doc["summary"]
    assert s["failed"] == 0 and s["error"] == 0 and s["passed"] >= 100
    # What the lab cannot show, each saying why: the guest host's NTP (isolated segment, no public
    # NTP in the lab), apt's daily timers (the lab is offline and keeps them off, docs/lab.md), and
    # the identity realm's checks (this lab was configured, never provisioned).  "Not applicable"
    # skips are by design and not counted here.
    skipped = {(c["host"], c["id"]): c.get("message", "") for c in doc["checks"]
               if c["status"] == "skipped" and not c.get("message", "").startswith(NOT_APPLICABLE)}
    identity = {k: m for k, m in skipped.items() if k[1].startswith("identity::")}
    assert len(identity) == 4 and all("were not provisioned" in m or "no cloud run" in m for m in identity.values()), \
        identity
    hosts = {c["host"] for c in doc["checks"]}
    apt = {(h, "common::test_apt_timers_enabled") for h in hosts - {"dc-core", "hub"}}
    assert all("keeps apt's timers off" in skipped[k] for k in apt), skipped
    assert set(skipped) - set(identity) - apt <= {("zeitz-gw01", "common::test_chrony_synced")}
    assert hosts == {"zeitz-rt01", "zeitz-sw01", "zeitz-ws01", "zeitz-ws02", "zeitz-ws03", "zeitz-ws04",
                     "zeitz-gw01", "dc-core", "hub"}
    assert all(c["bsi"] for c in doc["checks"])
    # The hardening probes (issue 16) among them: the guest scan and each host's SSH policy.
    passed = {c["id"] for c in doc["checks"] if c["status"] == "passed"}
    assert "probes::test_fresh_guest_reaches_only_its_gateway" in passed
    assert {f"probes::test_ssh_negotiates_only_the_policy[{h}]" for h in hosts - {"dc-core", "hub"}} <= passed
    # JUnit: well-formed, one suite per host, the same number of cases as checks.
    root = ET.parse(junit).getroot()
    assert sum(int(s.get("tests")) for s in root.findall("testsuite")) == len(doc["checks"])
    assert {s.get("name") for s in root.findall("testsuite")} == hosts
    # The audit's copy, without secrets (no private key material in any message).
    saved = json.loads((lab.fleet / ".hubkit" / "runs" / HUB / "verify.json").read_text())
    assert saved["summary"] == doc["summary"]
    assert "PRIVATE KEY" not in json.dumps(saved) and "PrivateKey" not in json.dumps(saved)


def test_human_output_names_expected_and_found(lab):
    lab.on("zeitz-ws04", "useradd -m -s /bin/bash hkdrift2 && usermod -aG sudo hkdrift2")
    try:
        r = lab.hubkit("verify", HUB, "--lab", "-k", "sudo")
        assert r.returncode == 1
        assert "zeitz-ws04\n" in r.stdout
        assert ("zeitz-ws04 common::test_only_admin_has_sudo: expected sudo for the admins (op-lange, op-weber) only, "
                "found sudo also for hkdrift2") in r.stdout
    finally:
        lab.on("zeitz-ws04", "userdel -r hkdrift2")


# A server on UDP 5999, and a client that keeps one unconnected UDP socket open at a
# time, each for 1 s on a fresh ephemeral port (like a probe waiting for its answer).
LISTENER = ("import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind(('0.0.0.0', 5999)); time.sleep(600)")
CHURN = ("import socket, time\n"
         "for _ in range(600):\n"
         "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.1', 9))\n"
         "    time.sleep(1); s.close()\n")


def test_a_lasting_listener_is_reported_a_passing_client_socket_is_not(lab):
    units = {"hkdrift-listen": LISTENER, "hkdrift-churn": CHURN}
    for unit, code in units.items():
        lab.on("zeitz-ws04", f"systemd-run --quiet --unit {unit} python3 -c {shlex.quote(code)}")
    try:
        lab.on("zeitz-ws04", "for i in $(seq 50); do ss -Hlun | grep -q ':5999 ' && exit 0; sleep 0.1; done; exit 1")
        rc, doc = lab.verify("-k", "listeners")
        assert rc == 1
        assert messages(doc) == {"zeitz-ws04 common::test_only_expected_listeners":
                                 "expected only chronyd udp/323, rsyslogd udp/ephemeral, sshd tcp/22, "
                                 "systemd-network udp/68, found also python3 udp 0.0.0.0:5999"}
    finally:
        lab.on("zeitz-ws04", "systemctl stop " + " ".join(units))


# Random names (never cached), each forwarded by the router's dnsmasq to the central DNS.
FORWARDING = "for i in $(seq 2000); do dig +short +tries=1 +time=1 @127.0.0.1 hk$i-$RANDOM.example.org; done"
# The lab's central DNS answers at once (REFUSED: no recursion offline), so its answers are
# held back for the test: each forwarded query then keeps its source socket open.
HOLD = 'nft insert rule inet filter input udp sport 53 drop comment "hkdrift-hold"'
RELEASE = ("h=$(nft -a list chain inet filter input | sed -n 's/.*hkdrift-hold.*# handle //p'); "
           "[ -z \"$h\" ] || nft delete rule inet filter input handle $h")
# A dnsmasq socket on the wildcard address other than DHCP (67).
WILDCARD = "ss -Hlunp | grep dnsmasq | grep -Eo '0[.]0[.]0[.]0:[0-9]+' | grep -v ':67$' || true"


def test_a_forwarded_query_in_flight_is_not_a_dnsmasq_listener(lab):
    # CI once caught dnsmasq's source socket for a forwarded query (0.0.0.0:<random port>)
    # and the router's checks called it a listener; min-port keeps those ports >= 32768.
    lab.on("zeitz-rt01", HOLD)
    try:
        lab.on("zeitz-rt01", f"systemd-run --quiet --unit hkdrift-dig sh -c {shlex.quote(FORWARDING)}")
        seen: set[int] = set()
        for _ in range(50):
            seen |= {int(s.rpartition(":")[2]) for s in lab.on("zeitz-rt01", WILDCARD).split()}
            if seen:
                break
            time.sleep(0.1)
        assert seen and min(seen) >= 32768, seen
        rc, doc = lab.verify("-k", "dnsmasq_not_on_uplink or only_expected_listeners")
        assert messages(doc) == {} and rc == 0
        assert {c["id"] for c in doc["checks"] if c["host"] == "zeitz-rt01" and c["status"] == "passed"} == {
            "router::test_dnsmasq_not_on_uplink", "common::test_only_expected_listeners"}
        # Still open after the run: with the answers held back, forwarding sockets stay open throughout.
        assert lab.on("zeitz-rt01", WILDCARD).split()
    finally:
        lab.on("zeitz-rt01", "systemctl stop hkdrift-dig || true; " + RELEASE)


def test_drift_fails_exactly_its_checks_and_configure_repairs_it(lab):
    # 1. a rule flushed from the router's ruleset (the guest segment's anti-spoofing rule);
    handle = re.search(r'iifname "vl20" ip saddr != \S+ .*# handle (\d+)',
                       lab.on("zeitz-rt01", "nft -a list chain inet filter prerouting")).group(1)
    lab.on("zeitz-rt01", f"nft delete rule inet filter prerouting handle {handle}")
    # 2. an extra user with sudo on a workstation;
    lab.on("zeitz-ws02", "useradd -m -s /bin/bash hkdrift && usermod -aG sudo hkdrift")
    # 3. PasswordAuthentication yes in sshd (in the effective config: the hubkit drop-in).
    lab.on("zeitz-ws03", "sed -i 's/^PasswordAuthentication no/PasswordAuthentication yes/' "
                         "/etc/ssh/sshd_config.d/10-hubkit.conf")
    rc, doc = lab.verify()
    assert rc == 1
    # Exactly these: strict rp_filter still drops the spoofed packets, so the probe stays green.
    assert not_passed(doc) == {("zeitz-rt01", "router::test_ruleset_matches_rendered"),
                               ("zeitz-rt01", "router::test_running_config_matches_build"),
                               ("zeitz-ws02", "common::test_only_admin_has_sudo"),
                               ("zeitz-ws03", "common::test_sshd_no_password_auth")}
    msg = {c["id"]: c["message"] for c in doc["checks"] if c["status"] == "failed"}
    assert "hk-spoof-guest" in msg["router::test_ruleset_matches_rendered"]
    assert msg["common::test_sshd_no_password_auth"].endswith("found passwordauthentication yes")
    lab.configure("zeitz-rt01", "zeitz-ws02", "zeitz-ws03")
    rc, doc = lab.verify()
    assert messages(doc) == {} and rc == 0
    lab.on("zeitz-ws02", "userdel -r hkdrift")


def test_guest_isolation_is_red_when_the_firewall_is_opened(lab):
    lab.on("zeitz-rt01", 'nft insert rule inet filter forward iifname "vl20" accept')
    rc, doc = lab.verify("-k", "guest_cannot_reach or ruleset")
    assert rc == 1
    red = not_passed(doc)
    # mgmt: the switch and the mgmt laptop have no host firewall.  staff stays green: each
    # workstation's own host firewall (SSH and ping from mgmt only) still drops the guest;
    # devices holds no host in Zeitz, only the router's own address (input chain, still closed).
    assert red == {("hub", "probes::test_guest_cannot_reach[mgmt]"),
                   ("zeitz-rt01", "router::test_ruleset_matches_rendered")}
    mgmt = next(c for c in doc["checks"] if c["id"] == "probes::test_guest_cannot_reach[mgmt]")
    assert "reachable: tcp:10.64.2.130:22 open" in mgmt["message"]
    lab.configure("zeitz-rt01")
    rc, doc = lab.verify("-k", "guest_cannot_reach or ruleset")
    assert messages(doc) == {} and rc == 0


def test_no_ansible_interpreter_outlives_configure(lab):
    """Mitogen's interpreters end with the run, the core's too (its sshd reaps the session
    the router's NAT cut off during the first converge, about a minute after the run)."""
    from hubkit.lab import load
    names = [h["name"] for h in load(HUB).hosts if h["role"] != "mgmt"]
    left = {}
    for _ in range(45):  # up to 90 s; by this test the first converge is minutes old
        left = {h: out for h in names if (out := lab.on(h, "pgrep -a -f '[m]itogen:' || true").strip())}
        if not left:
            break
        time.sleep(2)
    assert left == {}
