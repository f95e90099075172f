"""switch: one bridge per segment; every port on the bridge of the segment the model says.

Expected ports come from the rendered ``switch/linux-bridge.json``.  In the
lab, the cabling itself is the truth for which switch port faces which host:
the lab's ledger (state.json ``links``) names both ends of every veth, so the
check follows the cable to the host and asks the model for its segment.

A hub with a vendor switch (``cisco-ios``) has a Linux bridge standing in for
it in the lab (docs/lab.md); these checks then test the stand-in, and
``test_ports_as_the_deployed_config_says`` compares it with the rendered IOS
config (access VLANs, shut ports, the trunk's VLANs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hubkit import ios_check
from hubkit.verify.plugin import expect

PROBE_PORT_PREFIX = "hkprb"  # verify's own DHCP probe ports (playbooks/probes/test_probes.py)


def expected_ports(hk) -> dict[str, str]:
    """port name -> bridge it must be on."""
    if hk.lab:
        return _lab_ports(hk)
    model = json.loads((hk.build_dir / "switch" / "linux-bridge.json").read_text())
    out = {}
    for b in model.get("bridges", []):
        for p in b.get("access_ports", []):
            out[p["port"]] = b["name"]
        if b.get("router_link"):
            out[b["router_link"]["port"]] = b["name"]
    return out


def _lab_state(hk) -> dict:
    return json.loads((Path(hk.lab["dir"]) / "state.json").read_text())


def _lab_ports(hk) -> dict[str, str]:
    topo = hk.topo
    state = _lab_state(hk)
    by_ns = {h["netns"]: h for h in state.get("hosts", [])}
    switch_ns = hk.lab["host_netns"][topo.switch.name]
    seg_of = {w.name: w.segment for w in topo.workstations}
    seg_of[topo.mgmt_host.name] = "mgmt"
    by_iface = {s.router_iface: s.name for s in topo.segments.values()}
    out = {}
    for a_ns, a, b_ns, b in state.get("links", []):
        if b_ns != switch_ns or a_ns not in by_ns:
            continue
        peer = by_ns[a_ns]
        seg = by_iface.get(a) if peer["role"] == "router" else seg_of.get(peer["name"])
        if seg in topo.segments:
            out[b] = topo.segments[seg].bridge
    return out


def _probe_ports(hk) -> set[str]:
    """Ports verify's own DHCP probe plugs in for a moment (recorded in the lab ledger)."""
    if not hk.lab:
        return set()
    switch_ns = hk.lab["host_netns"][hk.topo.switch.name]
    recorded = {b for a_ns, _a, b_ns, b in _lab_state(hk).get("links", [])
                if b_ns == switch_ns and "-probe-" in a_ns}
    # The ledger entry goes away right after the port does; the name covers that instant.
    return recorded | {PROBE_PORT_PREFIX}


@pytest.fixture(scope="module")
def links(host):
    return {link["ifname"]: link for link in json.loads(host.check_output("ip -j -d link show"))}


def _bridges(links):
    return sorted(n for n, link in links.items() if link.get("linkinfo", {}).get("info_kind") == "bridge")


@pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A19", "NET.1.1.A21", "NET.1.1.A24")
def test_bridge_per_segment(links, topo):
    want = sorted(s.bridge for s in topo.segments.values())
    found = _bridges(links)
    missing = [b for b in want if b not in found]
    expect(not missing, f"bridges {', '.join(want)}", f"missing {', '.join(missing)}")
    down = [b for b in want if "UP" not in links[b].get("flags", [])]
    expect(not down, "every segment bridge up", f"down: {', '.join(down)}")


@pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A21", "NET.1.1.A23")
def test_ports_on_model_bridge(links, hk):
    want = expected_ports(hk)
    expect(bool(want), "switch ports in the model", "none")
    wrong = []
    for port, bridge in sorted(want.items()):
        link = links.get(port)
        if link is None:
            wrong.append(f"{port} missing")
        elif link.get("master") != bridge:
            wrong.append(f"{port} on {link.get('master') or 'no bridge'}")
    expect(not wrong, "every port on the bridge of its segment",
           ", ".join(wrong))


@pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A19", "NET.1.1.A21", "NET.1.1.A23", "NET.1.1.A24")
def test_no_port_in_two_segments(links, hk, topo):
    """No unexpected port on a segment bridge, and no bridge joined to another (that would merge segments)."""
    want = expected_ports(hk)
    ignore = _probe_ports(hk)
    seg_bridges = {s.bridge for s in topo.segments.values()}
    stray = []
    for name, link in sorted(links.items()):
        master = link.get("master")
        probe = name in ignore or (PROBE_PORT_PREFIX in ignore and name.startswith(PROBE_PORT_PREFIX))
        if master in seg_bridges and not probe and want.get(name) != master:
            stray.append(f"{name} on {master}")
        if name in seg_bridges and master:
            stray.append(f"bridge {name} enslaved to {master}")
    # A veth with both ends on this switch would bridge two segments together.
    for name, link in sorted(links.items()):
        peer = link.get("link")
        if link.get("master") in seg_bridges and peer in links and links[peer].get("master") in seg_bridges:
            stray.append(f"{name}<->{peer} joins {link['master']} and {links[peer]['master']}")
    expect(not stray, "each port in exactly one segment, as the model says", "; ".join(stray))


def deployed_ports(hk, hub, topo) -> tuple[dict[str, str], set[str]]:
    """From the config the switch deploys: (port -> segment bridge, ports that must be on none).

    Port names are render's (switch/linux-bridge.json): access port ``p<NN>`` is
    switch port NN (``GigabitEthernet1/0/NN`` in IOS), the router's link of VLAN
    V is ``up<V>``.
    """
    bridge_of = {s.vlan: s.bridge for s in topo.segments.values()}
    if hub.switch.dialect == "linux-bridge":
        model = json.loads((hk.build_dir / "switch" / "linux-bridge.json").read_text())
        want = {p["port"]: b["name"] for b in model["bridges"] for p in b["access_ports"]}
        want |= {b["router_link"]["port"]: b["name"] for b in model["bridges"] if b.get("router_link")}
        return want, set(model.get("unused_ports", []))
    want, off = {}, set()
    for block in ios_check.parse((hk.build_dir / ios_check.CONFIG).read_text()):
        m = re.fullmatch(r"interface GigabitEthernet1/0/(\d+)", block.text)
        if not m:
            continue
        port = f"p{int(m.group(1)):02d}"
        access = [int(c.split()[-1]) for _, c in block.child("switchport access vlan ")]
        allowed = [c.split()[-1] for _, c in block.child("switchport trunk allowed vlan ")]
        if block.has("shutdown"):
            off.add(port)
        elif block.has("switchport mode access") and access:
            want[port] = bridge_of.get(access[0], f"(no segment has VLAN {access[0]})")
        elif block.has("switchport mode trunk"):
            for vlan in sorted(ios_check.vlan_list(allowed[-1]) or ()) if allowed else ():
                want[f"up{vlan}"] = bridge_of.get(vlan, f"(no segment has VLAN {vlan})")
    return want, off


@pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A21")
def test_ports_as_the_deployed_config_says(links, hk, hub, topo):
    """Access ports in their VLAN's bridge, the router's VLANs on the trunk, shut ports on no bridge.

    For a cisco-ios hub in the lab this is the stand-in measured against the IOS config.
    """
    want, off = deployed_ports(hk, hub, topo)
    expect(bool(want), f"ports in the rendered {hub.switch.dialect} config", "none")
    wrong = [f"{p} on {(links.get(p) or {}).get('master') or 'no bridge'}, want {b}"
             for p, b in sorted(want.items()) if (links.get(p) or {}).get("master") != b]
    seg_bridges = {s.bridge for s in topo.segments.values()}
    wrong += [f"{p} (shut down) on {links[p]['master']}" for p in sorted(off)
              if (links.get(p) or {}).get("master") in seg_bridges]
    expect(not wrong, f"the switch as switch/{hub.switch.dialect} says", "; ".join(wrong))
