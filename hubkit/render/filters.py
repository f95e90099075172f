"""Jinja2 filters for addresses, built on ``ipaddress``.

Templates receive addresses as strings (plain data), so every filter accepts
a string or an ``ipaddress`` object and returns a string (or int).
"""

from __future__ import annotations

import ipaddress
import json

import yaml

try:  # libyaml is ~10x faster; fall back to the pure-Python dumper.
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeDumper as _Dumper


def _iface(value) -> ipaddress.IPv4Interface:
    return ipaddress.IPv4Interface(str(value))


def ip(value) -> str:
    """'10.0.0.1/24' -> '10.0.0.1' (an address passes through)."""
    return str(_iface(value).ip)


def prefixlen(value) -> int:
    """'10.0.0.1/24' or '10.0.0.0/24' -> 24."""
    return _iface(value).network.prefixlen


def netmask(value) -> str:
    """'10.0.0.0/24' -> '255.255.255.0'."""
    return str(_iface(value).netmask)


def network(value) -> str:
    """'10.0.0.1/24' -> '10.0.0.0/24'."""
    return str(_iface(value).network)


def host32(value) -> str:
    """'10.0.0.1' or '10.0.0.1/24' -> '10.0.0.1/32' (a WireGuard AllowedIPs entry)."""
    return f"{_iface(value).ip}/32"


def nth_host(value, n: int) -> str:
    """n-th usable host of a network: nth_host('10.0.0.0/24', 1) -> '10.0.0.1'."""
    net = ipaddress.IPv4Network(str(value), strict=False)
    if net.prefixlen >= 31:
        first, count = int(net.network_address), net.num_addresses
    else:
        first, count = int(net.network_address) + 1, net.num_addresses - 2
    if not 1 <= n <= count:
        raise ValueError(f"{net} has no host number {n}")
    return str(ipaddress.IPv4Address(first + n - 1))


def to_yaml(value) -> str:
    """Block-style YAML with sorted keys (deterministic)."""
    # No trailing newline: the template's own line end closes the document.
    return yaml.dump(value, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=1000).rstrip("\n")


def to_json(value) -> str:
    """Indented JSON with sorted keys (deterministic)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def nft_set(values) -> str:
    """['a', 'b'] -> '{ a, b }' (an nftables anonymous set; strings are quoted by the caller)."""
    return "{ " + ", ".join(str(v) for v in values) + " }"


def quoted(values) -> list[str]:
    """['vl10'] -> ['"vl10"'] (interface names in nftables rules)."""
    return [f'"{v}"' for v in values]


FILTERS = {
    "ip": ip, "prefixlen": prefixlen, "netmask": netmask, "network": network,
    "host32": host32, "nth_host": nth_host, "to_yaml": to_yaml, "to_json": to_json,
    "nft_set": nft_set, "quoted": quoted,
}
