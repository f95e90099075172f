"""Static checks of a rendered Cisco IOS switch config (``build/<id>/switch/cisco-ios.cfg``).

No IOS device exists in the lab, where a Linux bridge stands in for the
switch (docs/lab.md), so what would be pushed to the device is read here
instead: hubkit runs these checks before configure (at the site before the
IOS play pushes the file, in the lab in its place) and the audit shows them
as rendered evidence.  Expected values come from the hub model
(``hubkit.topology``), never from the file itself.

A deliberately small parser: IOS configs are top-level lines with indented
children; that is all these checks need (ciscoconfparse2 stays a test-only
dependency that cross-checks the structure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError

CONFIG = "switch/cisco-ios.cfg"
DIALECT = "cisco-ios"


@dataclass(frozen=True)
class Block:
    """One top-level line (1-based ``line``) and its indented children."""

    line: int
    text: str
    children: tuple[tuple[int, str], ...] = ()

    def has(self, text: str) -> bool:
        return any(c == text for _, c in self.children)

    def child(self, prefix: str) -> list[tuple[int, str]]:
        return [(n, c) for n, c in self.children if c.startswith(prefix)]


def parse(text: str) -> list[Block]:
    blocks: list[Block] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        if line[0].isspace() and blocks:
            last = blocks[-1]
            blocks[-1] = Block(last.line, last.text, (*last.children, (n, line.strip())))
        else:
            blocks.append(Block(n, line.strip()))
    return blocks


@dataclass(frozen=True)
class Result:
    id: str
    ok: bool
    title: str
    detail: str
    line: int = 1  # where the finding (or the block that passed) is

    def where(self, path: str) -> str:
        return f"{path}:{self.line}:1"


class Config:
    """The parsed config with lookups by top-level line."""

    def __init__(self, text: str):
        self.blocks = parse(text)
        self.by_text = {b.text: b for b in self.blocks}

    def get(self, text: str) -> Block | None:
        return self.by_text.get(text)

    def starting(self, prefix: str) -> list[Block]:
        return [b for b in self.blocks if b.text.startswith(prefix)]


def port_name(n: int) -> str:
    # Same numbering as render's switch ports (hubkit.render.context._ios_port).
    return f"GigabitEthernet1/0/{n}"


def vlan_list(spec: str) -> set[int] | None:
    """``10,20-22`` -> {10, 20, 21, 22}; None for anything else (``all``, ``none``, junk)."""
    out: set[int] = set()
    for part in spec.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            return None
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        out.update(range(lo, hi + 1))
    return out


def _vlans(cfg: Config, topo) -> Result:
    bad, line = [], 1
    for s in sorted(topo.segments.values(), key=lambda s: s.vlan):
        b = cfg.get(f"vlan {s.vlan}")
        if b is None:
            bad.append(f"VLAN {s.vlan} ({s.name}) is not defined")
        elif not b.has(f"name {s.name}"):
            bad.append(f"VLAN {s.vlan} is not named {s.name!r}")
            line = b.line
    first = cfg.starting("vlan ")
    return Result("vlans", not bad, "every segment's VLAN is defined and named after it",
                  "; ".join(bad) or f"{len(topo.segments)} VLANs defined",
                  line if line > 1 or not first else first[0].line)


def _access_ports(cfg: Config, topo) -> Result:
    hosts = [h for h in (*topo.workstations, topo.mgmt_host) if h.switch_port]
    bad, line = [], 0
    for h in hosts:
        vlan = topo.segments[h.segment].vlan
        b = cfg.get(f"interface {port_name(h.switch_port)}")
        if b is None:
            bad.append(f"port {h.switch_port} of {h.name} is missing")
            continue
        if not (b.has("switchport mode access") and b.has(f"switchport access vlan {vlan}")):
            found = [c for _, c in b.child("switchport ")] or ["no switchport lines"]
            bad.append(f"port {h.switch_port} of {h.name} must be an access port in VLAN {vlan} "
                       f"({h.segment}), has: {', '.join(found)}")
            line = line or b.line
    ports = [b for h in hosts if (b := cfg.get(f"interface {port_name(h.switch_port)}"))]
    return Result("access_ports", not bad, "each host's access port carries its segment's VLAN",
                  "; ".join(bad) or f"{len(hosts)} access ports in their segment's VLAN",
                  line or (ports[0].line if ports else 1))


def _trunk(cfg: Config, topo, uplink_port: int) -> Result:
    want = {s.vlan for s in topo.segments.values()}
    title = "the uplink trunk to the router allows exactly the segment VLANs"
    b = cfg.get(f"interface {port_name(uplink_port)}")
    if b is None:
        return Result("trunk", False, title, f"uplink port {uplink_port} is missing")
    allowed: set[int] = set()
    problems = [] if b.has("switchport mode trunk") else ["not in switchport mode trunk"]
    lines = b.child("switchport trunk allowed vlan ")
    for _, c in lines:
        spec = c[len("switchport trunk allowed vlan "):]
        add = spec.startswith("add ")
        vlans = vlan_list(spec[4:] if add else spec)
        if vlans is None:
            problems.append(f"cannot read {c!r} (only lists and ranges are accepted)")
            continue
        allowed = allowed | vlans if add else vlans
    if not lines:
        problems.append("no 'switchport trunk allowed vlan' (IOS then allows every VLAN)")
    elif allowed != want:
        extra, missing = sorted(allowed - want), sorted(want - allowed)
        problems.append("allows " + ",".join(map(str, sorted(allowed)))
                        + (f"; extra {extra}" if extra else "") + (f"; missing {missing}" if missing else ""))
    return Result("trunk", not problems, title,
                  "; ".join(problems) or "allows " + ",".join(map(str, sorted(want))),
                  lines[0][0] if lines else b.line)


def _mgmt(cfg: Config, topo) -> Result:
    mgmt = topo.segments.get("mgmt")
    title = "management address only on the mgmt VLAN interface, gateway the router"
    if mgmt is None:
        return Result("mgmt", False, title, "the hub has no mgmt segment")
    addr = topo.switch.address
    want = f"ip address {addr.ip} {addr.network.netmask}"
    svi = cfg.get(f"interface Vlan{mgmt.vlan}")
    other = [b for b in cfg.starting("interface ") if b is not svi and b.child("ip address ")]
    gw = cfg.get(f"ip default-gateway {mgmt.router_address.ip}")
    bad = []
    if svi is None or not svi.has(want):
        bad.append(f"interface Vlan{mgmt.vlan} lacks '{want}'")
    bad += [f"{b.text} also has an address" for b in other]
    if gw is None:
        bad.append(f"no 'ip default-gateway {mgmt.router_address.ip}'")
    line = (other[0].line if other else svi.line if svi else 1)
    return Result("mgmt", not bad, title, "; ".join(bad) or f"{addr} on Vlan{mgmt.vlan}", line)


def _unused_ports(cfg: Config, topo, hub) -> Result:
    used = {hub.switch.uplink_port} | {h.switch_port for h in (*topo.workstations, topo.mgmt_host)
                                       if h.switch_port}
    unused = [n for n in range(1, hub.switch.ports + 1) if n not in used]
    bad = [b for n in unused if (b := cfg.get(f"interface {port_name(n)}")) is not None
           and not b.has("shutdown")]
    missing = [n for n in unused if cfg.get(f"interface {port_name(n)}") is None]
    detail = "; ".join([f"{b.text} is not shut down" for b in bad]
                       + [f"port {n} is not configured (IOS leaves it enabled)" for n in missing])
    present = [b for n in unused if (b := cfg.get(f"interface {port_name(n)}"))]
    return Result("unused_ports", not detail, "every unused port is shut down",
                  detail or f"{len(unused)} unused ports shut down",
                  (bad or present)[0].line if bad or present else 1)


def _ssh_v2(cfg: Config) -> Result:
    v = cfg.starting("ip ssh version ")
    ok = [b.text for b in v] == ["ip ssh version 2"]
    return Result("ssh_v2", ok, "SSH version 2 only",
                  "ip ssh version 2" if ok else
                  ("; ".join(b.text for b in v) or "no 'ip ssh version 2' (IOS then accepts SSH 1)"),
                  v[0].line if v else 1)


def _no_telnet(cfg: Config) -> Result:
    vtys = cfg.starting("line vty ")
    bad = [(b, [c for _, c in b.child("transport input")] or ["no 'transport input' (defaults allow telnet)"])
           for b in vtys if [c for _, c in b.child("transport input")] != ["transport input ssh"]]
    detail = ("no 'line vty' (IOS defaults apply)" if not vtys else
              "; ".join(f"{b.text}: {', '.join(found)}" for b, found in bad))
    return Result("no_telnet", bool(vtys) and not bad, "remote logins over SSH only (no telnet)",
                  detail or "transport input ssh on every vty",
                  bad[0][0].line if bad else vtys[0].line if vtys else 1)


def _no_http(cfg: Config) -> Result:
    on = [b for b in cfg.blocks if b.text in ("ip http server", "ip http secure-server")]
    off = [t for t in ("no ip http server", "no ip http secure-server") if cfg.get(t) is None]
    bad = [f"{b.text} (line {b.line})" for b in on] + [f"missing '{t}'" for t in off]
    first = on[0] if on else cfg.get("no ip http server")
    return Result("no_http", not bad, "no HTTP(S) management server",
                  "; ".join(bad) or "no ip http server, no ip http secure-server",
                  first.line if first else 1)


# Check ids in report order, each with what it evidences (audit: hubkit.audit.catalog).
CHECK_IDS = ("vlans", "access_ports", "trunk", "mgmt", "unused_ports", "ssh_v2", "no_telnet", "no_http")


def check(text: str, hub, topo) -> list[Result]:
    """Every check, in ``CHECK_IDS`` order."""
    cfg = Config(text)
    return [_vlans(cfg, topo), _access_ports(cfg, topo), _trunk(cfg, topo, hub.switch.uplink_port),
            _mgmt(cfg, topo), _unused_ports(cfg, topo, hub), _ssh_v2(cfg), _no_telnet(cfg), _no_http(cfg)]


def applies(hub) -> bool:
    return hub.switch.dialect == DIALECT


def check_build(build_dir: Path, hub) -> list[Result]:
    """Check ``build_dir``'s IOS config; HubkitError naming file:line:col for every failure."""
    from hubkit.topology import build
    path = Path(build_dir) / CONFIG
    rel = f"build/{hub.id}/{CONFIG}"
    if not path.is_file():
        raise PrerequisiteError(f"{rel} is missing", f"run `hubkit render {hub.id}`")
    results = check(path.read_text(encoding="utf-8"), hub, build(hub))
    failed = [r for r in results if not r.ok]
    if failed:
        raise HubkitError(f"{len(failed)} static check(s) of the IOS switch config failed:\n"
                          + "\n".join(f"  {r.where(rel)}: {r.title}: {r.detail}" for r in failed),
                          "the config is rendered from the hub: fix the template or the hub, "
                          f"then `hubkit render {hub.id}`")
    return results


def precheck(build_dir: Path, hub) -> str | None:
    """Before configure: check a cisco-ios hub's rendered config (raises on a failure).

    Returns the line callers print and journal, or None for a Linux switch.
    """
    if not applies(hub):
        return None
    return f"{CONFIG}: {len(check_build(build_dir, hub))} static checks passed"
