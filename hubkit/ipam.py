"""Deterministic, offline address allocation from the fleet's pools.

Everything is plain ``ipaddress`` arithmetic: the first free aligned block
wins, so the same fleet always yields the same allocation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from hubkit.errors import HubkitError

IPv4Net = ipaddress.IPv4Network


class PoolExhaustedError(HubkitError):
    pass


@dataclass(frozen=True)
class Allocation:
    site_prefix: IPv4Net
    segments: dict[str, IPv4Net]
    tunnel_address: ipaddress.IPv4Interface


def first_free(pool: IPv4Net, prefix_length: int, used: Iterable[IPv4Net], what: str) -> IPv4Net:
    if not pool.prefixlen <= prefix_length <= 32:
        raise HubkitError(f"{what}: /{prefix_length} does not fit into pool {pool}",
                          "fix the prefix length in fleet.yaml")
    taken = sorted((n for n in used if n.overlaps(pool)), key=lambda n: n.network_address)
    for candidate in pool.subnets(new_prefix=prefix_length):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise PoolExhaustedError(f"{what}: pool {pool} has no free /{prefix_length} left",
                             "extend the pool in fleet.yaml or decommission a hub")


def allocate_segments(site: IPv4Net, plan: dict[str, int]) -> dict[str, IPv4Net]:
    """Segments in plan order, each the first free block of its size inside ``site``."""
    out: dict[str, IPv4Net] = {}
    for name, length in plan.items():
        out[name] = first_free(site, length, out.values(), f"segment {name!r} in {site}")
    return out


def allocate_tunnel(pool: IPv4Net, used: Iterable[ipaddress.IPv4Address],
                    reserved: Iterable[ipaddress.IPv4Address]) -> ipaddress.IPv4Interface:
    taken = set(used) | set(reserved)
    for host in pool.hosts():
        if host not in taken:
            return ipaddress.IPv4Interface(f"{host}/{pool.prefixlen}")
    raise PoolExhaustedError(f"VPN transfer pool {pool} has no free address left",
                             "extend pools.vpn_transfer in fleet.yaml")


def allocate(fleet, plan: dict[str, int], extra_used: Iterable[IPv4Net] = ()) -> Allocation:
    """Allocate a new hub's addresses, avoiding every hub in ``fleet`` (valid or not)."""
    pools = fleet.config.pools
    used_sites = list(extra_used)
    used_tunnels = []
    for rec in fleet.hubs.values():
        if rec.model is not None:
            used_sites.append(rec.model.network.site_prefix)
            used_tunnels.append(rec.model.vpn.tunnel_address.ip)
        elif rec.tree is not None:
            used_sites.extend(_raw_net(rec.tree, ("network", "site_prefix")))
            used_tunnels.extend(_raw_ip(rec.tree, ("vpn", "tunnel_address")))
    site = first_free(pools.sites, pools.site_prefix_length, used_sites, "site prefix")
    reserved = [pools.vpn_transfer.network_address]
    conc = (fleet.config.defaults.get("vpn") or {}).get("concentrator") or {}
    try:
        reserved.append(ipaddress.IPv4Address(conc.get("address")))
    except (ValueError, TypeError):
        pass
    return Allocation(site, allocate_segments(site, plan),
                      allocate_tunnel(pools.vpn_transfer, used_tunnels, reserved))


def _raw(tree, path) -> str | None:
    node = tree
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return str(node)


def _raw_net(tree, path) -> list[IPv4Net]:
    """Best effort for hubs that fail validation: their prefixes still count as used."""
    try:
        return [ipaddress.IPv4Network(_raw(tree, path), strict=False)]
    except ValueError:
        return []


def _raw_ip(tree, path) -> list[ipaddress.IPv4Address]:
    try:
        return [ipaddress.IPv4Interface(_raw(tree, path)).ip]
    except ValueError:
        return []


# -- released prefixes (written by `hubkit decommission`) -----------------------

RELEASES_FILE = "hubs/_decommissioned/released.yaml"
# Wait this long before giving a released prefix to a new hub: firewall rules,
# DNS and monitoring elsewhere may still name the old hub's addresses.
QUARANTINE_DAYS = 90


def releases(fleet_root) -> list[dict]:
    """Every recorded release: {hub, prefix, released (date)}."""
    import datetime as dt
    from pathlib import Path

    import yaml
    path = Path(fleet_root) / RELEASES_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return []
    out = []
    for r in doc.get("releases") or []:
        when = r.get("released")
        if isinstance(when, str):
            when = dt.date.fromisoformat(when)
        out.append({"hub": str(r.get("hub")), "prefix": str(r.get("prefix")), "released": when})
    return out


def record_release(fleet_root, hub_id: str, prefixes: Iterable[str], when) -> None:
    """Append releases to RELEASES_FILE (temp file + rename)."""
    from pathlib import Path

    import yaml

    from hubkit.atomic import write_atomic
    path = Path(fleet_root) / RELEASES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [{"hub": r["hub"], "prefix": r["prefix"], "released": r["released"].isoformat()}
             for r in releases(fleet_root)]
    items += [{"hub": hub_id, "prefix": str(p), "released": when.isoformat()} for p in prefixes]
    text = ("# Prefixes released by `hubkit decommission`; `hubkit new` warns before reusing\n"
            f"# one within {QUARANTINE_DAYS} days.\n"
            + yaml.safe_dump({"releases": items}, sort_keys=True, default_flow_style=False))
    write_atomic(path, text)


def release_warnings(fleet_root, nets: Iterable, today=None) -> list[str]:
    """Warnings for addresses/prefixes that overlap one released < QUARANTINE_DAYS ago."""
    import datetime as dt
    today = today or dt.date.today()
    out = []
    for net in nets:
        n = ipaddress.ip_network(str(net), strict=False)
        for r in releases(fleet_root):
            age = (today - r["released"]).days
            if age < QUARANTINE_DAYS and n.overlaps(ipaddress.ip_network(r["prefix"], strict=False)):
                out.append(f"{net} overlaps {r['prefix']}, released by hub {r['hub']} {age} day(s) ago "
                           f"(on {r['released'].isoformat()}); wait until "
                           f"{(r['released'] + dt.timedelta(days=QUARANTINE_DAYS)).isoformat()} or make "
                           "sure nothing still refers to the old hub's addresses")
    return out
