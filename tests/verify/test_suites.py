"""The real role suites and probes collect against the example hub, and every check is tagged
with a requirement from the issue's BSI mapping table (no lab: collection only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hubkit import verify
from hubkit.paths import PLAYBOOKS

# The requirement ids of the team's list (shared/BSI-CHECKS.md), as the audit's catalog spells them.
TABLE = {t for row in __import__("hubkit.audit.catalog", fromlist=["ROWS"]).ROWS for t in row.requirements}

COLLECT = r"""
import json, sys
import pytest
items = []
class P:
    def pytest_collection_finish(self, session):
        from hubkit.verify.plugin import bsi_of
        items.extend([i.nodeid, list(bsi_of(i))] for i in session.items)
rc = pytest.main(sys.argv[1:] + ["--collect-only", "-q", "-p", "testinfra.plugin", "-p", "hubkit.verify.plugin",
                                  "-p", "no:cacheprovider"], plugins=[P()])
print("JSON" + json.dumps(items))
sys.exit(rc)
"""


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    from hubkit.scaffold import init_fleet
    tmp = tmp_path_factory.mktemp("collect")
    fleet = tmp / "fleet"
    init_fleet(fleet)
    ctx = tmp / "context.json"
    ctx.write_text(json.dumps({"hub_id": "zeitz", "fleet_root": str(fleet), "build_dir": str(fleet / "build" / "zeitz"),
                               "ssh": {"backend": "ssh"}, "lab": None}))
    out = {}
    for group, files, hosts in [("router", verify.role_suites()["router"], "ssh://zeitz-rt01"),
                                ("switch", verify.role_suites()["switch"], "ssh://zeitz-sw01"),
                                ("workstation", verify.role_suites()["workstation"], "ssh://zeitz-ws01"),
                                ("core", verify.role_suites()["core"], "ssh://dc-core"),
                                ("probes", [verify.PROBES], None)]:
        args = [sys.executable, "-c", COLLECT, f"--rootdir={PLAYBOOKS}", "--import-mode=importlib",
                f"--hubkit-context={ctx}", *(["--hosts", hosts] if hosts else []), *map(str, files)]
        r = subprocess.run(args, capture_output=True, text=True,
                           env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        assert r.returncode == 0, r.stdout + r.stderr
        out[group] = json.loads(r.stdout.rsplit("JSON", 1)[1])
    return out


def test_every_check_is_tagged_from_the_table(collected):
    for group, items in collected.items():
        assert items, group
        for nodeid, tags in items:
            assert tags, f"{nodeid} has no bsi tag"
            assert set(tags) <= TABLE, f"{nodeid}: {set(tags) - TABLE} not in the mapping table"


def test_each_role_has_its_checks(collected):
    names = {g: {n.split("::")[-1].split("[")[0] for n, _ in items} for g, items in collected.items()}
    common = {"test_hostname", "test_sshd_no_password_auth", "test_sshd_no_root_login", "test_sshd_mgmt_only",
              "test_admin_accounts", "test_no_unlisted_admin", "test_only_admin_has_sudo", "test_chrony_synced",
              "test_unattended_upgrades_enabled", "test_apt_timers_enabled", "test_log_forwarding",
              "test_only_expected_listeners"}
    assert common <= names["router"] and common <= names["switch"] and common <= names["workstation"]
    assert {"test_ip_forwarding", "test_ruleset_matches_rendered", "test_default_deny",
            "test_dnsmasq_serves_segment", "test_wireguard_handshake_recent", "test_no_dynamic_routing",
            "test_running_config_matches_build"} <= names["router"]
    assert {"test_bridge_per_segment", "test_ports_on_model_bridge", "test_no_port_in_two_segments"} <= names["switch"]
    assert {"test_assigned_account", "test_no_login_for_anyone_not_assigned_here", "test_no_automount",
            "test_dhcp_lease_on_segment", "test_update_policy", "test_host_firewall_as_rendered"} <= names["workstation"]
    assert {"test_guest_cannot_reach", "test_guest_cannot_reach_router_ssh", "test_staff_cannot_reach_mgmt",
            "test_staff_reaches_core_through_tunnel", "test_dhcp_fresh_client", "test_dns_resolves_hub_hosts",
            "test_guest_spoofed_source_dropped", "test_logs_reach_central_sink",
            "test_fresh_guest_reaches_only_its_gateway", "test_ssh_negotiates_only_the_policy"} <= names["probes"]
    assert {"test_every_staff_member_has_an_account", "test_hub_group_holds_exactly_the_staff",
            "test_brute_force_lockout_is_on", "test_admin_role_requires_a_second_factor"} <= names["probes"]
    assert {"test_peer_files_are_fleet_hubs", "test_live_peers_are_fleet_hubs", "test_hub_peer_present",
            "test_routes_into_tunnel", "test_central_service_listens_only_on_its_addresses"} == names["core"]
    # Parametrized from the model: one DNS/DHCP check per segment, one guest probe per internal segment.
    router = [n for n, _ in collected["router"]]
    assert sum("test_dnsmasq_serves_segment[" in n for n in router) == 4
    probes = [n for n, _ in collected["probes"]]
    assert sum("test_guest_cannot_reach[" in n for n in probes) == 4  # staff, devices, mgmt, core
    assert sum("test_dhcp_fresh_client[" in n for n in probes) == 3   # staff, guest, devices
    assert sum("test_logs_reach_central_sink[" in n for n in probes) == 7  # router, switch, 5 workstations
    assert sum("test_ssh_negotiates_only_the_policy[" in n for n in probes) == 7  # router, switch, 5 workstations


def test_router_ruleset_normalisation():
    from hubkit import nftcompare as mod
    a = {"nftables": [{"metainfo": {"version": "1.0.6"}},
                      {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 7,
                                "expr": [{"counter": {"packets": 10, "bytes": 900}}, {"accept": None}]}}]}
    b = {"nftables": [{"metainfo": {"version": "1.0.9"}},
                      {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3,
                                "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"accept": None}]}}]}
    assert mod.normalise(a) == mod.normalise(b)
    b["nftables"][1]["rule"]["expr"][1] = {"drop": None}
    assert mod.normalise(a) != mod.normalise(b)
