"""Per-hub template context: plain data (strings, ints, lists, dicts) from the Hub model.

All derived addresses, interface names, bridges, ports and DHCP ranges come
from ``hubkit.topology`` so render, lab and verify agree.  Nothing secret is
ever put in a context: secrets stay Ansible placeholders (``vault_*``).
"""

from __future__ import annotations

import hashlib
import json

from hubkit import __version__, topology
from hubkit.model import Hub

WG_IFACE = "wg0"
# Placeholders resolved by Ansible at deploy time (see docs/architecture.md).
PH_WG_PRIVATE = "{{ vault_wg_private_key }}"
PH_WG_PUBLIC = "{{ vault_wg_public_key }}"
PH_PEER_PUBLIC = "{{ hubkit_vpn_peer_public_key }}"


def input_hash(hub_json: dict, hub_public_key: str | None, fingerprint: str) -> str:
    """sha256 of everything one hub's tree depends on.

    The merged, validated hub input, the hub's public key (also an input) and
    the render fingerprint (hubkit's version, templates, render code): equal
    hashes mean byte-identical trees, so ``render`` may skip the hub.
    """
    blob = json.dumps({"hub": hub_json, "hub_public_key": hub_public_key, "render": fingerprint},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def hub_input_hash(hub: Hub, hub_public_key: str | None, fingerprint: str) -> str:
    """``input_hash`` straight from the model, without building the context."""
    return input_hash(hub.model_dump(mode="json"), hub_public_key, fingerprint)


def _cidr(iface) -> str:
    return f"{iface.ip}/{iface.network.prefixlen}"


def _port_name(n: int) -> str:
    return f"p{n:02d}"


def _ios_port(n: int) -> str:
    return f"GigabitEthernet1/0/{n}"


def build_context(hub: Hub, hub_public_key: str | None = None, fingerprint: str = "") -> dict:
    topo = topology.build(hub)
    hub_json = hub.model_dump(mode="json")
    c = hub.services.central
    zone = hub.services.dns_zone

    segments = []
    for plan in sorted(topo.segments.values(), key=lambda s: s.vlan):
        seg = hub.network.segments[plan.name]
        segments.append({
            "name": plan.name, "vlan": plan.vlan, "prefix": str(plan.prefix),
            "netmask": str(plan.prefix.netmask), "purpose": seg.purpose,
            "router_address": _cidr(plan.router_address), "router_ip": str(plan.router_address.ip),
            "iface": plan.router_iface, "bridge": plan.bridge, "dhcp": plan.dhcp,
            "dhcp_start": str(plan.dhcp_range[0]) if plan.dhcp_range else None,
            "dhcp_end": str(plan.dhcp_range[1]) if plan.dhcp_range else None,
            "isolated": plan.isolated, "vpn_access": plan.vpn_access,
        })
    by_name = {s["name"]: s for s in segments}
    mgmt = by_name.get(topology.MGMT)
    # Trusted segments may use the router's NTP and ICMP; isolated ones only DHCP/DNS.
    trusted = [s for s in segments if not s["isolated"]]

    vpn = hub.vpn
    core_networks = [str(n) for n in vpn.core_networks]
    vpn_ctx = {
        "iface": WG_IFACE, "tunnel_address": str(vpn.tunnel_address),
        "tunnel_ip": str(vpn.tunnel_address.ip), "listen_port": vpn.listen_port,
        "keepalive": vpn.keepalive, "core_networks": core_networks,
        "concentrator_address": str(vpn.concentrator.address),
        "concentrator_hostname": vpn.concentrator.hostname,
        "concentrator_public_key": vpn.concentrator.public_key,
        "endpoint": f"{topo.vpn_endpoint_host}:{topo.vpn_endpoint_port}",
        "allowed_ips": core_networks + [f"{vpn.concentrator.address}/32"],
        # The core's peer entry: the hub's tunnel address and its whole site.
        "hub_allowed_ips": [f"{vpn.tunnel_address.ip}/32", str(hub.network.site_prefix)],
        "hub_public_key": hub_public_key,
        "hub_public_key_or_placeholder": hub_public_key or PH_WG_PUBLIC,
        "private_key_placeholder": PH_WG_PRIVATE,
        "peer_public_key_placeholder": PH_PEER_PUBLIC,
    }
    wan = {"iface": topo.wan_iface, "mode": hub.uplink.mode,
           "address": _cidr(topo.wan_router) if hub.uplink.mode == "static" else None,
           "gateway": str(topo.wan_gateway) if hub.uplink.mode == "static" else None}

    router = {"hostname": topo.router.name, "role": "router",
              "mgmt_address": _cidr(topo.router.address), "mgmt_ip": str(topo.router.address.ip),
              "fqdn": f"{topo.router.name}.{zone}", "ansible_host": topo.ansible_host(topo.router)}
    switch = {"hostname": topo.switch.name, "role": "switch", "dialect": hub.switch.dialect,
              "model": hub.switch.model, "ports": hub.switch.ports, "uplink_port": hub.switch.uplink_port,
              "mgmt_address": _cidr(topo.switch.address), "mgmt_ip": str(topo.switch.address.ip),
              "mgmt_gateway": mgmt["router_ip"], "fqdn": f"{topo.switch.name}.{zone}",
              "ansible_host": topo.ansible_host(topo.switch)}
    workstations = []
    for ws in topo.workstations:
        seg = by_name[ws.segment]
        workstations.append({
            "hostname": ws.name, "role": "workstation", "segment": ws.segment,
            "address": _cidr(ws.address), "ip": str(ws.address.ip), "gateway": seg["router_ip"],
            "switch_port": ws.switch_port, "assigned_to": ws.assigned_to,
            "fqdn": f"{ws.name}.{zone}", "ansible_host": topo.ansible_host(ws),
            # Isolated segments may not use the router's NTP (only DHCP/DNS).
            "ntp_servers": [] if seg["isolated"] else [seg["router_ip"]],
            "update_policy": hub.services.update_policy,
        })
    core = {"hostname": topo.core.name, "role": "core", "address": _cidr(topo.core.address),
            "ansible_host": topo.ansible_host(topo.core)}
    engineer = {"hostname": topo.mgmt_host.name, "address": _cidr(topo.mgmt_host.address),
                "switch_port": topo.mgmt_host.switch_port}

    ports = _switch_ports(hub, segments, workstations, engineer)
    ctx = {
        "hubkit_version": __version__,
        "hub": {
            "id": hub.id, "name": hub.name, "municipality": hub.municipality, "region": hub.region,
            "address": hub_json["address"], "venue": hub.venue,
            "opening_date": hub_json["opening_date"], "focus_topics": list(hub.focus_topics),
            "workplaces": hub.workplaces, "site_prefix": str(hub.network.site_prefix),
        },
        "connect_user": hub.connect_user(),
        "admins": [{"username": a.username, "full_name": a.full_name, "ssh_keys": list(a.ssh_keys)}
                   for a in hub.hub_admins()],
        "segments": segments, "trusted_segments": trusted,
        "dhcp_segments": [s for s in segments if s["dhcp"]],
        "mgmt": mgmt, "vpn": vpn_ctx, "wan": wan,
        # The router's port carrying every segment as a VLAN interface (None: one port each).
        "trunk": {"iface": topo.trunk_iface} if topo.trunk_iface else None,
        "router": router, "switch": switch, "workstations": workstations, "core": core,
        "engineer": engineer, "switch_ports": ports,
        "trunk_vlans": [s["vlan"] for s in segments],
        "staff": [{"username": s.username, "role": s.role} for s in hub.staff],
        "events": [{"name": e.name, "date": e.date.isoformat(), "guest_network": e.guest_network}
                   for e in hub.events],
        "services": {
            "dns_zone": zone, "identity_group": hub.services.identity_group,
            "backup_quota_gb": hub.services.backup.quota_gb if hub.services.backup else None,
            "monitoring": hub.services.monitoring.enabled,
            "update_policy": hub.services.update_policy,
            "dns": [str(a) for a in c.dns], "ntp": [str(a) for a in c.ntp],
            "syslog": str(c.syslog) if c.syslog else None, "dns_suffix": c.dns_suffix,
        },
        "hub_json": hub_json,
        "input_hash": input_hash(hub_json, hub_public_key, fingerprint),
    }
    ctx["linux_bridge"] = _linux_bridge(ctx)
    ctx["svg"] = _svg_layout(ctx)
    return ctx


def _switch_ports(hub: Hub, segments, workstations, engineer) -> list[dict]:
    by_port: dict[int, dict] = {}
    vlan_of = {s["name"]: s["vlan"] for s in segments}
    for ws in workstations:
        if ws["switch_port"]:
            by_port[ws["switch_port"]] = {"kind": "access", "segment": ws["segment"],
                                          "vlan": vlan_of[ws["segment"]], "host": ws["hostname"]}
    if engineer["switch_port"] and topology.MGMT in vlan_of:
        by_port[engineer["switch_port"]] = {"kind": "access", "segment": topology.MGMT,
                                            "vlan": vlan_of[topology.MGMT],
                                            "host": engineer["hostname"]}
    by_port[hub.switch.uplink_port] = {"kind": "trunk", "segment": None, "vlan": None,
                                       "host": hub.router.hostname}
    out = []
    for n in range(1, hub.switch.ports + 1):
        p = by_port.get(n, {"kind": "unused", "segment": None, "vlan": None, "host": None})
        out.append({"number": n, "name": _port_name(n), "ios": _ios_port(n), **p})
    return out


def _linux_bridge(ctx: dict) -> dict:
    """The switch as one Linux bridge per segment (no VLAN filtering on this kernel)."""
    bridges = []
    for s in ctx["segments"]:
        bridges.append({
            "name": s["bridge"], "segment": s["name"], "vlan": s["vlan"],
            "access_ports": [{"port": p["name"], "host": p["host"]}
                             for p in ctx["switch_ports"]
                             if p["kind"] == "access" and p["segment"] == s["name"]],
            # The router has one interface per segment instead of a tagged trunk.
            "router_link": {"port": f"up{s['vlan']}", "router_iface": s["iface"]},
        })
    sw = ctx["switch"]
    return {
        "hub": ctx["hub"]["id"], "switch": sw["hostname"],
        "mgmt": {"bridge": ctx["mgmt"]["bridge"], "address": sw["mgmt_address"],
                 "gateway": sw["mgmt_gateway"]},
        "bridges": bridges,
        "unused_ports": [p["name"] for p in ctx["switch_ports"] if p["kind"] == "unused"],
    }


# SVG geometry (px).
_COL_W, _BOX_W, _BOX_H, _HOST_H = 230, 200, 54, 34


def _svg_layout(ctx: dict) -> dict:
    """Positions for topology.svg: WAN/VPN -> router -> switch -> segments -> hosts."""
    segs = ctx["segments"]
    cols = max(len(segs), 1)
    width = max(cols * _COL_W + 40, 3 * _COL_W + 40)
    cx = width // 2
    hosts_by_seg: dict[str, list[dict]] = {s["name"]: [] for s in segs}
    for ws in ctx["workstations"]:
        hosts_by_seg[ws["segment"]].append({"name": ws["hostname"], "detail": ws["ip"]})
    mgmt_name = ctx["mgmt"]["name"] if ctx["mgmt"] else None
    if mgmt_name:
        hosts_by_seg[mgmt_name] = [
            {"name": ctx["router"]["hostname"], "detail": ctx["router"]["mgmt_ip"]},
            {"name": ctx["switch"]["hostname"], "detail": ctx["switch"]["mgmt_ip"]},
        ] + hosts_by_seg[mgmt_name]
    seg_y = 330
    columns = []
    x0 = (width - cols * _COL_W) // 2 + (_COL_W - _BOX_W) // 2
    for i, s in enumerate(segs):
        x = x0 + i * _COL_W
        hosts = [{"x": x + 10, "y": seg_y + _BOX_H + 20 + j * (_HOST_H + 8), **h}
                 for j, h in enumerate(hosts_by_seg[s["name"]])]
        columns.append({"x": x, "y": seg_y, "cx": x + _BOX_W // 2, "name": s["name"],
                        "vlan": s["vlan"], "prefix": s["prefix"], "isolated": s["isolated"],
                        "vpn_access": s["vpn_access"], "hosts": hosts})
    rows = max((len(c["hosts"]) for c in columns), default=0)
    height = seg_y + _BOX_H + 20 + rows * (_HOST_H + 8) + 30
    return {
        "width": width, "height": height, "box_w": _BOX_W, "box_h": _BOX_H, "host_w": _BOX_W - 20,
        "host_h": _HOST_H,
        "wan": {"x": cx - _BOX_W - 20, "y": 20}, "vpn": {"x": cx + 20, "y": 20},
        "router": {"x": cx - _BOX_W // 2, "y": 120}, "switch": {"x": cx - _BOX_W // 2, "y": 220},
        "cx": cx, "columns": columns,
    }
