"""Static checks of the rendered configuration (``build/<id>/``) and the offline plan.

Each check reads what render produced and yields ``Evidence`` naming the
file and line it looked at.  Rules of thumb:
- a feature rendered for no host at all yields *no* evidence (the report then
  says what a human must show), never a pass;
- a feature rendered but wrong, or missing on a host that needs it, yields a
  failing item.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.audit.model import PLANNED, RECORDED, RENDERED, Evidence


@dataclass
class Sources:
    """Everything an audit looks at, gathered once (see ``hubkit.audit.evidence``)."""

    hub: object                 # hubkit.model.Hub
    topo: object                # hubkit.topology.Topology
    build_dir: Path             # build/<id>
    build_rel: str              # "build/<id>" as shown in refs
    manifest: dict | None = None
    plan: dict | None = None    # offline plan JSON
    plan_findings: list = field(default_factory=list)  # Finding
    git: dict | None = None
    configure: dict | None = None
    cloud: object | None = None  # hubkit.cloud.record.CloudRecord: provisioned, planned, skipped

    def read(self, rel: str) -> str | None:
        p = self.build_dir / rel
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None

    def ref(self, rel: str, line: int | None = None) -> str:
        return f"{self.build_rel}/{rel}" + (f":{line}" if line else "")


StaticCheck = Callable[[Sources], Iterator[Evidence]]
STATIC: list[tuple[str, StaticCheck]] = []


def static(check_id: str):
    def reg(fn: StaticCheck) -> StaticCheck:
        STATIC.append((check_id, fn))
        return fn
    return reg


def run_all(src: Sources) -> list[Evidence]:
    out: list[Evidence] = []
    for _id, fn in STATIC:
        out.extend(fn(src))
    return out


# ---------------------------------------------------------------- nftables

@dataclass
class Chain:
    name: str
    policy: str | None
    policy_line: int
    rules: list[tuple[int, str]]  # (1-based line, rule text without comments)


def parse_chains(text: str) -> dict[str, Chain]:
    """Chains of the ``inet filter`` table: enough structure for the checks here."""
    chains: dict[str, Chain] = {}
    table = None
    current: Chain | None = None
    depth = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"table\s+(\w+)\s+(\w+)\s*\{", line)
        if m and depth == 0:
            table, depth = f"{m.group(1)} {m.group(2)}", 1
            continue
        m = re.match(r"chain\s+(\S+)\s*\{", line)
        if m and depth == 1:
            current, depth = Chain(m.group(1), None, n, []), 2
            if table == "inet filter":
                chains[current.name] = current
            continue
        if line == "}":
            depth -= 1
            if depth < 2:
                current = None
            continue
        if current is not None:
            m = re.search(r"policy\s+(\w+)", line)
            if line.startswith("type ") and m:
                current.policy, current.policy_line = m.group(1), n
            else:
                current.rules.append((n, line))
    return chains


def _router_file(src: Sources, rel: str) -> tuple[str, str | None]:
    path = f"hosts/{src.topo.router.name}/{rel}"
    return path, src.read(path)


def _nft(src: Sources):
    path, text = _router_file(src, "etc/nftables.conf")
    return path, (parse_chains(text) if text is not None else None), text


def _filter_chains(chains):
    """The input and forward chains the ruleset has, as (name, chain)."""
    return [(name, chains[name]) for name in ("input", "forward") if name in chains]


def _iface(src: Sources, segment: str) -> str:
    return src.topo.segments[segment].router_iface


@static("nft.default_deny")
def _default_deny(src):
    path, chains, _ = _nft(src)
    if chains is None:
        return
    for name in ("input", "forward"):
        c = chains.get(name)
        ok = c is not None and c.policy == "drop"
        yield Evidence(f"nft.default_deny:{name}", RENDERED, ok,
                       f"firewall {name} chain policy is drop",
                       f"policy {c.policy if c else '(chain missing)'}; allowlist rules only "
                       "above it" if ok else f"policy is {c.policy if c else 'missing'}, not drop",
                       src.ref(path, c.policy_line if c else None))


@static("nft.guest_isolated")
def _guest_isolated(src):
    path, chains, _ = _nft(src)
    if chains is None or "forward" not in chains:
        return
    fwd = chains["forward"]
    for seg in (s for s in src.topo.segments.values() if s.isolated):
        iface, wan = seg.router_iface, src.topo.wan_iface
        bad = [(n, r) for n, r in fwd.rules
               if f'iifname "{iface}"' in r and r.endswith("accept")
               and f'oifname "{wan}"' not in r]
        # Forwarding into the site from an isolated segment needs an accept; none may exist.
        lines = [n for n, r in fwd.rules if f'iifname "{iface}"' in r] or [fwd.policy_line]
        yield Evidence(f"nft.guest_isolated:{seg.name}", RENDERED, not bad,
                       f"segment {seg.name} ({iface}) forwards to the WAN only",
                       "accept rules towards internal interfaces: " +
                       "; ".join(f"line {n}: {r}" for n, r in bad) if bad else
                       f"every accept from {iface} is limited to oifname {wan}; "
                       "everything else hits the forward policy drop",
                       src.ref(path, lines[0]))


@static("nft.ssh_mgmt_only")
def _ssh_mgmt(src):
    path, chains, _ = _nft(src)
    if chains is None or "input" not in chains:
        return
    mgmt = src.topo.segments.get("mgmt")
    if mgmt is None:
        return
    ssh = [(n, r) for n, r in chains["input"].rules
           if re.search(r"\bdport\s+(22|\{[^}]*\b22\b[^}]*\}|ssh)\b", r) and "accept" in r]
    bad = [(n, r) for n, r in ssh
           if f'iifname "{mgmt.router_iface}"' not in r or str(mgmt.prefix) not in r]
    ok = bool(ssh) and not bad
    yield Evidence("nft.ssh_mgmt_only", RENDERED, ok,
                   "SSH to the router accepted only from the management segment",
                   f"{len(ssh)} SSH rule(s), all limited to {mgmt.router_iface} and {mgmt.prefix}"
                   if ok else "SSH accepted from elsewhere: " + "; ".join(r for _, r in bad)
                   if bad else "no SSH rule for management",
                   src.ref(path, (ssh or [(None, "")])[0][0]))


@static("nft.stateful")
def _stateful(src):
    path, chains, _ = _nft(src)
    if chains is None:
        return
    for name, c in _filter_chains(chains):
        est = next((n for n, r in c.rules if re.search(r"ct state established,related accept", r)), None)
        inv = next((n for n, r in c.rules if "ct state invalid" in r and r.endswith("drop")), None)
        ok = est is not None and inv is not None and inv < est
        yield Evidence(f"nft.stateful:{name}", RENDERED, ok,
                       f"{name} chain filters statefully and drops invalid packets first",
                       "conntrack state for every protocol (TCP, UDP, ICMP); packets conntrack "
                       "marks invalid, including impossible TCP flag combinations, are dropped "
                       "before established traffic is accepted" if ok else
                       "missing 'ct state invalid drop' before 'ct state established,related accept'",
                       src.ref(path, inv or est or c.policy_line))


@static("nft.icmp_restrictive")
def _icmp(src):
    path, chains, _ = _nft(src)
    if chains is None:
        return
    rules = [(n, r) for c in chains.values() for n, r in c.rules
             if "icmp" in r and r.endswith("accept")]
    broad = [(n, r) for n, r in rules if "icmp type" not in r]
    unlimited = [(n, r) for n, r in rules if "echo-request" in r and "limit rate" not in r]
    ok = not broad and not unlimited
    yield Evidence("nft.icmp_restrictive", RENDERED, ok,
                   "ICMP accepted only by type, echo requests rate-limited",
                   f"{len(rules)} ICMP accept rule(s), each naming its type"
                   if ok else "; ".join(f"line {n}: {r}" for n, r in broad + unlimited),
                   src.ref(path, rules[0][0] if rules else None))


@static("nft.fragments")
def _fragments(src):
    path, chains, _ = _nft(src)
    if chains is None:
        return
    n = next((n for c in chains.values() for n, r in c.rules if "ct state" in r), None)
    if n is None:
        return
    yield Evidence("nft.fragments", RENDERED, True,
                   "fragments are reassembled before filtering",
                   "the ruleset uses conntrack, which loads nf_defrag: fragments are reassembled "
                   "before the filter hooks see them, so rules apply to whole packets; "
                   "malformed/overlapping fragments never become valid conntrack entries",
                   src.ref(path, n))


@static("nft.antispoof")
def _antispoof(src):
    path, chains, _ = _nft(src)
    if chains is None:
        return
    pre = chains.get("prerouting")
    rules = pre.rules if pre else []
    for seg in src.topo.segments.values():
        iface = seg.router_iface
        n = next((n for n, r in rules if f'iifname "{iface}"' in r
                  and f"ip saddr != {seg.prefix}" in r and r.endswith("drop")), None)
        yield Evidence(f"nft.antispoof:{seg.name}", RENDERED, n is not None,
                       f"{iface} drops sources outside {seg.prefix}",
                       "ingress filter in prerouting" if n else "no source-prefix filter for "
                       "this interface", src.ref(path, n or (pre.policy_line if pre else None)))
    spath, sysctl = _router_file(src, "etc/sysctl.d/90-hubkit-router.conf")
    if sysctl is not None:
        m = _line_of(sysctl, r"^net\.ipv4\.conf\.all\.rp_filter\s*=\s*(\d)")
        ok = m is not None and m[1] in ("1", "2")
        yield Evidence("nft.antispoof:rp_filter", RENDERED, ok,
                       "reverse-path filtering enabled on the router",
                       f"net.ipv4.conf.all.rp_filter = {m[1] if m else 'unset'}",
                       src.ref(spath, m[0] if m else None))


@static("nft.ipv6")
def _ipv6(src):
    path, chains, text = _nft(src)
    if chains is None:
        return
    for name, c in _filter_chains(chains):
        n = next((n for n, r in c.rules if "nfproto ipv6" in r and r.endswith("drop")), None)
        # An inet table with policy drop filters IPv6 at least as strictly as IPv4.
        ok = n is not None or c.policy == "drop"
        yield Evidence(f"nft.ipv6:{name}", RENDERED, ok,
                       f"IPv6 in the {name} chain filtered at least as strictly as IPv4",
                       "unused IPv6 dropped (and logged) in an inet table" if n else
                       f"inet table, policy {c.policy}", src.ref(path, n or c.policy_line))


@static("nft.log_drops")
def _log_drops(src):
    path, chains, _ = _nft(src)
    if chains is None:
        return
    for name, c in _filter_chains(chains):
        n = next((n for n, r in reversed(c.rules) if "log prefix" in r), None)
        yield Evidence(f"nft.log_drops:{name}", RENDERED, n is not None,
                       f"rejected packets in the {name} chain are logged",
                       "a rate-limited log rule precedes the drop policy" if n else "no log rule",
                       src.ref(path, n or c.policy_line))


# ---------------------------------------------------------------- host files

def _line_of(text: str, pattern: str):
    """(line number, first group) of the first match, or None."""
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(pattern, line.strip())
        if m:
            return n, (m.group(1) if m.groups() else line)
    return None


def _sshd_files(src: Sources) -> Iterator[tuple[str, str, str]]:
    for host in (src.topo.router, src.topo.switch, *src.topo.workstations):
        path = f"hosts/{host.name}/etc/ssh/sshd_config.d/10-hubkit.conf"
        text = src.read(path)
        if text is not None:
            yield host.name, path, text


def _sshd_opts(text: str) -> dict[str, tuple[int, str]]:
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split(None, 1)
        if len(parts) == 2:
            out.setdefault(parts[0].lower(), (n, parts[1].strip()))
    return out


@static("sshd.hardened")
def _sshd(src):
    want = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no",
            "permitrootlogin": "no", "pubkeyauthentication": "yes"}
    for host, path, text in _sshd_files(src):
        o = _sshd_opts(text)
        bad = [f"{k}={o.get(k, (0, 'unset'))[1]}" for k, v in want.items() if o.get(k, (0, ""))[1] != v]
        alive = o.get("clientaliveinterval", (0, "0"))[1]
        if not alive.isdigit() or int(alive) <= 0:
            bad.append("ClientAliveInterval unset (no idle timeout)")
        allow = o.get("allowusers", (0, ""))[1]
        mgmt = src.topo.segments.get("mgmt")
        if mgmt is not None and str(mgmt.prefix) not in allow:
            bad.append("AllowUsers not limited to the management prefix")
        yield Evidence(f"sshd.hardened:{host}", RENDERED, not bad,
                       f"sshd on {host}: keys only, no root, idle timeout, management sources",
                       "; ".join(bad) if bad else
                       f"PasswordAuthentication no, PermitRootLogin no, ClientAliveInterval {alive}, "
                       f"AllowUsers {allow}", src.ref(path, 1))


@static("sshd.no_root_password")
def _sshd_root(src):
    for host, path, text in _sshd_files(src):
        o = _sshd_opts(text)
        ok = o.get("permitrootlogin", (0, ""))[1] == "no" and \
            o.get("permitemptypasswords", (0, "no"))[1] == "no" and \
            o.get("passwordauthentication", (0, ""))[1] == "no"
        yield Evidence(f"sshd.no_root_password:{host}", RENDERED, ok,
                       f"{host}: no root login, no password logins (no default passwords usable)",
                       "PermitRootLogin no, PasswordAuthentication no, PermitEmptyPasswords no"
                       if ok else "root or password logins possible",
                       src.ref(path, o.get("permitrootlogin", (None,))[0]))


@static("sshd.logs_auth")
def _sshd_logs(src):
    for host, path, text in _sshd_files(src):
        level = _sshd_opts(text).get("loglevel", (None, "INFO"))
        ok = level[1].upper() in ("INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3")
        yield Evidence(f"sshd.logs_auth:{host}", RENDERED, ok,
                       f"{host}: failed SSH logins are logged",
                       f"sshd LogLevel {level[1]} logs authentication failures to the journal",
                       src.ref(path, level[0]))


@static("routing.static_only")
def _static_routing(src):
    if src.manifest is None:
        return
    daemons = re.compile(r"\b(bird6?|frr|quagga|zebra|ospfd|bgpd|ripd|isisd)\b", re.I)
    hits = []
    for rel in sorted(src.manifest.get("files", {})):
        if not rel.startswith(("hosts/", "inventory/")):
            continue
        if daemons.search(rel):
            hits.append(rel)
            continue
        text = src.read(rel) or ""
        for n, line in enumerate(text.splitlines(), 1):
            if not line.lstrip().startswith(("#", "//")) and daemons.search(line):
                hits.append(f"{rel}:{n}")
    yield Evidence("routing.static_only", RENDERED, not hits,
                   "no routing daemon configured; routes are static",
                   "no bird/frr/quagga configuration or package in the rendered tree"
                   if not hits else "routing daemon found: " + ", ".join(hits[:5]),
                   src.ref(hits[0]) if hits else src.build_rel)


@static("logging.central")
def _central_logs(src):
    syslog = src.hub.services.central.syslog
    if syslog is None or src.manifest is None:
        return
    pattern = re.compile(r"(rsyslog|syslog-ng|journal-upload|journal-remote)", re.I)
    for rel in sorted(src.manifest.get("files", {})):
        if rel.startswith("hosts/") and pattern.search(rel):
            text = src.read(rel) or ""
            yield Evidence(f"logging.central:{rel.split('/')[1]}", RENDERED, str(syslog) in text,
                           f"logs forwarded to the central syslog {syslog}",
                           "forwarder targets the central server" if str(syslog) in text
                           else f"forwarder does not name {syslog}", src.ref(rel))


@static("ntp.central")
def _ntp(src):
    path, text = _router_file(src, "etc/chrony/chrony.conf")
    if text is None:
        return
    servers = re.findall(r"^\s*server\s+(\S+)", text, re.M)
    pools = re.findall(r"^\s*pool\s+(\S+)", text, re.M)
    central = {str(a) for a in src.hub.services.central.ntp}
    outside = [s for s in servers + pools if s not in central]
    ok = bool(servers) and not outside
    yield Evidence("ntp.central:router", RENDERED, ok,
                   "the router takes time only from the central NTP servers",
                   f"server {', '.join(servers)}; no public pools" if ok else
                   f"time sources outside the central servers: {', '.join(outside) or 'none set'}",
                   src.ref(path, _line_of(text, r"^server\s")[0] if servers else None))
    npath, chains, _ = _nft(src)
    if chains and "input" in chains:
        wan_ntp = [(n, r) for n, r in chains["input"].rules
                   if "dport 123" in r and f'iifname "{src.topo.wan_iface}"' in r]
        yield Evidence("ntp.central:no_wan", RENDERED, not wan_ntp,
                       "no NTP into the firewall from the WAN",
                       "NTP accepted only from trusted segments" if not wan_ntp else
                       "; ".join(r for _, r in wan_ntp), src.ref(npath, wan_ntp[0][0] if wan_ntp else None))


def _wg_sections(text: str) -> list[tuple[str, int, dict]]:
    out, cur = [], None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            cur = (line[1:-1], n, {})
            out.append(cur)
        elif "=" in line and cur is not None:
            k, v = line.split("=", 1)
            cur[2][k.strip()] = v.strip()
    return out


@static("wg.tunnel")
def _wg(src):
    path, text = _router_file(src, "etc/wireguard/wg0.conf")
    if text is None:
        return
    secs = _wg_sections(text)
    iface = next((s for s in secs if s[0] == "Interface"), None)
    peers = [s for s in secs if s[0] == "Peer"]
    pk = iface[2].get("PrivateKey", "") if iface else ""
    # The key must be a vault placeholder resolved by Ansible, never a literal key.
    placeholder = "{{" in pk and "vault_" in pk
    ok = iface is not None and placeholder and len(peers) >= 1 and \
        all(p[2].get("PublicKey") and p[2].get("Endpoint") for p in peers)
    yield Evidence("wg.tunnel", RENDERED, ok,
                   "WireGuard tunnel on the router (encrypted, key-authenticated)",
                   f"wg0 on {src.topo.router.name}: private key from the vault at deploy time, "
                   f"{len(peers)} peer(s) authenticated by public key" if ok else
                   "wg0 lacks an interface key placeholder or a peer key/endpoint",
                   src.ref(path, iface[1] if iface else None))


@static("wg.peers_declared")
def _wg_peers(src):
    path, text = _router_file(src, "etc/wireguard/wg0.conf")
    if text is None:
        return
    peers = [s for s in _wg_sections(text) if s[0] == "Peer"]
    want = src.hub.vpn.concentrator.endpoint
    ok = len(peers) == 1 and peers[0][2].get("Endpoint") == want
    yield Evidence("wg.peers_declared", RENDERED, ok,
                   "only the declared VPN peer is configured",
                   f"exactly one peer, the concentrator {want}; the file is regenerated from the "
                   "fleet repo on every run, so removed peers cannot linger" if ok else
                   f"{len(peers)} peer(s): {', '.join(p[2].get('Endpoint', '?') for p in peers)}",
                   src.ref(path, peers[0][1] if peers else None))


@static("updates.automatic")
def _updates(src):
    # Only hosts with a rendered policy: the others get the common role's default
    # policy at configure time, which only the live checks can show.
    for h in (src.topo.router, *src.topo.workstations):
        rel = f"hosts/{h.name}/etc/apt/apt.conf.d/20auto-upgrades"
        text = src.read(rel)
        if text is None:
            continue
        m = _line_of(text, r'^APT::Periodic::Unattended-Upgrade\s+"(\d+)"')
        ok = m is not None and m[1] == "1"
        yield Evidence(f"updates.automatic:{h.name}", RENDERED, ok,
                       f"{h.name}: unattended upgrades daily",
                       'APT::Periodic::Unattended-Upgrade "1" (every day)' if ok
                       else f"Unattended-Upgrade is {m[1] if m else 'unset'}",
                       src.ref(rel, m[0] if m else None))


@static("apt.signed")
def _apt_signed(src):
    if src.manifest is None:
        return
    bad = re.compile(r"(AllowUnauthenticated|allow-insecure|trusted=yes|AllowInsecureRepositories)", re.I)
    hits = []
    files = [r for r in sorted(src.manifest.get("files", {})) if r.startswith("hosts/")]
    for rel in files:
        for n, line in enumerate((src.read(rel) or "").splitlines(), 1):
            if bad.search(line):
                hits.append(f"{rel}:{n}")
    yield Evidence("apt.signed", RENDERED, not hits,
                   "package signatures are not disabled anywhere",
                   f"none of {len(files)} rendered host files weakens apt's signature check "
                   "(Debian's default: signed Release files required)" if not hits
                   else "signature checks weakened at " + ", ".join(hits),
                   src.ref(hits[0]) if hits else src.build_rel + "/hosts")


@static("hardening.no_automount")
def _no_automount(src):
    for h in src.topo.workstations:
        rel = f"hosts/{h.name}/etc/udev/rules.d/85-hubkit-no-automount.rules"
        text = src.read(rel)
        if text is None:
            continue
        ok = 'UDISKS_AUTO}="0"' in text
        yield Evidence(f"hardening.no_automount:{h.name}", RENDERED, ok,
                       f"{h.name}: no automount of removable media",
                       "udev marks USB storage UDISKS_AUTO=0" if ok else "rule does not disable automount",
                       src.ref(rel))


@static("switch.one_bridge_per_segment")
def _bridges(src):
    rel = "switch/linux-bridge.json"
    text = src.read(rel)
    if text is None:
        return
    try:
        doc = json.loads(text)
    except ValueError:
        yield Evidence("switch.one_bridge_per_segment", RENDERED, False, "switch model readable",
                       "linux-bridge.json is not valid JSON", src.ref(rel))
        return
    seen: dict[str, str] = {}
    dup = []
    for br in doc.get("bridges", []):
        for p in br.get("access_ports", []):
            if p["port"] in seen:
                dup.append(p["port"])
            seen[p["port"]] = br["name"]
    segs = sorted(b.get("segment") for b in doc.get("bridges", []))
    ok = not dup and segs == sorted(src.topo.segments)
    yield Evidence("switch.one_bridge_per_segment", RENDERED, ok,
                   "one bridge per segment; no port in two segments",
                   f"{len(segs)} bridges ({', '.join(segs)}), {len(seen)} access ports, "
                   "no bridge between segments" if ok else
                   f"ports in several bridges: {dup}; bridges {segs}", src.ref(rel))


# Which catalog rows each IOS check backs (hubkit.audit.catalog names the prefixes).
IOS_EVIDENCE = {"vlans": "switch.ios_segments", "access_ports": "switch.ios_segments",
                "trunk": "switch.ios_segments", "mgmt": "switch.ios_segments",
                "unused_ports": "switch.ios_ports",
                "ssh_v2": "switch.ios_admin", "no_telnet": "switch.ios_admin", "no_http": "switch.ios_admin"}


@static("switch.ios")
def _ios(src):
    """The rendered IOS config of a cisco-ios switch (only then is it what gets deployed)."""
    from hubkit import ios_check
    if not ios_check.applies(src.hub):
        return
    text = src.read(ios_check.CONFIG)
    if text is None:
        return
    for r in ios_check.check(text, src.hub, src.topo):
        yield Evidence(f"{IOS_EVIDENCE[r.id]}:{r.id}", RENDERED, r.ok, f"IOS switch config: {r.title}",
                       r.detail, src.ref(ios_check.CONFIG, r.line))


# ---------------------------------------------------------------- model, manifest, plan

@static("segments.separate")
def _segments(src):
    segs = list(src.topo.segments.values())
    vlans = [s.vlan for s in segs]
    overl = [(a.name, b.name) for i, a in enumerate(segs) for b in segs[i + 1:]
             if a.prefix.overlaps(b.prefix)]
    ifaces = {s.router_iface for s in segs}
    ok = len(set(vlans)) == len(vlans) and not overl and len(ifaces) == len(segs)
    by_purpose = ", ".join(f"{s.name} (VLAN {s.vlan}, {s.prefix})" for s in segs)
    files = [f"hosts/{src.topo.router.name}/etc/systemd/network/20-{s.router_iface}.network"
             for s in segs]
    rendered = [f for f in files if src.read(f) is not None]
    ok = ok and len(rendered) == len(files)
    yield Evidence("segments.separate", RENDERED, ok,
                   "segments have distinct VLANs, prefixes and router interfaces",
                   by_purpose if ok else f"overlaps {overl}; VLANs {vlans}; "
                   f"{len(rendered)}/{len(files)} interface files rendered",
                   src.ref(rendered[0]) if rendered else src.build_rel)


@static("manifest.integrity")
def _manifest(src):
    if src.manifest is None:
        return
    files = src.manifest.get("files", {})
    bad = []
    for rel, want in sorted(files.items()):
        p = src.build_dir / rel
        got = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        if got != want:
            bad.append(rel)
    yield Evidence("manifest.integrity", RECORDED, not bad,
                   "rendered configs match their sha256 manifest",
                   f"{len(files)} files, all hashes match manifest.json; render --check "
                   "re-derives them from the fleet repo" if not bad else
                   f"{len(bad)} file(s) differ from the manifest: {', '.join(bad[:5])}",
                   src.ref("manifest.json"))


@static("git.history")
def _git(src):
    g = src.git
    if not g:
        return
    ok = bool(g.get("commits")) and not g.get("dirty")
    yield Evidence("git.history", RECORDED, ok,
                   "the hub's files are under version control and committed",
                   f"{len(g.get('commits', []))} commit(s) touch the hub's files; working tree clean"
                   if ok else "uncommitted changes to: " + ", ".join(g.get("dirty") or [])
                   if g.get("dirty") else "no commit touches the hub's files",
                   ", ".join(g.get("files", [])))


@static("topology.rendered")
def _topology(src):
    svg = src.read("docs/topology.svg")
    hb = src.read("docs/handbook.md")
    if svg is None and hb is None:
        return
    ok = svg is not None and hb is not None and src.topo.router.name in svg
    yield Evidence("topology.rendered", RENDERED, ok,
                   "network plan (topology and handbook) generated from the current hub file",
                   "topology.svg and handbook regenerated on every render" if ok
                   else "topology or handbook missing", src.ref("docs/topology.svg"))


@static("plan")
def _plan(src):
    if src.plan is None:
        return
    res = src.plan.get("resources", [])
    users = [r for r in res if r.get("type") == "keycloak:index/user:User"]
    containers = [r for r in res if r.get("type") == "openstack:objectstorage/container:Container"]
    codes = {f.code for f in src.plan_findings}
    note = "offline plan: intent only, not compared with real state"
    if src.cloud is None or not src.cloud.provisioned:
        # Said on the evidence itself: these rows rest on a plan of services that do not exist.
        note += "; the cloud services were not provisioned"
    if users:
        ok = "HK201" not in codes and "HK204" not in codes
        yield Evidence("plan.forced_password_change", PLANNED, ok,
                       "identity users must change their initial password; passwords are secrets",
                       f"{len(users)} user(s) with required action UPDATE_PASSWORD ({note})"
                       if ok else "policy HK201/HK204 failed", users[0]["urn"])
        staff = sorted(m.username for m in src.hub.staff)
        names = sorted(str(r.get("inputs", {}).get("username", "")) for r in users)
        ok = names == staff and len(set(names)) == len(names)
        yield Evidence("accounts.personal", PLANNED, ok,
                       "one personal identity account per staff member, no shared accounts",
                       f"{len(names)} accounts for {len(staff)} staff ({note})" if ok else
                       f"accounts {names} vs staff {staff}", users[0]["urn"])
    if containers:
        ok = "HK202" not in codes
        yield Evidence("plan.backup_versioning", PLANNED, ok,
                       "backup storage is a separate, versioned container",
                       f"{len(containers)} container(s) with versioning ({note})" if ok
                       else "policy HK202 failed", containers[0]["urn"])


@static("configure.recorded")
def _configure_recorded(src):
    c = src.configure
    if not c:
        return
    yield Evidence("configure.recorded", RECORDED, bool(c.get("ok", True)),
                   "configuration changes are recorded per run",
                   "the last configure run's recap is kept with the evidence (hosts, changed tasks)",
                   ".hubkit/runs/<id>/configure.json")
