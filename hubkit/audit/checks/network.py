"""Static checks of the rendered network: segments, switch, tunnel, routing."""

from __future__ import annotations

import ipaddress
import json
import re

import yaml

from hubkit.audit.checks import check
from hubkit.audit.model import RENDERED, Evidence
from hubkit.audit.parsers import wg_sections

WG = "etc/wireguard/wg0.conf"


@check("segments.clients_apart", "NET.1.1.A19")
def clients_apart(src):
    """Clients never get an address in the infrastructure (mgmt) segment, and no client port sits
    on its bridge: read from the rendered DHCP config and switch model (not the hub file)."""
    mgmt = src.topo.segments.get("mgmt")
    path, text = src.router_file("etc/dnsmasq.d/hubkit.conf")
    bridges = src.read("switch/linux-bridge.json")
    if mgmt is None or text is None:
        return
    bad = []
    for n, line in enumerate(text.splitlines(), 1):
        key, _, value = line.strip().partition("=")
        if key in ("dhcp-host", "dhcp-range"):
            for tok in value.split(","):
                try:
                    if ipaddress.ip_address(tok.strip()) in mgmt.prefix:
                        bad.append(f"{path}:{n} {key} {tok.strip()}")
                except ValueError:
                    continue
    try:
        doc = json.loads(bridges) if bridges else {}
    except ValueError:
        doc, bad = {}, bad + ["switch/linux-bridge.json is not valid JSON"]
    clients = {w.name for w in src.topo.workstations}
    for br in doc.get("bridges", []):
        if br.get("segment") == mgmt.name:
            bad += [f"client {p['host']} on the mgmt bridge port {p['port']}"
                    for p in br.get("access_ports", []) if p.get("host") in clients]
    yield Evidence("segments.clients_apart", RENDERED, not bad,
                   "clients are kept out of the infrastructure (mgmt) segment",
                   f"no DHCP lease or range in {mgmt.prefix}, no client port on the mgmt bridge" if not bad
                   else "; ".join(bad), src.ref(path))


@check("switch.one_bridge_per_segment", "NET.1.1.A24", "NET.1.1.A21")
def one_bridge_per_segment(src):
    rel = "switch/linux-bridge.json"
    text = src.read(rel)
    if text is None:
        return
    try:
        doc = json.loads(text)
    except ValueError:
        yield Evidence("switch.one_bridge_per_segment", RENDERED, False, "switch model readable",
                       "linux-bridge.json is not valid JSON", src.ref(rel))
        return
    seen: dict[str, str] = {}
    dup = []
    for br in doc.get("bridges", []):
        for p in br.get("access_ports", []):
            if p["port"] in seen:
                dup.append(p["port"])
            seen[p["port"]] = br["name"]
    segs = sorted(b.get("segment") for b in doc.get("bridges", []))
    ok = not dup and segs == sorted(src.topo.segments)
    yield Evidence("switch.one_bridge_per_segment", RENDERED, ok, "one bridge per segment; no port in two segments",
                   f"{len(segs)} bridges ({', '.join(segs)}), {len(seen)} access ports, no bridge between segments"
                   if ok else f"ports in several bridges: {dup}; bridges {segs}", src.ref(rel))


# The rows each IOS check evidences, by BSI id.
IOS_TAGS = {"vlans": ("NET.1.1.A21", "NET.1.1.A24"), "access_ports": ("NET.1.1.A21", "NET.1.1.A24"),
            "trunk": ("NET.1.1.A21", "NET.1.1.A24"), "mgmt": ("NET.1.1.A21", "NET.1.1.A23"),
            "unused_ports": ("NET.3.1.A1",),
            "ssh_v2": ("NET.3.2.A6",), "no_telnet": ("NET.3.2.A6",), "no_http": ("NET.3.2.A6",)}


@check("switch.ios")
def ios(src):
    """The rendered IOS config of a cisco-ios switch (only then is it what gets deployed)."""
    from hubkit import ios_check
    if not ios_check.applies(src.hub):
        return
    text = src.read(ios_check.CONFIG)
    if text is None:
        return
    for r in ios_check.check(text, src.hub, src.topo):
        yield Evidence(f"switch.ios:{r.id}", RENDERED, r.ok, f"IOS switch config: {r.title}", r.detail,
                       src.ref(ios_check.CONFIG, r.line), tags=IOS_TAGS[r.id])


@check("wg.tunnel", "NET.1.1.A7", "NET.1.1.A11", "NET.3.3.A11", "NET.3.3.A13")
def wg_tunnel(src):
    path, text = src.router_file(WG)
    if text is None:
        return
    secs = wg_sections(text)
    iface = next((s for s in secs if s[0] == "Interface"), None)
    peers = [s for s in secs if s[0] == "Peer"]
    pk = iface[2].get("PrivateKey", "") if iface else ""
    # The key must be a vault placeholder resolved by Ansible, never a literal key.
    placeholder = "{{" in pk and "vault_" in pk
    ok = iface is not None and placeholder and len(peers) >= 1 and \
        all(p[2].get("PublicKey") and p[2].get("Endpoint") for p in peers)
    yield Evidence("wg.tunnel", RENDERED, ok, "WireGuard tunnel on the router (encrypted, key-authenticated)",
                   f"wg0 on {src.topo.router.name}: private key from the vault at deploy time, "
                   f"{len(peers)} peer(s) authenticated by public key" if ok else
                   "wg0 lacks an interface key placeholder or a peer key/endpoint",
                   src.ref(path, iface[1] if iface else None))


@check("wg.peers_declared", "NET.3.3.A5")
def wg_peers_declared(src):
    path, text = src.router_file(WG)
    if text is None:
        return
    peers = [s for s in wg_sections(text) if s[0] == "Peer"]
    want = src.hub.vpn.concentrator.endpoint
    ok = len(peers) == 1 and peers[0][2].get("Endpoint") == want
    yield Evidence("wg.peers_declared", RENDERED, ok, "only the declared VPN peer is configured",
                   f"exactly one peer, the concentrator {want}; the file is regenerated from the fleet repo on "
                   "every run, so removed peers cannot linger" if ok else
                   f"{len(peers)} peer(s): {', '.join(p[2].get('Endpoint', '?') for p in peers)}",
                   src.ref(path, peers[0][1] if peers else None))


# What render configures on the router: a service outside this set (a routing daemon among
# them) is not part of the design.  Whether one *runs* is router::test_no_dynamic_routing's job.
ROUTER_SERVICES = {"chrony", "dnsmasq", "nftables", "ssh", "sysctl", "systemd-networkd", "wg-quick@wg0"}
ROUTING_DAEMONS = re.compile(r"\b(bird6?|frr|quagga|zebra|ospfd|bgpd|ripd|isisd|babeld)\b", re.I)


@check("routing.no_daemon", "NET.3.2.A8")
def no_routing_daemon(src):
    rel = f"inventory/host_vars/{src.topo.router.name}.yml"
    text = src.read(rel)
    if text is None:
        return
    try:
        files = (yaml.safe_load(text) or {}).get("hubkit_files") or {}
    except yaml.YAMLError:
        files = {"(unreadable)": "(unreadable)"}
    extra = sorted({f"{svc} ({path})" for path, svc in files.items()
                    if svc not in ROUTER_SERVICES or ROUTING_DAEMONS.search(path)})
    yield Evidence("routing.no_daemon", RENDERED, not extra, "no routing daemon configured on the router; routes are static",
                   f"render configures only {', '.join(sorted({*files.values()}))}: no routing protocol"
                   if not extra else "services outside the design: " + ", ".join(extra), src.ref(rel))
