"""Every HK1xx rule: a passing case and a failing case at the exact origin."""

from __future__ import annotations

import json

import pytest

from hubkit.rules import RULES
from tests.fleet.conftest import findings_of
from tests.fleet.hubtext import ZZ, at, edit

F = "hubs/zz.yaml"
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIDJ83gAf/IKjs7USsrv0eqv52Z7jQ+4d50aoijl5Bi3l"
END = "  dns_zone: zz.hubs.example.org\n"  # the hub file's last line: admins are added after it


def test_base_fleet_is_clean(fleet, write):
    write(F, ZZ)
    assert findings_of(fleet) == []


def test_rule_codes_are_unique_and_documented():
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    assert all(r.hint and r.title for r in RULES)


# (code, [(old, new), ...] applied to ZZ, line of the finding, needle on that line)
CASES = [
    ("HK101", [("10.64.100.0/22", "10.64.0.0/23"),
               ("10.64.100.0/24", "10.64.0.0/24"), ("10.64.101.0/27", "10.64.1.0/27")],
     6, "10.64.0.0/23"),
    ("HK102", [("10.64.100.0/24", "10.64.200.0/24")], 8, "10.64.200.0/24"),
    ("HK103", [("10.64.101.0/27", "10.64.100.32/27")], 9, "10.64.100.32/27"),
    ("HK104", [("vlan: 99", "vlan: 10")], 9, "10"),
    ("HK105", [("vlan: 99", "vlan: 4095")], 9, "4095"),
    ("HK106", [("zz-rt01", "zeitz-ws01")], 13, "zeitz-ws01"),
    ("HK107", [("zz-sw01", "zz_sw01")], 15, "zz_sw01"),
    ("HK108", [("  - {username: zz-lead, full_name: Hub Lead, role: lead}\n",
                "  - {username: zz-lead, full_name: Hub Lead, role: lead}\n"
                "  - {username: zz-lead, full_name: Other, role: staff}\n")], 20, "zz-lead"),
    ("HK109", [("zz-lead, full", "Lead!, full"), ("assigned_to: zz-lead", "assigned_to: Lead!")],
     19, "Lead!"),
    ("HK110", [("workplaces: 2", "workplaces: 1"),
               ("  - {hostname: zz-ws01, segment: staff, assigned_to: zz-lead}\n",
                "  - {hostname: zz-ws01, segment: staff, assigned_to: zz-lead}\n"
                "  - {hostname: zz-ws02, segment: staff}\n")], 18, "zz-ws02"),
    ("HK111", [("segment: staff", "segment: lab")], 17, "lab"),
    ("HK112", [("10.255.0.100/24", "10.255.0.2/24")], 11, "10.255.0.2/24"),
    ("HK113", [("zz.hubs.example.org", "zeitz.hubs.sachsen-anhalt.example.org")], 21, "zeitz"),
    ("HK114", [("id: zz", "id: zzz")], 1, "zzz"),
    ("HK115", [("assigned_to: zz-lead", "assigned_to: nobody")], 17, "nobody"),
    ("HK116", [("assigned_to: zz-lead}", "assigned_to: zz-lead, port: 24}")], 17, "24"),
    ("HK117", [("    mgmt: {vlan: 99, prefix: 10.64.101.0/27, dhcp: false}\n", "")], 8, "staff"),
    ("HK118", [("router:\n", "uplink: {mode: static}\nrouter:\n")], 12, "static"),
    ("HK121", [(END, END + "admins:\n  - username: zz-lead\n    ssh_keys: [ssh-ed25519 " + KEY + "]\n")],
     23, "zz-lead"),
    ("HK122", [(END, END + "admins:\n  - username: op-zz\n    ssh_keys:\n      - ssh-ed25519 notbase64\n")],
     25, "ssh-ed25519"),
    ("HK123", [(END, END + "admins:\n  - username: op-zz\n    ssh_keys: [ssh-ed25519 " + KEY + "]\n"
                "    hubs: [zz, nowhere]\n")], 25, "nowhere"),
    ("HK124", [(END, END + "admins:\n  - {username: op-lange, _remove: true}\n"
                "  - {username: op-weber, _remove: true}\n")], 1, "zz"),
    ("HK125", [(END, END + "access: {user: nobody}\n")], 22, "nobody"),
    ("HK126", [("  hostname: zz-rt01\n", "  hostname: zz-rt01\n  interfaces: {uplink: eth0/1}\n")],
     14, "eth0/1"),
    ("HK127", [("  hostname: zz-rt01\n",
                "  hostname: zz-rt01\n  interfaces: {segments: {staff: vl99}}\n")], 14, "vl99"),
    ("HK128", [("  hostname: zz-rt01\n",
                "  hostname: zz-rt01\n  interfaces: {segments: {lab: eth9}}\n")], 14, "lab"),
]


