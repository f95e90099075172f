"""Lab wiring: one netns per host, veth pairs, the switch's bridges, day-0 addresses.

``plan(topology, prefix)`` is a pure function (unit-tested); ``apply`` realizes
it.  Nothing is ever created in the machine's root netns: each veth pair is
created inside a lab netns with its peer placed directly in the other one, and
no lab netns has a link to the root netns, so no lab packet can leave the
machine whatever routes a playbook installs.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hubkit.errors import HubkitError
from hubkit.topology import Topology


@dataclass
class Node:
    name: str  # host name (or the mgmt laptop's name)
    role: str  # router | switch | workstation | core | mgmt
    netns: str
    mgmt_address: str | None  # the address hubkit reaches it on (ansible_host)
    boots: bool = True  # False: a bare netns (the engineer's laptop)
    bridges: list[str] = field(default_factory=list)
    dummies: list[str] = field(default_factory=list)
    masters: list[tuple[str, str]] = field(default_factory=list)  # (port, bridge)
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (iface, a.b.c.d/len)
    routes: list[tuple[str, str]] = field(default_factory=list)  # (destination, via)
    forwarding: bool = False


@dataclass(frozen=True)
class Link:
    a_ns: str
    a: str
    b_ns: str
    b: str


@dataclass
class Plan:
    prefix: str
    nodes: list[Node]
    links: list[Link]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def netns_name(prefix: str, hub_id: str, host: str) -> str:
    short = host[len(hub_id) + 1:] if host.startswith(f"{hub_id}-") else host
    return f"{prefix}-{short}"


def plan(topo: Topology, prefix: str, site_prefix, core_networks=()) -> Plan:
    """Wiring of one hub lab; ``site_prefix``/``core_networks`` come from the Hub model."""
    ns = lambda h: netns_name(prefix, topo.hub_id, h.name)  # noqa: E731
    mgmt_seg = topo.segments.get("mgmt")
    router_mgmt = str(mgmt_seg.router_address.ip) if mgmt_seg else None
    links: list[Link] = []
    # Switch port names follow render's switch/linux-bridge.json (p<NN>, up<vlan>), so the
    # switch role converging that model finds the lab's day-0 wiring already right.

    router = Node(topo.router.name, "router", ns(topo.router), str(topo.router.address.ip),
                  forwarding=True)
    switch = Node(topo.switch.name, "switch", ns(topo.switch), str(topo.switch.address.ip))
    # One link per segment, named as the segment's router interface, also when the
    # hub puts the segments on a trunk: this kernel has no 802.1Q (docs/lab.md).
    for seg in sorted(topo.segments.values(), key=lambda s: s.vlan):
        switch.bridges.append(seg.bridge)
        router.addresses.append((seg.router_iface, str(seg.router_address)))
        links.append(Link(router.netns, seg.router_iface, switch.netns, f"up{seg.vlan}"))
        switch.masters.append((f"up{seg.vlan}", seg.bridge))
    switch.addresses.append(("br-mgmt", str(topo.switch.address)))
    if router_mgmt:
        switch.routes.append(("default", router_mgmt))

    # WAN: the router's uplink is cabled straight to the data-centre side.
    # The lab reaches its simulated data centre over the router's WAN; a site
    # reaches the concentrator at fleet.yaml's management address, which only
    # answers through the tunnel here (a connection detail of the lab overlay).
    core = Node(topo.core.name, "core", ns(topo.core), str(topo.core.address.ip))
    router.addresses.append((topo.wan_iface, str(topo.wan_router)))
    router.routes.append(("default", str(topo.wan_gateway)))
    links.append(Link(router.netns, topo.wan_iface, core.netns, "eth0"))
    core.addresses.append(("eth0", str(topo.core.address)))
    core.dummies.append("dc0")
    dc0: list[str] = []
    try:
        ep = ipaddress.IPv4Address(topo.vpn_endpoint_host)
        if ep != topo.wan_gateway:
            dc0.append(f"{ep}/32")
    except ValueError:
        pass  # a DNS name: the core role resolves it
    for net in core_networks:
        dc0.append(f"{next(net.hosts())}/{net.prefixlen}")
    dc0 += [f"{a}/32" for a in topo.central_addresses]
    for a in dict.fromkeys(dc0):
        if a.split("/")[0] != str(topo.core.address.ip):
            core.addresses.append(("dc0", a))
    core.routes.append((str(site_prefix), str(topo.wan_router.ip)))

    workstations = []
    for i, ws in enumerate(topo.workstations):
        seg = topo.segments[ws.segment]
        node = Node(ws.name, "workstation", ns(ws), str(ws.address.ip))
        node.addresses.append(("eth0", str(ws.address)))
        node.routes.append(("default", str(seg.router_address.ip)))
        port = f"p{ws.switch_port:02d}" if ws.switch_port else f"swx{i}"
        links.append(Link(node.netns, "eth0", switch.netns, port))
        switch.masters.append((port, seg.bridge))
        workstations.append(node)

    m = topo.mgmt_host
    mgmt = Node(m.name, "mgmt", netns_name(prefix, topo.hub_id, f"{topo.hub_id}-mgmt"),
                str(m.address.ip), boots=False)
    mgmt.addresses.append(("eth0", str(m.address)))
    if router_mgmt:
        mgmt.routes.append(("default", router_mgmt))
    port = f"p{m.switch_port:02d}" if m.switch_port else "lab0"
    links.append(Link(mgmt.netns, "eth0", switch.netns, port))
    switch.masters.append((port, "br-mgmt"))
    return Plan(prefix, [router, switch, *workstations, core, mgmt], links)


def _ip(args: list[str], what: str, stdin: str | None = None) -> None:
    r = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise HubkitError(f"{what} failed: ip {' '.join(args)}: {r.stderr.strip()}",
                          "run 'hubkit lab down ID' and retry; check 'ip netns list'")


def _sysctl_script(node: Node) -> str:
    fwd = "1" if node.forwarding else "0"
    # Explicit in every netns: a new netns may inherit forwarding from the machine.
    return (f"echo {fwd} > /proc/sys/net/ipv4/ip_forward && "
            f"echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
            f"echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6")


def create_netns(state, nodes: list[Node]) -> None:
    for node in nodes:
        state.record("netns", node.netns)
        _ip(["netns", "add", node.netns], f"creating netns {node.netns}")


def apply(state, p: Plan) -> None:
    """Create the netns, links and day-0 addressing of ``p``, recording each first."""
    create_netns(state, p.nodes)
    for node in p.nodes:
        # Before any link exists, so no interface ever sees IPv6 or stray forwarding.
        _ip(["netns", "exec", node.netns, "sh", "-c", _sysctl_script(node)], f"sysctls in {node.netns}")
    by_ns: dict[str, list[str]] = {}
    for link in p.links:
        state.record("links", [link.a_ns, link.a, link.b_ns, link.b])
        by_ns.setdefault(link.a_ns, []).append(
            f"link add {link.a} type veth peer name {link.b} netns {link.b_ns}")
    for ns_name, cmds in sorted(by_ns.items()):
        _ip(["-n", ns_name, "-batch", "-"], f"creating links in {ns_name}", "\n".join(cmds) + "\n")

    def configure(node: Node) -> None:
        cmds = ["link set lo up"]
        for br in node.bridges:
            cmds += [f"link add {br} type bridge stp_state 0 forward_delay 0", f"link set {br} up"]
        for d in node.dummies:
            # A port-less bridge: this kernel has no dummy driver; local addresses work the same.
            cmds += [f"link add {d} type bridge", f"link set {d} up"]
        for port, br in node.masters:
            cmds.append(f"link set {port} master {br}")
        ifaces = {i for i, _ in node.addresses} | {port for port, _ in node.masters}
        ifaces |= {l.a for l in p.links if l.a_ns == node.netns} | {l.b for l in p.links if l.b_ns == node.netns}
        for iface, addr in node.addresses:
            cmds.append(f"address add {addr} dev {iface}")
        for iface in sorted(ifaces - set(node.bridges) - set(node.dummies)):
            cmds.append(f"link set {iface} up")
        for dst, via in node.routes:
            cmds.append(f"route replace {dst} via {via}")
        _ip(["-n", node.netns, "-batch", "-"], f"configuring {node.netns}", "\n".join(cmds) + "\n")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(configure, p.nodes))


def addresses(netns: str) -> list[str]:
    """Every IPv4 address in ``netns`` except loopback, as a.b.c.d/len, sorted."""
    r = subprocess.run(["ip", "-n", netns, "-o", "-4", "addr", "show"], capture_output=True, text=True)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] != "lo":
            out.append(parts[3])
    return sorted(out, key=lambda a: ipaddress.IPv4Interface(a))


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def pids_in_netns(names: list[str]) -> dict[str, list[int]]:
    """Like ``ip netns pids`` for several netns in one pass over /proc."""
    want = {}
    for n in names:
        try:
            st = os.stat(f"/run/netns/{n}")
            want[(st.st_dev, st.st_ino)] = n
        except OSError:
            pass
    out: dict[str, list[int]] = {n: [] for n in want.values()}
    if not want:
        return out
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = os.stat(f"/proc/{p}/ns/net")
            except OSError:
                continue
            n = want.get((st.st_dev, st.st_ino))
            if n:
                out[n].append(int(p))
    return out


def delete_links(links: list[list[str]]) -> None:
    """Delete recorded veths (one ``ip -batch`` per netns; the peer goes with each)."""
    by_ns: dict[str, list[str]] = {}
    for a_ns, a, _b_ns, _b in links:
        if netns_exists(a_ns):
            by_ns.setdefault(a_ns, []).append(f"link del {a}")

    def run(item):
        ns_name, cmds = item
        subprocess.run(["ip", "-n", ns_name, "-force", "-batch", "-"], input="\n".join(cmds) + "\n",
                       capture_output=True, text=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(run, sorted(by_ns.items())))


def delete_netns(names: list[str]) -> None:
    present = [n for n in names if netns_exists(n)]
    if present:
        subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in present),
                       capture_output=True, text=True)
