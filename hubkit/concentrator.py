"""What the fleet expects on a WireGuard concentrator (the `core` host), and how to compare.

Every hub of the fleet whose ``vpn.concentrator.hostname`` names the same
host is one peer there: a file ``/etc/wireguard/peers/<hub>.conf`` (the
core role installs it and loads it into ``wg0``), the hub's public key
(``secrets/<hub>.pub``) with its tunnel address and site as allowed IPs, and
a route into ``wg0`` for each of the hub's VPN segments (only those: the
management path stays NATed by the hub router, see roles/core/tasks/peer.yml).

The functions below are pure: the `core` verify suite feeds them what it
read from the host, the playbooks' filters (``hubkit_concentrator`` filter
plugin) use the same parsers and selections to remove a hub's peer on
decommission, and unit tests feed them violating input.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Net = ipaddress.IPv4Network

# The role's defaults (core_wg_interface, core_peers_dir) say the same.
WG_IFACE = "wg0"
PEERS_DIR = "/etc/wireguard/peers"


@dataclass(frozen=True)
class HubPeer:
    """One hub as its concentrator should see it."""

    hub_id: str
    public_key: str | None        # None until `hubkit secrets init` made one
    allowed_ips: tuple[Net, ...]  # tunnel address /32 and the site prefix
    routed: tuple[Net, ...]       # the hub's VPN segments, routed into wg0

    @property
    def file(self) -> str:
        return f"{PEERS_DIR}/{self.hub_id}.conf"


def hub_peer(hub, public_key: str | None) -> HubPeer:
    tunnel = ipaddress.IPv4Network(f"{hub.vpn.tunnel_address.ip}/32")
    routed = sorted((s.prefix for s in hub.network.segments.values() if s.vpn_access), key=str)
    return HubPeer(hub.id, public_key or None, (tunnel, hub.network.site_prefix), tuple(routed))


def fleet_peers(fleet, concentrator: str) -> dict[str, HubPeer]:
    """The peers hub ``concentrator`` should have: every valid fleet hub that uses it."""
    from hubkit.secrets import read_public_key
    out = {}
    for hub_id in sorted(fleet.hubs):
        hub = fleet.hubs[hub_id].model
        if hub is not None and hub.vpn.concentrator.hostname == concentrator:
            out[hub_id] = hub_peer(hub, read_public_key(fleet.root, hub_id))
    return out


# -- what the host says -------------------------------------------------------------

def parse_allowed_ips(text: str) -> dict[str, tuple[Net, ...]]:
    """``wg show wg0 allowed-ips``: {public key: allowed networks} (``(none)`` -> no networks)."""
    out: dict[str, tuple[Net, ...]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        nets = []
        for p in parts[1:]:
            try:
                nets.append(ipaddress.IPv4Network(p, strict=False))
            except ValueError:
                continue  # "(none)" or an IPv6 network: not ours
        out[parts[0]] = tuple(nets)
    return out


def parse_routes(text: str) -> list[Net]:
    """Destinations of ``ip -o -4 route show dev wg0``, without the kernel's own route of
    the tunnel network (it comes with wg0's address, not from hubkit)."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if not words or "proto" in words and words[words.index("proto") + 1:][:1] == ["kernel"]:
            continue
        try:
            out.append(ipaddress.IPv4Network(words[0], strict=False))
        except ValueError:
            continue  # "default" or garbage: never one of a hub's routes
    return sorted(out, key=str)


def peer_file_key(text: str) -> str | None:
    """The ``PublicKey`` of a rendered peer file."""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "PublicKey":
            # A base64 key ends in "="; partition split at the first one only.
            return value.strip() or None
    return None


def _within(net: Net, prefixes) -> bool:
    return any(net.subnet_of(p) for p in prefixes)


# -- selections (decommission's removal, the lab's pruning) ------------------------------

def peers_of(live: dict[str, tuple[Net, ...]], keys, prefixes) -> list[str]:
    """Live peers that belong to one hub: by key, or by an allowed IP inside its prefixes
    (a peer left from an earlier key still carries the hub's addresses)."""
    keys = {k for k in keys if k}
    prefixes = [ipaddress.IPv4Network(p, strict=False) for p in prefixes]
    return sorted(k for k, nets in live.items() if k in keys or any(_within(n, prefixes) for n in nets))


def routes_within(routes: list[Net], prefixes) -> list[Net]:
    prefixes = [ipaddress.IPv4Network(p, strict=False) for p in prefixes]
    return [r for r in routes if _within(r, prefixes)]


# -- comparisons (the core verify suite) ---------------------------------------------------

def stale_peer_files(files: dict[str, str], expected: dict[str, HubPeer]) -> list[str]:
    """Peer files (name -> text) that are no fleet hub's, or carry another key than the hub's."""
    problems = []
    for name in sorted(files):
        hub_id = name.removesuffix(".conf")
        peer = expected.get(hub_id)
        if peer is None:
            problems.append(f"{PEERS_DIR}/{name}: {hub_id} is no hub of the fleet on this concentrator "
                            "(decommissioned or unknown)")
            continue
        key = peer_file_key(files[name])
        if peer.public_key and key != peer.public_key:
            problems.append(f"{PEERS_DIR}/{name}: key {key or '(none)'} is not hub {hub_id}'s "
                            f"({peer.public_key})")
    return problems


def stale_live_peers(live: dict[str, tuple[Net, ...]], files: dict[str, str],
                     expected: dict[str, HubPeer]) -> list[str]:
    """Live peers on wg0 that no fleet hub's peer file declares (named by the file they came
    from, if any)."""
    known, stray = {}, {}
    for name, text in files.items():
        hub_id = name.removesuffix(".conf")
        key = peer_file_key(text)
        if key:
            (known if hub_id in expected else stray)[key] = name
    for peer in expected.values():
        if peer.public_key:
            known.setdefault(peer.public_key, peer.hub_id)
    problems = []
    for key in sorted(live):
        if key not in known:
            nets = ", ".join(map(str, live[key])) or "(none)"
            source = f", from {PEERS_DIR}/{stray[key]}" if key in stray else ", in no peer file"
            problems.append(f"live peer {key} (allowed IPs {nets}{source}) belongs to no hub of the fleet")
    return problems


def own_peer_problems(peer: HubPeer, live: dict[str, tuple[Net, ...]], files: dict[str, str]) -> list[str]:
    """The hub's own peer: its file, its key live, exactly its allowed IPs."""
    problems = []
    name = f"{peer.hub_id}.conf"
    if name not in files:
        problems.append(f"no peer file {peer.file}")
    if not peer.public_key:
        return problems + [f"hub {peer.hub_id} has no public key (secrets/{peer.hub_id}.pub)"]
    if peer.public_key not in live:
        return problems + [f"hub {peer.hub_id}'s key {peer.public_key} is not a live peer of {WG_IFACE}"]
    got = sorted(live[peer.public_key], key=str)
    want = sorted(peer.allowed_ips, key=str)
    if got != want:
        problems.append(f"allowed IPs of {peer.hub_id} are {', '.join(map(str, got)) or '(none)'}, "
                        f"want {', '.join(map(str, want))}")
    return problems


def route_problems(routes: list[Net], own: HubPeer, expected: dict[str, HubPeer]) -> list[str]:
    """This hub's VPN segments routed into wg0; no wg0 route that is not a fleet hub's VPN segment."""
    problems = [f"no route {net} dev {WG_IFACE} (VPN segment of {own.hub_id})"
                for net in own.routed if net not in routes]
    allowed = {net: p.hub_id for p in expected.values() for net in p.routed}
    for net in routes:
        if net not in allowed:
            owner = next((p.hub_id for p in expected.values() if _within(net, p.allowed_ips)), None)
            why = (f"inside hub {owner}'s site but not one of its VPN segments" if owner
                   else "no VPN segment of a fleet hub on this concentrator")
            problems.append(f"route {net} dev {WG_IFACE}: {why}")
    return problems


def listener_problems(sockets: list[tuple[str, str, int]], port: int, protos: tuple[str, ...],
                      addresses: list[str], must_listen: bool) -> list[str]:
    """Sockets ``(proto, local address, port)`` of one service: bound only to ``addresses``
    (loopback aside), and, where the host runs the service, listening on each protocol."""
    problems: list[str] = []
    want = set(addresses)
    mine = [(p, ipaddress.ip_address(a)) for p, a, n in sockets if n == port and p in protos]
    for proto, addr in sorted(set(mine), key=str):
        if str(addr) in want or addr.is_loopback:
            continue
        # 0.0.0.0 and [::] both mean every address: say it once.
        problem = f"{proto} {port} listens on {'every address' if addr.is_unspecified else addr}"
        if problem not in problems:
            problems.append(problem)
    if must_listen:
        for proto in protos:
            # A wildcard socket does serve the address (and is reported above).
            if not any(p == proto and (str(a) in want or a.is_unspecified) for p, a in mine):
                problems.append(f"no {proto} {port} on {', '.join(sorted(want)) or '(no address in the model)'}")
    return problems


def parse_ss(text: str) -> list[tuple[str, str, int]]:
    """``ss -H -tuln`` -> (proto, local address, port), IPv6 brackets and zone ids removed."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        addr, _, port = cols[4].rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        if addr == "*":
            addr = "0.0.0.0"
        try:
            ipaddress.ip_address(addr)
            out.append((cols[0], addr, int(port)))
        except ValueError:
            continue
    return out

