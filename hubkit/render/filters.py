"""Jinja2 filters for addresses, built on ``ipaddress``.

Templates receive addresses as strings (plain data), so every filter accepts
a string or an ``ipaddress`` object and returns a string (or int).
"""

from __future__ import annotations

import ipaddress
import json
import re


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


_quote = json.encoder.encode_basestring  # the C escaper json.dumps uses for ensure_ascii=False
_PLAIN_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")


def _scalar(v) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    # Strings are always double-quoted JSON strings, a subset of YAML: never
    # re-typed as bool/int/float/null on load, no resolver needed.  This is
    # json.dumps(v, ensure_ascii=False) without building an encoder per call.
    return _quote(str(v))


def _key(k) -> str:
    k = str(k)
    return k if _PLAIN_KEY.match(k) and k not in _YAML11_WORDS else _quote(k)


_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _emit(value, indent: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            v = value[k]
            if isinstance(v, (dict, list)) and v:
                out.append(f"{indent}{_key(k)}:")
                _emit(v, indent + "  ", out)
            else:
                out.append(f"{indent}{_key(k)}: {_block_empty(v)}")
    else:
        for v in value:
            if isinstance(v, (dict, list)) and v:
                sub: list[str] = []
                _emit(v, indent + "  ", sub)
                sub[0] = f"{indent}- {sub[0][len(indent) + 2:]}"
                out.extend(sub)
            else:
                out.append(f"{indent}- {_block_empty(v)}")


def _block_empty(v) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def to_yaml(value) -> str:
    """Block-style YAML with sorted keys (deterministic); no trailing newline.

    A small emitter for plain data: PyYAML's representer is pure Python and
    was half the render time of a 1,000-hub fleet.  Tests check that
    ``yaml.safe_load`` gives the data back.
    """
    if not isinstance(value, (dict, list)) or not value:
        return _block_empty(value)
    out: list[str] = []
    _emit(value, "", out)
    return "\n".join(out)


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
