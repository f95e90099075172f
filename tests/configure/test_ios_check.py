"""hubkit.ios_check: the static checks of the rendered IOS config, each made to fail once."""

from __future__ import annotations

import pytest

from hubkit import ios_check, topology
from hubkit.errors import HubkitError
from hubkit.fleet.repo import load_fleet
from hubkit.render import hub_context, render_files


@pytest.fixture(scope="module")
def naumburg(tmp_path_factory):
    from hubkit.scaffold import init_fleet
    root = tmp_path_factory.mktemp("ios") / "fleet"
    init_fleet(root)
    hub = load_fleet(root).hub("naumburg").model
    text = render_files(hub_context(hub, None))[ios_check.CONFIG].decode()
    return hub, topology.build(hub), text


def results(naumburg, text=None) -> dict[str, ios_check.Result]:
    hub, topo, rendered = naumburg
    return {r.id: r for r in ios_check.check(rendered if text is None else text, hub, topo)}


def replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return next(n for n, ln in enumerate(text.splitlines(), 1) if ln.strip() == needle)


def test_rendered_config_passes_every_check(naumburg):
    got = results(naumburg)
    assert list(got) == list(ios_check.CHECK_IDS)
    assert [r.id for r in got.values() if not r.ok] == []
    assert got["trunk"].detail == "allows 10,30,99"


# (check id, edit of the rendered naumburg config, text in the detail, line of the finding or None)
VIOLATIONS = [
    ("vlans", ("vlan 30\n name devices\n", ""), "VLAN 30 (devices) is not defined", None),
    ("vlans", (" name devices\n", " name printers\n"), "VLAN 30 is not named 'devices'", "vlan 30"),
    ("access_ports", ("description naumburg-ws02 (staff)\n switchport mode access\n switchport access vlan 10",
                      "description naumburg-ws02 (staff)\n switchport mode access\n switchport access vlan 30"),
     "port 2 of naumburg-ws02 must be an access port in VLAN 10", "interface GigabitEthernet1/0/2"),
    ("trunk", ("switchport trunk allowed vlan 10,30,99", "switchport trunk allowed vlan 10,30-31,99"),
     "extra [31]", "switchport trunk allowed vlan 10,30-31,99"),
    ("trunk", ("switchport trunk allowed vlan 10,30,99", "switchport trunk allowed vlan 10,99"),
     "missing [30]", "switchport trunk allowed vlan 10,99"),
    ("trunk", ("switchport trunk allowed vlan 10,30,99\n", ""), "IOS then allows every VLAN", None),
    ("trunk", ("switchport trunk allowed vlan 10,30,99", "switchport trunk allowed vlan all"),
     "cannot read", "switchport trunk allowed vlan all"),
    ("mgmt", ("ip default-gateway 10.64.6.129", "ip default-gateway 10.64.6.1"),
     "no 'ip default-gateway 10.64.6.129'", None),
    ("mgmt", (" ip address 10.64.6.130 255.255.255.224", " ip address 10.64.6.131 255.255.255.224"),
     "interface Vlan99 lacks 'ip address 10.64.6.130 255.255.255.224'", "interface Vlan99"),
    ("unused_ports", ("interface GigabitEthernet1/0/7\n description unused\n switchport mode access\n shutdown",
                      "interface GigabitEthernet1/0/7\n description unused\n switchport mode access\n no shutdown"),
     "interface GigabitEthernet1/0/7 is not shut down", "interface GigabitEthernet1/0/7"),
    ("ssh_v2", ("ip ssh version 2", "ip ssh version 1"), "ip ssh version 1", "ip ssh version 1"),
    ("ssh_v2", ("ip ssh version 2\n", ""), "no 'ip ssh version 2'", None),
    ("no_telnet", ("transport input ssh", "transport input telnet ssh"), "transport input telnet ssh",
     "line vty 0 15"),
    ("no_telnet", (" transport input ssh\n", ""), "defaults allow telnet", "line vty 0 15"),
    ("no_http", ("no ip http server", "ip http server"), "ip http server (line", "ip http server"),
    ("no_http", ("no ip http secure-server\n", ""), "missing 'no ip http secure-server'", None),
]