@pytest.mark.parametrize("code,edits,line,needle", CASES, ids=[c[0] for c in CASES])
def test_rule_fails_at_origin(fleet, write, code, edits, line, needle):
    text = ZZ
    for old, new in edits:
        text = edit(text, old, new)
    write(F, text)
    found = findings_of(fleet)
    assert [(f.code, str(f.origin)) for f in found] == [(code, at(text, F, line, needle))]
    f = found[0]
    assert f.hub == "zz" and f.hint
    assert f.format().startswith(f"{at(text, F, line, needle)}: error {code}: ")


def test_every_rule_has_a_failing_case():
    assert {r.code for r in RULES} == {c[0] for c in CASES}


def test_hk112_concentrator_address(fleet, write):
    text = edit(ZZ, "10.255.0.100/24", "10.255.0.1/24")
    write(F, text)
    assert [(f.code, str(f.origin)) for f in findings_of(fleet)] == \
        [("HK112", at(text, F, 11, "10.255.0.1/24"))]


ECDSA = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERE="


def test_hk122_refuses_a_well_formed_ecdsa_key(fleet, write):
    """sshd on hub hosts accepts ed25519 user keys only: an ECDSA admin key would lock its admin out."""
    text = edit(ZZ, END, END + "admins:\n  - username: op-zz\n    ssh_keys:\n      - ecdsa-sha2-nistp256 "
                + ECDSA + " op@laptop\n")
    write(F, text)
    found = findings_of(fleet)
    assert [(f.code, str(f.origin)) for f in found] == [("HK122", at(text, F, 25, "ecdsa-sha2-nistp256"))]
    assert "ed25519 keys only" in found[0].message


def test_hk118_gateway_outside_uplink_network(fleet, write):
    text = edit(ZZ, "router:\n", "uplink:\n  mode: static\n  address: 192.0.2.10/24\n"
                "  gateway: 198.51.100.1\nrouter:\n")
    write(F, text)
    assert [(f.code, str(f.origin)) for f in findings_of(fleet)] == \
        [("HK118", at(text, F, 15, "198.51.100.1"))]


def test_merged_value_points_at_the_layer_that_set_it(fleet, write):
    """A bad value inherited from a region is reported in the region file."""
    text = edit(ZZ, "workplaces: 2\n", "workplaces: 2\nregion: sachsen-anhalt\n")
    write(F, text)
    region = (fleet / "regions/sachsen-anhalt.yaml").read_text() + "switch:\n  uplink_port: 99\n"
    write("regions/sachsen-anhalt.yaml", region)
    found = findings_of(fleet, "zz")
    n = len(region.splitlines())
    assert ("HK116", at(region, "regions/sachsen-anhalt.yaml", n, "99")) in \
        [(f.code, str(f.origin)) for f in found]


def test_selected_ids_limit_reports_but_rules_see_whole_fleet(fleet, write):
    write(F, edit(ZZ, "10.255.0.100/24", "10.255.0.2/24"))
    assert [f.code for f in findings_of(fleet, "zz")] == ["HK112"]
    assert findings_of(fleet, "naumburg") == []


@pytest.mark.parametrize("old,new", [("10.255.0.100/24", "10.255.0.2/24"),
                                     ("zz-rt01", "zeitz-rt01"),
                                     ("zz.hubs.example.org", "zeitz.hubs.sachsen-anhalt.example.org")])
def test_conflict_is_reported_when_validating_either_hub(fleet, write, old, new):
    write(F, edit(ZZ, old, new))
    (both,) = findings_of(fleet)
    assert both.hub == "zz" and both.related == "zeitz"
    assert findings_of(fleet, "zeitz") == [both]
    assert findings_of(fleet, "naumburg") == []


