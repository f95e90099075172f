"""Derived addressing and wiring of one hub: the single source for render, lab and verify.

Everything here is a pure function of the ``Hub`` model, so the rendered
configs, the lab's wiring and the verify suites can never disagree about
which address or port a host has.

Conventions (documented in README "Addressing"):
- the router has the first host address of every segment, on the interface
  ``router.interfaces.segments[<name>]``, default ``vl<vlan>`` (named after
  the VLAN it is on a trunk); with ``router.interfaces.trunk`` these are
  802.1Q VLAN interfaces on that port, otherwise one port each;
- the switch has the second host address of the mgmt segment, on ``br-mgmt``;
- workstation *i* of a segment gets the static lease ``hosts[10 + i]``;
- DHCP pools are the upper half of each segment's hosts (minus the last);
- the lab's engineer laptop ("mgmt" host) uses the last mgmt host address;
- the router's WAN is ``router.interfaces.uplink`` (default ``wan0``); the
  core (data centre) side is the uplink gateway, the VPN endpoint and the
  central service addresses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from hubkit.model import Hub

MGMT = "mgmt"
STATIC_OFFSET = 10
# Used when the uplink is DHCP: the lab (and the core role) serve this net.
LAB_WAN = ipaddress.IPv4Network("198.51.100.0/24")


@dataclass(frozen=True)
class SegmentPlan:
    name: str
    vlan: int
    prefix: ipaddress.IPv4Network
    router_address: ipaddress.IPv4Interface
    router_iface: str
    bridge: str
    dhcp: bool
    dhcp_range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None
    isolated: bool
    vpn_access: bool


@dataclass(frozen=True)
class HostPlan:
    name: str
    role: str  # router | switch | workstation | core | mgmt
    segment: str | None
    address: ipaddress.IPv4Interface | None  # data-plane address (mgmt for router/switch)
    switch_port: int | None = None
    assigned_to: str | None = None


@dataclass(frozen=True)
class Topology:
    hub_id: str
    segments: dict[str, SegmentPlan]
    router: HostPlan
    switch: HostPlan
    workstations: list[HostPlan]
    core: HostPlan
    mgmt_host: HostPlan
    wan_router: ipaddress.IPv4Interface
    wan_gateway: ipaddress.IPv4Address
    wan_iface: str
    # The port carrying the segments' VLAN interfaces (None: one port per segment).
    trunk_iface: str | None
    vpn_endpoint_host: str
    vpn_endpoint_port: int
    central_addresses: list[ipaddress.IPv4Address] = field(default_factory=list)
    # Where Ansible reaches the concentrator: fleet.yaml's management address.
    core_manage_address: str = ""

    def hosts(self) -> list[HostPlan]:
        """All managed hosts (not the lab's mgmt laptop), in a stable order."""
        return [self.router, self.switch, *self.workstations, self.core]

    def ansible_host(self, host: HostPlan) -> str:
        """The address Ansible and testinfra use to reach ``host``."""
        if host.role == "core":
            return self.core_manage_address
        return str(host.address.ip)


class _Hosts:
    """Indexable view of ``net.hosts()`` that does not build the list.

    Same values as ``list(net.hosts())``; building that list for every /24
    made ``build`` cost ~1 ms per hub, too slow for rendering 1,000 hubs.
    """

    def __init__(self, net: ipaddress.IPv4Network):
        if net.prefixlen >= 31:  # /31 and /32: every address is a host (RFC 3021)
            self._first, self._n = net.network_address, net.num_addresses
        else:
            self._first, self._n = net.network_address + 1, net.num_addresses - 2

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> ipaddress.IPv4Address:
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("host index out of range")
        return self._first + i


def _hosts(net: ipaddress.IPv4Network) -> _Hosts:
    return _Hosts(net)


def dhcp_range(net: ipaddress.IPv4Network):
    hosts = _hosts(net)
    if len(hosts) < 8:
        return None
    return hosts[len(hosts) // 2], hosts[-2]


def _endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host, int(port or 51820)


def segment_iface(hub: Hub, name: str) -> str:
    """The router's interface of segment ``name``: as named in the hub, else ``vl<vlan>``."""
    return hub.router.interfaces.segments.get(name) or f"vl{hub.network.segments[name].vlan}"


def build(hub: Hub) -> Topology:
    segments: dict[str, SegmentPlan] = {}
    for name, seg in hub.network.segments.items():
        hosts = _hosts(seg.prefix)
        segments[name] = SegmentPlan(
            name=name, vlan=seg.vlan, prefix=seg.prefix,
            router_address=ipaddress.IPv4Interface(f"{hosts[0]}/{seg.prefix.prefixlen}"),
            router_iface=segment_iface(hub, name), bridge=f"br-{name}",
            dhcp=seg.dhcp, dhcp_range=dhcp_range(seg.prefix) if seg.dhcp else None,
            isolated=seg.isolated, vpn_access=seg.vpn_access,
        )
    mgmt = segments.get(MGMT)
    mgmt_hosts = _hosts(mgmt.prefix) if mgmt else []
    plen = mgmt.prefix.prefixlen if mgmt else 32

    router = HostPlan(hub.router.hostname, "router", MGMT, mgmt.router_address if mgmt else None)
    switch = HostPlan(hub.switch.hostname, "switch", MGMT,
                      ipaddress.IPv4Interface(f"{mgmt_hosts[1]}/{plen}") if mgmt else None)

    used_ports = {hub.switch.uplink_port} | {w.port for w in hub.workstations if w.port}
    free_ports = (p for p in range(1, hub.switch.ports + 1) if p not in used_ports)
    per_segment: dict[str, int] = {}
    workstations = []
    for ws in hub.workstations:
        seg = hub.network.segments.get(ws.segment)
        addr = None
        if seg is not None:
            i = per_segment.get(ws.segment, 0)
            per_segment[ws.segment] = i + 1
            hosts = _hosts(seg.prefix)
            addr = ipaddress.IPv4Interface(f"{hosts[STATIC_OFFSET + i]}/{seg.prefix.prefixlen}")
        port = ws.port if ws.port else next(free_ports, None)
        workstations.append(HostPlan(ws.hostname, "workstation", ws.segment, addr, port, ws.assigned_to))

    ep_host, ep_port = _endpoint(hub.vpn.concentrator.endpoint)
    if hub.uplink.mode == "static" and hub.uplink.address is not None:
        wan_router, wan_gw = hub.uplink.address, hub.uplink.gateway
    else:
        lab_hosts = _hosts(LAB_WAN)
        wan_router = ipaddress.IPv4Interface(f"{lab_hosts[9]}/{LAB_WAN.prefixlen}")
        wan_gw = lab_hosts[0]
    core = HostPlan(hub.vpn.concentrator.hostname, "core", None,
                    ipaddress.IPv4Interface(f"{wan_gw}/{wan_router.network.prefixlen}"))
    mgmt_host = HostPlan(f"{hub.id}-mgmt", "mgmt", MGMT,
                         ipaddress.IPv4Interface(f"{mgmt_hosts[-1]}/{plen}") if mgmt else None,
                         switch_port=next(free_ports, None))
    c = hub.services.central
    central = sorted({*c.dns, *c.ntp, *([c.syslog] if c.syslog else [])})
    conc = hub.vpn.concentrator
    ifaces = hub.router.interfaces
    return Topology(hub.id, segments, router, switch, workstations, core, mgmt_host,
                    wan_router, wan_gw, ifaces.uplink, ifaces.trunk, ep_host, ep_port, central,
                    str(conc.management_address or conc.address))
