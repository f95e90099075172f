"""The router's systemd-networkd files, parsed: interface names, VLAN ids, addresses.

Three forms from the example fleet: naumburg has a trunk port with named VLAN
interfaces (.netdev + .network each), wittenberg names one port per
segment, zeitz keeps the defaults (wan0, vl<vlan>).
"""

from __future__ import annotations

import ipaddress

import pytest

from hubkit import topology
from hubkit.fleet.repo import load_fleet
from hubkit.render import hub_context, render_files

NET = "etc/systemd/network"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd INI: ``{section: {key: [values in order]}}``.

    Not configparser: systemd repeats keys (``VLAN=`` once per VLAN, several
    ``Address=``) and configparser would keep only the last or refuse them.
    """
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and section is not None, f"line {n}: not 'Key=value' inside a [Section]: {raw!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def test_parser_keeps_repeated_keys_and_skips_comments():
    u = parse_unit("# c\n[Match]\nName=x\n\n[Network]\nVLAN=a\n; c\nVLAN=b\nAddress=1.2.3.4/24\n")
    assert u == {"Match": {"Name": ["x"]}, "Network": {"VLAN": ["a", "b"], "Address": ["1.2.3.4/24"]}}
    with pytest.raises(AssertionError):
        parse_unit("Name=outside-a-section\n")


def _router_units(hub) -> dict[str, dict]:
    """{file name: parsed unit} of the router's networkd files, rendered from ``hub``."""
    files = render_files(hub_context(hub, None))
    prefix = f"hosts/{hub.router.hostname}/{NET}/"
    return {p[len(prefix):]: parse_unit(b.decode()) for p, b in files.items() if p.startswith(prefix)}


def _hub(fleet_root, hub_id):
    return load_fleet(fleet_root).hub(hub_id).model


def test_trunk_port_carries_every_segment_as_a_vlan_interface(fleet_root):
    hub = _hub(fleet_root, "naumburg")
    topo = topology.build(hub)
    units = _router_units(hub)
    segs = sorted(topo.segments.values(), key=lambda s: s.vlan)
    assert [s.router_iface for s in segs] == ["enp2s0.10", "enp2s0.30", "enp2s0.99"]
    assert sorted(units) == sorted(["10-enp1s0.network", "15-enp2s0.network"]
                                   + [f"20-{s.router_iface}.{kind}" for s in segs
                                      for kind in ("netdev", "network")])

    trunk = units["15-enp2s0.network"]
    assert trunk["Match"]["Name"] == ["enp2s0"]
    assert trunk["Network"]["VLAN"] == [s.router_iface for s in segs]
    assert "Address" not in trunk["Network"]  # the trunk itself carries no address

    for s in segs:
        netdev = units[f"20-{s.router_iface}.netdev"]
        assert netdev["NetDev"] == {"Name": [s.router_iface], "Kind": ["vlan"]}
        assert netdev["VLAN"] == {"Id": [str(s.vlan)]}
        net = units[f"20-{s.router_iface}.network"]
        assert net["Match"]["Name"] == [s.router_iface]
        assert net["Network"]["Address"] == [str(s.router_address)]
        assert ipaddress.IPv4Interface(net["Network"]["Address"][0]).network == s.prefix

    uplink = units["10-enp1s0.network"]
    assert uplink["Match"]["Name"] == ["enp1s0"] and uplink["Network"]["DHCP"] == ["ipv4"]


def test_trunk_with_default_names_uses_vl_vlan(fleet_root):
    """A trunk without per-segment names: the VLAN interfaces are vl<vlan>."""
    hub = _hub(fleet_root, "zeitz")
    hub = hub.model_copy(update={"router": hub.router.model_copy(update={
        "interfaces": hub.router.interfaces.model_copy(update={"trunk": "eth1"})})})
    units = _router_units(hub)
    vlans = sorted(s.vlan for s in hub.network.segments.values())
    assert units["15-eth1.network"]["Network"]["VLAN"] == [f"vl{v}" for v in vlans]
    assert [units[f"20-vl{v}.netdev"]["VLAN"]["Id"] for v in vlans] == [[str(v)] for v in vlans]


@pytest.mark.parametrize("hub_id,uplink,ifaces", [
    ("wittenberg", "eno1", {"staff": "eno2", "guest": "eno3", "mgmt": "eno4"}),
    ("zeitz", "wan0", {"staff": "vl10", "guest": "vl20", "devices": "vl30", "mgmt": "vl99"}),
])
def test_one_port_per_segment_renders_no_netdev(fleet_root, hub_id, uplink, ifaces):
    hub = _hub(fleet_root, hub_id)
    units = _router_units(hub)
    assert not [n for n in units if n.endswith(".netdev") or n.startswith("15-")]
    assert units[f"10-{uplink}.network"]["Match"]["Name"] == [uplink]
    topo = topology.build(hub)
    for name, iface in ifaces.items():
        net = units[f"20-{iface}.network"]
        assert net["Match"]["Name"] == [iface]
        assert net["Network"]["Address"] == [str(topo.segments[name].router_address)]


def test_interface_names_reach_firewall_dhcp_and_inventory(fleet_root):
    """Render uses the hub's names everywhere the router's interfaces appear."""
    hub = _hub(fleet_root, "naumburg")
    files = render_files(hub_context(hub, None))
    nft = files["hosts/naumburg-rt01/etc/nftables.conf"].decode()
    assert 'iifname "enp1s0" udp dport 51820 accept' in nft and 'oifname "enp1s0" masquerade' in nft
    assert 'iifname "enp2s0.99" ip saddr 10.64.6.128/27 tcp dport 22 accept' in nft
    assert '"vl' not in nft and "wan0" not in nft
    dnsmasq = files["hosts/naumburg-rt01/etc/dnsmasq.d/hubkit.conf"].decode()
    assert "interface=enp2s0.10\n" in dnsmasq and "except-interface=enp1s0\n" in dnsmasq
    hv = files["inventory/host_vars/naumburg-rt01.yml"].decode()
    assert '"/etc/systemd/network/20-enp2s0.10.netdev": "systemd-networkd"' in hv
    assert 'iface: "enp1s0"' in hv