# Near misses that every rule must accept (the passing side at the boundary).
PASSING = [
    ("HK101", [("10.64.100.0/22", "10.64.12.0/22"), ("10.64.100.0/24", "10.64.12.0/24"),
               ("10.64.101.0/27", "10.64.13.0/27")]),           # adjacent to naumburg/wittenberg
    ("HK102", [("10.64.101.0/27", "10.64.103.224/27")]),         # last block of the site
    ("HK104", [("vlan: 99", "vlan: 11")]),
    ("HK105", [("vlan: 99", "vlan: 4094"), ("vlan: 10", "vlan: 1")]),
    ("HK107", [("zz-sw01", "zz-sw01.hub.example.org")]),
    ("HK109", [("zz-lead, full", "_svc-1, full"), ("assigned_to: zz-lead", "assigned_to: _svc-1")]),
    ("HK110", [("workplaces: 2", "workplaces: 1")]),              # exactly full
    ("HK116", [("assigned_to: zz-lead}", "assigned_to: zz-lead, port: 23}")]),
    ("HK118", [("router:\n", "uplink: {mode: static, address: 192.0.2.10/24, gateway: 192.0.2.1}\n"
                "router:\n")]),
    # 15 characters of every allowed kind; a trunk; names equal to another segment's VLAN id only.
    ("HK126", [("  hostname: zz-rt01\n", "  hostname: zz-rt01\n  interfaces: {uplink: Ab_9.c-defghijk,"
                " trunk: ..., segments: {staff: vl98, mgmt: vl10}}\n")]),
]


@pytest.mark.parametrize("code,edits", PASSING, ids=[c[0] for c in PASSING])
def test_rule_accepts_boundary_case(fleet, write, code, edits):
    text = ZZ
    for old, new in edits:
        text = edit(text, old, new)
    write(F, text)
    assert findings_of(fleet) == []


def _with_interfaces(flow: str) -> str:
    return edit(ZZ, "  hostname: zz-rt01\n", f"  hostname: zz-rt01\n  interfaces: {flow}\n")


@pytest.mark.parametrize("name", [".", "..", "a" * 16, "eth 0", "eth:0", "", "ethé"])
def test_hk126_refuses_names_the_kernel_or_the_configs_cannot_take(fleet, write, name):
    text = _with_interfaces("{uplink: %s}" % json.dumps(name))
    write(F, text)
    found = findings_of(fleet)
    assert [f.code for f in found] == ["HK126"], found
    assert found[0].origin.line == 14 and repr(name) in found[0].message


@pytest.mark.parametrize("flow,message", [
    ("{uplink: wg0}", "interface 'wg0' of the uplink is the WireGuard tunnel"),
    ("{segments: {staff: lo}}", "interface 'lo' of segment 'staff' is the loopback interface"),
    ("{uplink: eth1, trunk: eth1}", "interface 'eth1' of the trunk port is already used by the uplink"),
    ("{trunk: eth1, segments: {staff: eth1}}",
     "interface 'eth1' of segment 'staff' is already used by the trunk port"),
    ("{segments: {staff: eth1, mgmt: eth1}}",
     "interface 'eth1' of segment 'mgmt' is already used by segment 'staff'"),
    ("{uplink: vl10, segments: {mgmt: eth1}}",
     "interface 'vl10' of the uplink is already used by segment 'staff' (default vl<vlan>)"),
])
def test_hk127_names_each_clash(fleet, write, flow, message):
    write(F, _with_interfaces(flow))
    found = findings_of(fleet)
    assert [(f.code, f.message) for f in found] == [("HK127", message)]
    assert found[0].origin.file == F and found[0].origin.line == 14


def test_interface_names_merge_from_the_fleet_defaults(fleet, write):
    """A fleet-wide uplink name reaches every hub; a clash is reported where it was written."""
    fleet_yaml = (fleet / "fleet.yaml").read_text()
    write("fleet.yaml", fleet_yaml.replace("defaults:\n", "defaults:\n  router:\n    interfaces:\n"
                                           "      uplink: vl10\n", 1))
    write(F, ZZ)
    line = (fleet / "fleet.yaml").read_text().splitlines().index("      uplink: vl10") + 1
    found = [f for f in findings_of(fleet) if f.hub == "zz"]
    assert [(f.code, str(f.origin)) for f in found] == [("HK127", f"fleet.yaml:{line}:15")]
