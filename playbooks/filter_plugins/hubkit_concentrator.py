"""Filters for the concentrator's peers and routes (roles/core): hub peers to remove, stale routes.

The parsing and selection live in ``hubkit.concentrator`` (the `core` verify
suite compares with the same code), so what decommission removes is exactly
what verify would call this hub's.
"""

from __future__ import annotations


def hubkit_wg_keys(allowed_ips_text: str) -> list[str]:
    """Public keys of the live peers in ``wg show wg0 allowed-ips``."""
    from hubkit.concentrator import parse_allowed_ips
    return sorted(parse_allowed_ips(allowed_ips_text))


def hubkit_wg_routes(route_text: str) -> list[str]:
    """Destinations of ``ip -o -4 route show dev wg0``, the kernel's own route aside."""
    from hubkit.concentrator import parse_routes
    return [str(n) for n in parse_routes(route_text)]


def hubkit_hub_peers(allowed_ips_text: str, keys: list[str], prefixes: list[str]) -> list[str]:
    """Live peers of one hub: by key, or with an allowed IP inside the hub's prefixes."""
    from hubkit.concentrator import parse_allowed_ips, peers_of
    return peers_of(parse_allowed_ips(allowed_ips_text), keys, prefixes)


def hubkit_routes_within(route_text: str, prefixes: list[str]) -> list[str]:
    """wg0 routes (``ip -o -4 route show dev wg0``, kernel routes aside) inside ``prefixes``."""
    from hubkit.concentrator import parse_routes, routes_within
    return [str(n) for n in routes_within(parse_routes(route_text), prefixes)]


class FilterModule:
    def filters(self):
        return {"hubkit_wg_keys": hubkit_wg_keys, "hubkit_wg_routes": hubkit_wg_routes,
                "hubkit_hub_peers": hubkit_hub_peers, "hubkit_routes_within": hubkit_routes_within}