@pytest.mark.parametrize("check_id,edit,detail,at", VIOLATIONS,
                         ids=[f"{v[0]}-{i}" for i, v in enumerate(VIOLATIONS)])
def test_each_check_fails_on_a_violating_config(naumburg, check_id, edit, detail, at):
    text = replace(naumburg[2], *edit)
    got = results(naumburg, text)
    assert [r.id for r in got.values() if not r.ok] == [check_id], got
    r = got[check_id]
    assert detail in r.detail
    if at is not None:
        assert r.line == line_of(text, at)


def test_check_build_names_file_line_col_of_each_failure(naumburg, tmp_path):
    hub, _topo, text = naumburg
    cfg = tmp_path / ios_check.CONFIG
    cfg.parent.mkdir(parents=True)
    cfg.write_text(replace(replace(text, "ip ssh version 2", "ip ssh version 1"),
                           "transport input ssh", "transport input all"))
    with pytest.raises(HubkitError) as e:
        ios_check.check_build(tmp_path, hub)
    msg = e.value.message
    assert msg.startswith("2 static check(s) of the IOS switch config failed")
    rel = "build/naumburg/switch/cisco-ios.cfg"
    assert f"{rel}:{line_of(cfg.read_text(), 'ip ssh version 1')}:1: SSH version 2 only" in msg
    assert f"{rel}:{line_of(cfg.read_text(), 'line vty 0 15')}:1: remote logins over SSH only" in msg
    cfg.write_text(text)
    assert all(r.ok for r in ios_check.check_build(tmp_path, hub))
    cfg.unlink()
    with pytest.raises(HubkitError, match="cisco-ios.cfg is missing"):
        ios_check.check_build(tmp_path, hub)


@pytest.mark.parametrize("spec,want", [("10", {10}), ("10,20-22", {10, 20, 21, 22}), ("all", None),
                                        ("none", None), ("10,", None)])
def test_vlan_list(spec, want):
    assert ios_check.vlan_list(spec) == want


def test_parser_agrees_with_ciscoconfparse2(naumburg):
    """The small run-time parser sees the same interfaces and children as the test-only library."""
    from ciscoconfparse2 import CiscoConfParse
    text = naumburg[2]
    theirs = {o.text: [c.text.strip() for c in o.children]
              for o in CiscoConfParse(text.splitlines()).find_objects(r"^interface ")}
    ours = {b.text: [c for _, c in b.children] for b in ios_check.parse(text) if b.text.startswith("interface ")}
    assert ours == theirs and len(ours) == 25


def test_configure_refuses_a_broken_ios_config_before_running_anything(tmp_path):
    """`hubkit configure` checks a cisco-ios hub's rendered config first: exit 1 naming
    file:line:col, no traceback, and Ansible never starts (no configure.log)."""
    from tests.configure.conftest import hubkit
    from hubkit.scaffold import init_fleet
    fleet = tmp_path / "fleet"
    init_fleet(fleet)
    hubkit(fleet, "render", "naumburg", check=True)
    cfg = fleet / "build" / "naumburg" / ios_check.CONFIG
    text = replace(cfg.read_text(), "no ip http server", "ip http server")
    cfg.write_text(text)
    r = hubkit(fleet, "configure", "naumburg")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"build/naumburg/switch/cisco-ios.cfg:{line_of(text, 'ip http server')}:1: " \
           "no HTTP(S) management server" in r.stderr
    assert not (fleet / ".hubkit" / "runs" / "naumburg" / "configure.log").exists()
    cfg.unlink()
    r = hubkit(fleet, "configure", "naumburg")
    assert r.returncode == 3 and "hubkit render naumburg" in r.stderr
