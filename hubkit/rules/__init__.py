"""Fleet-wide semantic rules.  One function per rule, each with a stable code.

A rule receives every hub that passed the schema and yields ``Finding``s that
point at the origin of the offending value in the merged tree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from hubkit.errors import Finding
from hubkit.fleet.merge import locate
from hubkit.fleet.repo import Fleet, HubRecord, _gc_paused

RuleFn = Callable[[list[HubRecord]], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    hint: str
    fn: RuleFn


RULES: list[Rule] = []
_BY_CODE: dict[str, Rule] = {}

HOSTNAME_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
POSIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HUB_ID = re.compile(r"^[a-z][a-z0-9-]*$")


def rule(code: str, title: str, hint: str):
    def register(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(code, title, hint, fn))
        _BY_CODE[code] = RULES[-1]
        return fn
    return register


def _finding(rule_code: str, rec: HubRecord, path: tuple, message: str,
             related: HubRecord | None = None) -> Finding:
    r = _BY_CODE[rule_code]
    return Finding(rule_code, message, locate(rec.tree, path), r.hint, rec.id,
                   related=related.id if related is not None and related.id != rec.id else None)


def hostnames(rec: HubRecord) -> Iterator[tuple[tuple, str]]:
    """Every hostname a hub declares, with its path in the tree."""
    hub = rec.model
    yield ("router", "hostname"), hub.router.hostname
    yield ("switch", "hostname"), hub.switch.hostname
    for i, ap in enumerate(hub.access_points):
        yield ("access_points", i, "hostname"), ap.hostname
    for i, ws in enumerate(hub.workstations):
        yield ("workstations", i, "hostname"), ws.hostname


@rule("HK101", "site prefixes of different hubs overlap",
      "allocate a free prefix with `hubkit new` or pick one outside the other hub's")
def site_prefix_overlap(recs):
    ordered = sorted(recs, key=lambda r: (r.model.network.site_prefix.network_address, r.path))
    active: list[HubRecord] = []
    for rec in ordered:
        net = rec.model.network.site_prefix
        active = [a for a in active
                  if a.model.network.site_prefix.broadcast_address >= net.network_address]
        for other in active:
            first, second = sorted([other, rec], key=lambda r: r.path)
            yield _finding("HK101", second, ("network", "site_prefix"),
                           f"site prefix {second.model.network.site_prefix} overlaps "
                           f"{first.model.network.site_prefix} of hub {first.id!r} "
                           f"({locate(first.tree, ('network', 'site_prefix'))})", related=first)
        active.append(rec)


@rule("HK102", "segment outside the hub's site prefix",
      "choose a segment prefix inside network.site_prefix")
def segment_outside_site(recs):
    for rec in recs:
        site = rec.model.network.site_prefix
        for name, seg in rec.model.network.segments.items():
            if not seg.prefix.subnet_of(site):
                yield _finding("HK102", rec, ("network", "segments", name, "prefix"),
                               f"segment {name!r} prefix {seg.prefix} is not inside site prefix {site}")


@rule("HK103", "segments of a hub overlap", "give each segment its own subnet")
def segments_overlap(recs):
    for rec in recs:
        segs = list(rec.model.network.segments.items())
        for i, (a, sa) in enumerate(segs):
            for b, sb in segs[i + 1:]:
                if sa.prefix.overlaps(sb.prefix):
                    yield _finding("HK103", rec, ("network", "segments", b, "prefix"),
                                   f"segment {b!r} ({sb.prefix}) overlaps segment {a!r} ({sa.prefix})")


@rule("HK104", "VLAN id used twice in a hub", "give each segment its own VLAN id")
def vlan_unique(recs):
    for rec in recs:
        seen: dict[int, str] = {}
        for name, seg in rec.model.network.segments.items():
            if seg.vlan in seen:
                yield _finding("HK104", rec, ("network", "segments", name, "vlan"),
                               f"VLAN {seg.vlan} of segment {name!r} is already used by {seen[seg.vlan]!r}")
            seen.setdefault(seg.vlan, name)


@rule("HK105", "VLAN id outside 1-4094", "use a VLAN id from 1 to 4094")
def vlan_range(recs):
    for rec in recs:
        for name, seg in rec.model.network.segments.items():
            if not 1 <= seg.vlan <= 4094:
                yield _finding("HK105", rec, ("network", "segments", name, "vlan"),
                               f"VLAN {seg.vlan} of segment {name!r} is outside 1-4094")


@rule("HK106", "hostname used twice in the fleet",
      "hostnames are fleet-wide; prefix them with the hub id")
def hostname_unique(recs):
    seen: dict[str, HubRecord] = {}
    for rec in sorted(recs, key=lambda r: r.path):
        for path, name in hostnames(rec):
            key = name.lower()
            if key in seen:
                yield _finding("HK106", rec, path,
                               f"hostname {name!r} is already used in hub {seen[key].id!r}",
                               related=seen[key])
            else:
                seen[key] = rec


@rule("HK107", "hostname is not a valid RFC 1123 name",
      "use lowercase letters, digits and hyphens; no leading or trailing hyphen")
def hostname_syntax(recs):
    for rec in recs:
        for path, name in hostnames(rec):
            labels = name.split(".")
            if len(name) > 253 or not all(HOSTNAME_LABEL.match(lbl) for lbl in labels):
                yield _finding("HK107", rec, path, f"hostname {name!r} is not a valid RFC 1123 name")


@rule("HK108", "username used twice in a hub", "each staff member needs their own username")
def username_unique(recs):
    for rec in recs:
        seen: set[str] = set()
        for i, member in enumerate(rec.model.staff):
            if member.username in seen:
                yield _finding("HK108", rec, ("staff", i, "username"),
                               f"username {member.username!r} appears twice")
            seen.add(member.username)


@rule("HK109", "username is not a valid POSIX name",
      "start with a lowercase letter or _, then up to 31 of a-z 0-9 _ -")
def username_syntax(recs):
    for rec in recs:
        for i, member in enumerate(rec.model.staff):
            if not POSIX_USER.match(member.username):
                yield _finding("HK109", rec, ("staff", i, "username"),
                               f"username {member.username!r} is not a valid POSIX user name")


@rule("HK110", "more workstations than workplaces",
      "raise `workplaces` or remove workstations")
def workstations_fit(recs):
    for rec in recs:
        hub = rec.model
        if len(hub.workstations) > hub.workplaces:
            yield _finding("HK110", rec, ("workstations", hub.workplaces, "hostname"),
                           f"{len(hub.workstations)} workstations but only {hub.workplaces} workplaces")


@rule("HK111", "workstation on an unknown segment", "use one of the hub's network.segments")
def workstation_segment(recs):
    for rec in recs:
        segs = rec.model.network.segments
        for i, ws in enumerate(rec.model.workstations):
            if ws.segment not in segs:
                yield _finding("HK111", rec, ("workstations", i, "segment"),
                               f"workstation {ws.hostname!r} names unknown segment {ws.segment!r} "
                               f"(known: {', '.join(sorted(segs))})")


@rule("HK112", "VPN tunnel address used twice in the fleet or equal to the concentrator's",
      "allocate a free tunnel address with `hubkit new`")
def tunnel_unique(recs):
    seen: dict[ipaddress.IPv4Address, HubRecord] = {}
    for rec in sorted(recs, key=lambda r: r.path):
        ip = rec.model.vpn.tunnel_address.ip
        if ip == rec.model.vpn.concentrator.address:
            yield _finding("HK112", rec, ("vpn", "tunnel_address"),
                           f"tunnel address {ip} is the concentrator's own address")
        if ip in seen:
            yield _finding("HK112", rec, ("vpn", "tunnel_address"),
                           f"tunnel address {ip} is already used by hub {seen[ip].id!r}",
                           related=seen[ip])
        else:
            seen[ip] = rec


@rule("HK113", "DNS zone used twice in the fleet", "give each hub its own services.dns_zone")
def zone_unique(recs):
    seen: dict[str, HubRecord] = {}
    for rec in sorted(recs, key=lambda r: r.path):
        zone = rec.model.services.dns_zone.lower().rstrip(".")
        if zone in seen:
            yield _finding("HK113", rec, ("services", "dns_zone"),
                           f"DNS zone {zone!r} is already used by hub {seen[zone].id!r}",
                           related=seen[zone])
        else:
            seen[zone] = rec


@rule("HK114", "hub id does not match its file name or is malformed",
      "set `id` to the file name without .yaml; lowercase [a-z][a-z0-9-]*")
def id_matches_file(recs):
    for rec in recs:
        hub_id = rec.model.id
        if hub_id != rec.id:
            yield _finding("HK114", rec, ("id",),
                           f"id {hub_id!r} does not match file name {rec.path!r}")
        elif not HUB_ID.match(hub_id):
            yield _finding("HK114", rec, ("id",), f"id {hub_id!r} is not of the form [a-z][a-z0-9-]*")


@rule("HK115", "workstation assigned to an unknown staff member",
      "use a username from the hub's staff list")
def assignee_known(recs):
    for rec in recs:
        users = {m.username for m in rec.model.staff}
        for i, ws in enumerate(rec.model.workstations):
            if ws.assigned_to is not None and ws.assigned_to not in users:
                yield _finding("HK115", rec, ("workstations", i, "assigned_to"),
                               f"workstation {ws.hostname!r} is assigned to unknown user {ws.assigned_to!r}")


@rule("HK116", "switch port used twice or out of range",
      "pick a free port between 1 and switch.ports, not the uplink port")
def switch_ports(recs):
    for rec in recs:
        sw = rec.model.switch
        used = {sw.uplink_port: "the uplink"}
        if not 1 <= sw.uplink_port <= sw.ports:
            yield _finding("HK116", rec, ("switch", "uplink_port"),
                           f"uplink port {sw.uplink_port} is outside 1-{sw.ports}")
        for i, ws in enumerate(rec.model.workstations):
            if ws.port is None:
                continue
            if not 1 <= ws.port <= sw.ports:
                yield _finding("HK116", rec, ("workstations", i, "port"),
                               f"port {ws.port} of {ws.hostname!r} is outside 1-{sw.ports}")
            elif ws.port in used:
                yield _finding("HK116", rec, ("workstations", i, "port"),
                               f"port {ws.port} of {ws.hostname!r} is already used by {used[ws.port]}")
            used.setdefault(ws.port, ws.hostname)


@rule("HK117", "hub has no mgmt segment",
      "add a `mgmt` segment: hosts are managed on it")
def mgmt_present(recs):
    for rec in recs:
        if "mgmt" not in rec.model.network.segments:
            yield _finding("HK117", rec, ("network", "segments"), "network.segments has no 'mgmt' segment")


@rule("HK118", "static uplink without address or gateway, or gateway outside its network",
      "set uplink.address (CIDR) and uplink.gateway, or use mode: dhcp")
def uplink_static(recs):
    for rec in recs:
        up = rec.model.uplink
        if up.mode == "static" and (up.address is None or up.gateway is None):
            yield _finding("HK118", rec, ("uplink", "mode"), "uplink mode is static but address or gateway is missing")
        elif up.mode == "static" and up.gateway not in up.address.network:
            yield _finding("HK118", rec, ("uplink", "gateway"),
                           f"gateway {up.gateway} is not in the uplink network {up.address.network}")


def validate(fleet: Fleet, ids: Iterable[str] | None = None, *, exactly: bool = False) -> list[Finding]:
    """Schema and rule findings for the selected hubs (all hubs when ``ids`` is empty,
    unless ``exactly``: then an empty selection reports only fleet-level findings).

    Fleet-wide rules always look at every valid hub, but only findings that
    belong to a selected hub are reported.
    """
    with _gc_paused():
        return _validate(fleet, list(ids or []), exactly)


def _validate(fleet: Fleet, ids: list[str], exactly: bool) -> list[Finding]:
    selected = set() if exactly and not ids else {r.id for r in fleet.select(ids)}
    findings = list(fleet.findings)
    valid = []
    for rec in fleet.hubs.values():
        if rec.id in selected:
            findings.extend(rec.findings)
        if rec.model is not None and not rec.findings:
            valid.append(rec)
    for r in RULES:
        for f in r.fn(valid):
            if f.hub in selected or f.related in selected:
                findings.append(f)
    return sorted(set(findings), key=Finding.sort_key)


def findings_by_hub(findings: list[Finding]) -> dict[str | None, list[Finding]]:
    out: dict[str | None, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.hub, []).append(f)
    return out


# Rules kept in their own modules register on import (after `rule` exists).
from hubkit.rules import admins as _admins  # noqa: E402,F401
from hubkit.rules import interfaces as _interfaces  # noqa: E402,F401


def valid_hub(fleet: Fleet, hub_id: str):
    """The hub's model, refusing (FindingsError, exit 1) a hub with validation errors."""
    from hubkit.errors import FindingsError
    rec = fleet.hub(hub_id)
    found = [f for f in validate(fleet, [hub_id]) if f.severity == "error"]
    if found or rec.model is None:
        raise FindingsError(found or rec.findings)
    return rec.model
