"""Every live check can fail: each one is given what a broken host would show and must turn red.

The table names every live check the suites define (hubkit.audit.live.registry):
a new check without a red case fails ``test_every_live_check_has_a_red_case``.
Most cases call the check with the facts a broken host would return (no lab
needed); the rest name the lab drift test that breaks the real host.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubkit.audit import live
from hubkit.paths import EXAMPLE_FLEET, PLAYBOOKS
from hubkit.verify.plugin import Out

ROOT = Path(__file__).resolve().parents[2]


def _load(rel: str):
    spec = importlib.util.spec_from_file_location("hk_red_" + rel.replace("/", "_")[:-3], PLAYBOOKS / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


COMMON = _load("roles/common/verify/test_common.py")
ROUTER = _load("roles/router/verify/test_router.py")
SWITCH = _load("roles/switch/verify/test_switch.py")
WORKSTATION = _load("roles/workstation/verify/test_workstation.py")
CORE = _load("roles/core/verify/test_core.py")
PROBES = _load("probes/test_probes.py")
IDENTITY = _load("probes/test_identity.py")
LOGS = _load("probes/test_logs.py")


@dataclass
class Hk:
    """The slice of hubkit.verify.plugin.VerifyContext the checks read."""

    hub: object
    topo: object
    build_dir: Path = Path("/nonexistent")
    lab: dict | None = None
    lab_public_key: str | None = None
    hosts: dict | None = None
    hub_id: str = "zeitz"

    def rendered_files(self, host):
        return ["/etc/sysctl.d/90-hubkit-router.conf"]

    def rendered(self, host, path):
        return "net.ipv4.conf.all.rp_filter = 1\n"

    def host(self, name):
        return self.hosts[name]


class FakeHost:
    def __init__(self, out: str = "", rc: int = 0):
        self.out, self.rc = out, rc

    def run(self, *a):
        return Out(self.rc, self.out, "")

    def check_output(self, *a):
        return self.out


def out(stdout: str = "", rc: int = 0, stderr: str = "") -> Out:
    return Out(rc, stdout, stderr)


@pytest.fixture(scope="module")
def z(tmp_path_factory):
    from hubkit import topology
    from hubkit.fleet.repo import load_fleet
    hub = load_fleet(EXAMPLE_FLEET).hub("zeitz").model
    topo = topology.build(hub)
    plans = {h.name: h for h in topo.hosts()}
    build = tmp_path_factory.mktemp("build")
    (build / "switch").mkdir()
    (build / "switch" / "linux-bridge.json").write_text(json.dumps({"bridges": [
        {"name": "br-staff", "segment": "staff", "access_ports": [{"host": "zeitz-ws01", "port": "p01"}]}]}))
    return hub, topo, plans, Hk(hub, topo), build


def _reach(source, group, result):
    return {(source, "control"): {"udp53:x": "open"}, (source, group): {"tcp:10.64.2.129:22": result}}


class Realm:
    """A realm admin API answering as a misconfigured realm would."""

    def user(self, realm, name):
        return None

    def group_members(self, realm, gid):
        return ["mallory"]

    def realm(self, realm):
        return {"bruteForceProtected": False, "failureFactor": 30}

    def role_composites(self, realm, role):
        return []


def lab(test: str):
    """A red case that is a lab drift test (run with the lab tests in CI)."""
    return ("lab", test)


RED = {
    "common::test_hostname": lambda z: COMMON.test_hostname(
        {"hostname": out("localhost\n"), "etc_hostname": out("zeitz-rt01\n")}, z[2]["zeitz-rt01"]),
    "common::test_sshd_no_password_auth": lambda z: COMMON.test_sshd_no_password_auth({"passwordauthentication": ["yes"]}),
    "common::test_sshd_no_root_login": lambda z: COMMON.test_sshd_no_root_login({"permitrootlogin": ["prohibit-password"]}),
    "common::test_sshd_mgmt_only": lambda z: COMMON.test_sshd_mgmt_only(
        {"allowusers": ["op-lange@0.0.0.0/0"]}, {"addrs": out("[]")}, z[2]["zeitz-ws01"], z[1], z[0]),
    "common::test_admin_accounts": lambda z: COMMON.test_admin_accounts(
        {"admins": out("absent:op-lange\nabsent:op-weber\ngroup:\n")}, z[0], z[3]),
    "common::test_no_unlisted_admin": lambda z: COMMON.test_no_unlisted_admin(
        {"admins": out("group:op-lange,mallory\n")}, z[0]),
    "common::test_only_admin_has_sudo": lambda z: COMMON.test_only_admin_has_sudo(
        {"sudo_scan": out("sudo:zz-lead\ngroup:\ngroup:\n")}, z[0]),
    "common::test_chrony_synced": lambda z: COMMON.test_chrony_synced(
        FakeHost(), {"chrony_active": out("inactive\n")}, z[2]["zeitz-rt01"], z[1], z[0], z[3]),
    "common::test_unattended_upgrades_enabled": lambda z: COMMON.test_unattended_upgrades_enabled(
        {"uu_pkg": out("deinstall ok config-files")}, z[0]),
    "common::test_apt_timers_enabled": lambda z: COMMON.test_apt_timers_enabled(
        {"apt_timer": out("disabled\n")}, z[0], z[3]),
    "common::test_log_forwarding": lambda z: COMMON.test_log_forwarding(
        {"rsyslog_active": out("active\n"), "rsyslog_conf": out("*.* /var/log/syslog\n"),
         "rsyslog_check": out()}, z[0]),
    "common::test_only_expected_listeners": lab("tests/verify/test_verify_lab.py::"
                                                "test_a_lasting_listener_is_reported_a_passing_client_socket_is_not"),
    "router::test_ip_forwarding": lambda z: ROUTER.test_ip_forwarding({"ip_forward": out("0\n")}),
    "router::test_kernel_settings_as_rendered": lambda z: ROUTER.test_kernel_settings_as_rendered(
        {"sysctl": out("net.ipv4.conf.all.rp_filter = 0\n")}, z[3], z[2]["zeitz-rt01"]),
    "router::test_ruleset_matches_rendered": lab("tests/verify/test_verify_lab.py::"
                                                 "test_drift_fails_exactly_its_checks_and_configure_repairs_it"),
    "router::test_default_deny": lambda z: ROUTER.test_default_deny(
        (None, None, {"nftables": [{"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input",
                                              "policy": "accept"}}]})),
    "router::test_stateful_rules": lambda z: ROUTER.test_stateful_rules(
        (None, None, {"nftables": [{"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input"}}]})),
    "router::test_dnsmasq_running": lambda z: ROUTER.test_dnsmasq_running({"dnsmasq_active": out("failed\n")}),
    "router::test_dnsmasq_serves_segment": lambda z: ROUTER.test_dnsmasq_serves_segment(
        {"dig_staff": out("")}, z[1], z[0], "staff"),
    "router::test_dnsmasq_not_on_uplink": lambda z: ROUTER.test_dnsmasq_not_on_uplink(
        {"ss": out('udp UNCONN 0 0 203.0.113.10:53 0.0.0.0:* users:(("dnsmasq",pid=1,fd=4))\n')}, z[1]),
    "router::test_wireguard_handshake_recent": lambda z: ROUTER.test_wireguard_handshake_recent(
        {"wg_hs": out("", 1, "Unable to access interface: No such device")}, z[3], z[0], z[1]),
    "router::test_no_dynamic_routing": lambda z: ROUTER.test_no_dynamic_routing(
        {"procs": out("systemd\nbird\n"), "ss": out(""), "routes": out("[]")}),
    "router::test_running_config_matches_build": lab("tests/pipeline/test_open_lab.py::"
                                                     "test_a_hand_edited_dnsmasq_config_fails_row_17_until_configure"),
    "switch::test_bridge_per_segment": lambda z: SWITCH.test_bridge_per_segment({}, z[1]),
    "switch::test_ports_on_model_bridge": lambda z: SWITCH.test_ports_on_model_bridge(
        {"p01": {"ifname": "p01", "master": "br-guest"}}, Hk(z[0], z[1], build_dir=z[4])),
    "switch::test_no_port_in_two_segments": lambda z: SWITCH.test_no_port_in_two_segments(
        {"br-staff": {"ifname": "br-staff", "master": "br-guest"}}, Hk(z[0], z[1], build_dir=z[4]), z[1]),
    "switch::test_ports_as_the_deployed_config_says": lambda z: SWITCH.test_ports_as_the_deployed_config_says(
        {}, Hk(z[0], z[1], build_dir=z[4]), z[0], z[1]),
    "workstation::test_assigned_account": lambda z: WORKSTATION.test_assigned_account(
        {"passwd": out("zz-lead:x:1000\nzz-staff01:x:1001\n")}, z[2]["zeitz-ws01"], z[0]),
    "workstation::test_no_login_for_anyone_not_assigned_here": lambda z: WORKSTATION.test_no_login_for_anyone_not_assigned_here(
        {"staff_group": out("zz-lead,zz-staff03\n"), "shadow": out("zz-lead:$6$x\n"), "leaver_archives": out("")},
        z[2]["zeitz-ws01"]),
    "workstation::test_no_automount": lambda z: WORKSTATION.test_no_automount(
        {"udev": out(""), "dconf": out(""), "autofs": out("inactive")}),
    "workstation::test_dhcp_lease_on_segment": lambda z: WORKSTATION.test_dhcp_lease_on_segment(
        {"networkctl": out("", 1, "Interface eth0 not found")}, z[2]["zeitz-ws01"], z[1]),
    "workstation::test_update_policy": lambda z: WORKSTATION.test_update_policy(
        {"origins": out(""), "periodic": out("")}, z[0]),
    "core::test_peer_files_are_fleet_hubs": lab("tests/pipeline/test_open_lab.py::"
                                                "test_stale_peer_on_the_concentrator_fails_the_core_suite_until_configure"),
    "core::test_live_peers_are_fleet_hubs": lab("tests/pipeline/test_open_lab.py::"
                                                "test_stale_peer_on_the_concentrator_fails_the_core_suite_until_configure"),
    "core::test_routes_into_tunnel": lab("tests/pipeline/test_open_lab.py::"
                                         "test_stale_peer_on_the_concentrator_fails_the_core_suite_until_configure"),
    "core::test_hub_peer_present": lambda z: CORE.test_hub_peer_present(
        z[3], {}, {}, __import__("hubkit.concentrator", fromlist=["x"]).fleet_peers(
            __import__("hubkit.fleet.repo", fromlist=["x"]).load_fleet(EXAMPLE_FLEET), "dc-core")),
    "core::test_central_service_listens_only_on_its_addresses": lambda z: CORE.test_central_service_listens_only_on_its_addresses(
        "dns", z[3], z[0], {"ss": out("udp UNCONN 0 0 0.0.0.0:53 0.0.0.0:*\n")}),
    "probes::test_fresh_guest_reaches_only_its_gateway": lab(
        "tests/verify/test_hardening_lab.py::test_guest_scan_is_red_when_the_router_or_a_guest_host_opens_up"),
    "probes::test_ssh_negotiates_only_the_policy": lab(
        "tests/verify/test_hardening_lab.py::test_ssh_policy_drift_is_red_and_configure_repairs_it"),
    "workstation::test_host_firewall_as_rendered": lab(
        "tests/verify/test_hardening_lab.py::test_guest_scan_is_red_when_the_router_or_a_guest_host_opens_up"),
    "probes::test_guest_cannot_reach": lab("tests/verify/test_verify_lab.py::"
                                              "test_guest_isolation_is_red_when_the_firewall_is_opened"),
    "probes::test_guest_cannot_reach_router_ssh": lambda z: PROBES.test_guest_cannot_reach_router_ssh(
        _reach("zeitz-gw01", "router-ssh", "open"), z[1]),
    "probes::test_staff_cannot_reach_mgmt": lambda z: PROBES.test_staff_cannot_reach_mgmt(
        _reach("zeitz-ws01", "mgmt", "refused"), z[1]),
    "probes::test_staff_reaches_core_through_tunnel": lambda z: PROBES.test_staff_reaches_core_through_tunnel(
        Hk(z[0], z[1], hosts={"zeitz-rt01": FakeHost("10.0.0.53 via 203.0.113.1 dev wan0")}), z[0], z[1]),
    "probes::test_dhcp_fresh_client": lambda z: PROBES.test_dhcp_fresh_client(
        {"staff": {"ok": False, "stage": "offer"}}, z[1], "staff"),
    "probes::test_dns_resolves_hub_hosts": lambda z: PROBES.test_dns_resolves_hub_hosts(
        Hk(z[0], z[1], hosts={"zeitz-ws01": FakeHost(""), "zeitz-gw01": FakeHost("")}), z[0], z[1]),
    "probes::test_guest_spoofed_source_dropped": lambda z: PROBES.test_guest_spoofed_source_dropped(
        {"own": "10.64.1.11", "dst": "10.0.0.1:47000", "nonce": "n", "forged": {"outside": "192.0.2.66"},
         "texts": ["genuine-n", "forged-outside-n"]}),
    "identity::test_every_staff_member_has_an_account": lambda z: IDENTITY.test_every_staff_member_has_an_account(
        z[3], Realm(), "digitalhubs"),
    "identity::test_hub_group_holds_exactly_the_staff": lambda z: IDENTITY.test_hub_group_holds_exactly_the_staff(
        z[3], Realm(), "digitalhubs", {"id": "g", "name": "hub-zeitz"}),
    "identity::test_brute_force_lockout_is_on": lambda z: IDENTITY.test_brute_force_lockout_is_on(Realm(), "digitalhubs"),
    "identity::test_admin_role_requires_a_second_factor": lambda z: IDENTITY.test_admin_role_requires_a_second_factor(
        z[3], Realm(), "digitalhubs"),
    "logs::test_logs_reach_central_sink": lambda z: LOGS.test_logs_reach_central_sink(
        {"zeitz-ws01": ("hubkit-probe-x-zeitz-ws01", False)}, z[1], "zeitz-ws01"),
    "verify::plan_vs_actual": lambda z: _plan_vs_actual_red(),
}


def _plan_vs_actual_red():
    [item] = [e for e in live.evidence({"checks": [{"id": "router::test_x", "host": "zeitz-rt01", "status": "failed",
                                                    "bsi": ["NET.3.2.A2"]}]}) if e.check == live.PLAN_VS_ACTUAL.id]
    if not item.ok:
        pytest.fail("the whole-run comparison is red", pytrace=False)


def test_every_live_check_has_a_red_case():
    assert sorted(RED) == sorted(c.id for c in live.registry()), "give every live check a red case (and only them)"


@pytest.mark.parametrize("check_id", sorted(k for k, v in RED.items() if not isinstance(v, tuple)))
def test_live_check_turns_red(check_id, z):
    with pytest.raises(pytest.fail.Exception):
        RED[check_id](z)


@pytest.mark.parametrize("check_id", sorted(k for k, v in RED.items() if isinstance(v, tuple)))
def test_lab_drift_case_exists(check_id):
    path, _, name = RED[check_id][1].partition("::")
    text = (ROOT / path).read_text()
    assert f"def {name}(" in text, f"{RED[check_id][1]} is not a test"
    assert check_id.split("::")[1] in text, f"{path} never names {check_id}"


@pytest.mark.parametrize("facts", [
    # a managed account with an empty password field
    {"staff_group": out("zz-lead\n"), "shadow": out("zz-lead:\n"), "leaver_archives": out("")},
    # a leaver's archive others can read
    {"staff_group": out("zz-lead\n"), "shadow": out("zz-lead:$6$x\n"),
     "leaver_archives": out("/var/lib/hubkit/leavers/zz-x.tar.gz 644 root\n")},
])
def test_the_absence_check_is_red_for_each_thing_it_checks(facts, z):
    with pytest.raises(pytest.fail.Exception):
        WORKSTATION.test_no_login_for_anyone_not_assigned_here(facts, z[2]["zeitz-ws01"])
    ok = dict(facts, staff_group=out("zz-lead\n"), shadow=out("zz-lead:$6$x\n"), leaver_archives=out(
        "/var/lib/hubkit/leavers/zz-x.tar.gz 600 root\n"))
    WORKSTATION.test_no_login_for_anyone_not_assigned_here(ok, z[2]["zeitz-ws01"])


def _dnsmasq_ss(local: str, proto: str = "udp") -> dict:
    return {"ss": out(f'{proto} UNCONN 0 0 {local} 0.0.0.0:* users:(("dnsmasq",pid=1,fd=9))\n')}


@pytest.mark.parametrize("local", ["0.0.0.0:53", "0.0.0.0:1024", "0.0.0.0:32767", "10.255.0.2:40000", "[::]:53"])
def test_dnsmasq_on_the_wildcard_below_the_forwarding_range_is_red(local, z):
    with pytest.raises(pytest.fail.Exception):
        ROUTER.test_dnsmasq_not_on_uplink(_dnsmasq_ss(local), z[1])


def test_a_forwarded_querys_source_socket_is_not_a_listener(z):
    # While a query to the central DNS is in flight, dnsmasq holds its source socket on
    # the wildcard address (port >= min-port); the check caught one in CI once.
    ROUTER.test_dnsmasq_not_on_uplink(_dnsmasq_ss("0.0.0.0:40125"), z[1])
    ROUTER.test_dnsmasq_not_on_uplink(_dnsmasq_ss("0.0.0.0:67"), z[1])
    with pytest.raises(pytest.fail.Exception):
        ROUTER.test_dnsmasq_not_on_uplink(_dnsmasq_ss("0.0.0.0:40125", "tcp"), z[1])


def test_the_rendered_min_port_is_the_bound_the_checks_accept():
    from hubkit.verify.plugin import EPHEMERAL_PORT_MIN
    conf = (ROOT / "tests/render/golden/zeitz/hosts/zeitz-rt01/etc/dnsmasq.d/hubkit.conf").read_text()
    assert f"\nmin-port={EPHEMERAL_PORT_MIN}\n" in conf
