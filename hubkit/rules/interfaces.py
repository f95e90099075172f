"""Rules for the router's interface names (``router.interfaces``): HK126-HK128.

The names end up in systemd-networkd files, nftables rules, dnsmasq and the
lab's veth links, so a name the kernel refuses would only fail at configure
time on the site; these rules catch it at validate time with its origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hubkit.errors import Finding
from hubkit.fleet.merge import locate
from hubkit.fleet.yamlload import YMap
from hubkit.rules import _BY_CODE, _finding, rule

# Linux accepts up to IFNAMSIZ-1 = 15 bytes and refuses "/", ":" and
# whitespace; hubkit is stricter so a name is also safe in nftables, dnsmasq
# and file names without quoting.
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# Interfaces the router has whatever the hub says: loopback and the tunnel.
RESERVED = {"lo": "the loopback interface", "wg0": "the WireGuard tunnel"}
IFACES = ("router", "interfaces")


def valid_ifname(name: str) -> bool:
    return bool(IFNAME.match(name)) and name not in (".", "..")


def named(rec) -> Iterator[tuple[tuple, str, str]]:
    """Every interface name the hub sets explicitly: (path, name, what it is)."""
    ifaces = rec.model.router.interfaces
    yield IFACES + ("uplink",), ifaces.uplink, "the uplink"
    if ifaces.trunk is not None:
        yield IFACES + ("trunk",), ifaces.trunk, "the trunk port"
    for seg, name in ifaces.segments.items():
        yield IFACES + ("segments", seg), name, f"segment {seg!r}"


@rule("HK126", "router interface name is not a valid Linux interface name",
      "use 1-15 of A-Z a-z 0-9 _ . - (not '.' or '..'), e.g. enp2s0 or enp2s0.10")
def ifname_syntax(recs):
    for rec in recs:
        for path, name, what in named(rec):
            if not valid_ifname(name):
                yield _finding("HK126", rec, path,
                               f"interface {name!r} of {what} is not a valid Linux interface name")


@rule("HK127", "router interface name used twice on the router",
      "give the uplink, the trunk and every segment their own interface; lo and wg0 are taken")
def ifname_unique(recs):
    for rec in recs:
        hub = rec.model
        seen: dict[str, str] = {}
        # Names the hub does not set come first, so a clash is reported on the
        # name someone wrote (a default has no line to point at).
        explicit = hub.router.interfaces.segments
        for seg, s in hub.network.segments.items():
            if seg not in explicit:
                seen.setdefault(f"vl{s.vlan}", f"segment {seg!r} (default vl<vlan>)")
        for path, name, what in named(rec):
            if name in RESERVED:
                yield _finding("HK127", rec, path, f"interface {name!r} of {what} is {RESERVED[name]}")
            elif name in seen:
                yield _finding("HK127", rec, path,
                               f"interface {name!r} of {what} is already used by {seen[name]}")
            else:
                seen[name] = what


@rule("HK128", "router.interfaces.segments names a segment the hub does not have",
      "use a segment name from network.segments, or remove the entry")
def ifname_segment_known(recs):
    for rec in recs:
        segs = rec.model.network.segments
        for seg in rec.model.router.interfaces.segments:
            if seg not in segs:
                yield Finding("HK128", f"router.interfaces.segments names unknown segment {seg!r} "
                                       f"(known: {', '.join(sorted(segs))})",
                              _key_origin(rec.tree, IFACES + ("segments", seg)), _BY_CODE["HK128"].hint,
                              rec.id)


def _key_origin(tree, path: tuple):
    """Where the last key of ``path`` is written (the key itself is what is wrong)."""
    parent = tree
    for part in path[:-1]:
        parent = parent.get(part) if isinstance(parent, YMap) else None
    if isinstance(parent, YMap) and path[-1] in parent.key_origins:
        return parent.key_origins[path[-1]]
    return locate(tree, path)
