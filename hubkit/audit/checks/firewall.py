"""Static checks of the router's rendered firewall (``etc/nftables.conf``) and kernel settings."""

from __future__ import annotations

import re

from hubkit.audit.checks import check
from hubkit.audit.model import RENDERED, Evidence
from hubkit.audit.parsers import line_of, nft_chains

NFT = "etc/nftables.conf"
DEFRAG_PRIORITY = -400  # nf_defrag's hook: chains after it see reassembled packets


def _nft(src):
    path, text = src.router_file(NFT)
    return path, (nft_chains(text) if text is not None else None)


def _filter_chains(chains):
    """The input and forward chains the ruleset has, as (name, chain)."""
    return [(name, chains[name]) for name in ("input", "forward") if name in chains]


def _accepts(rule: str) -> bool:
    return rule.endswith("accept")


@check("nft.default_deny", "NET.3.2.A2", "NET.1.1.A4")
def default_deny(src):
    path, chains = _nft(src)
    if chains is None:
        return
    for name in ("input", "forward"):
        c = chains.get(name)
        ok = c is not None and c.policy == "drop"
        yield Evidence(f"nft.default_deny:{name}", RENDERED, ok,
                       f"firewall {name} chain policy is drop",
                       "policy drop; allowlist rules only above it" if ok
                       else f"policy is {c.policy if c else 'missing (no chain)'}, not drop",
                       src.ref(path, c.policy_line if c else None))


@check("nft.guest_isolated", "NET.1.1.A5", "NET.3.2.A2")
def guest_isolated(src):
    path, chains = _nft(src)
    if chains is None or "forward" not in chains:
        return
    fwd = chains["forward"]
    for seg in (s for s in src.topo.segments.values() if s.isolated):
        iface, wan = seg.router_iface, src.topo.wan_iface
        # Forwarding into the site from an isolated segment needs an accept; none may exist.
        bad = [(n, r) for n, r in fwd.rules
               if f'iifname "{iface}"' in r and _accepts(r) and f'oifname "{wan}"' not in r]
        lines = [n for n, r in fwd.rules if f'iifname "{iface}"' in r] or [fwd.policy_line]
        yield Evidence(f"nft.guest_isolated:{seg.name}", RENDERED, not bad,
                       f"segment {seg.name} ({iface}) forwards to the WAN only",
                       "accept rules towards internal interfaces: " + "; ".join(f"line {n}: {r}" for n, r in bad)
                       if bad else f"every accept from {iface} is limited to oifname {wan}; "
                       "everything else hits the forward policy drop",
                       src.ref(path, lines[0]))


@check("nft.ssh_mgmt_only", "NET.1.1.A21", "NET.3.2.A6")
def ssh_mgmt_only(src):
    path, chains = _nft(src)
    mgmt = src.topo.segments.get("mgmt")
    if chains is None or "input" not in chains or mgmt is None:
        return
    ssh = [(n, r) for n, r in chains["input"].rules
           if re.search(r"\bdport\s+(22|\{[^}]*\b22\b[^}]*\}|ssh)\b", r) and _accepts(r)]
    bad = [(n, r) for n, r in ssh if f'iifname "{mgmt.router_iface}"' not in r or str(mgmt.prefix) not in r]
    ok = bool(ssh) and not bad
    yield Evidence("nft.ssh_mgmt_only", RENDERED, ok,
                   "SSH to the router accepted only from the management segment",
                   f"{len(ssh)} SSH rule(s), all limited to {mgmt.router_iface} and {mgmt.prefix}" if ok
                   else "SSH accepted from elsewhere: " + "; ".join(r for _, r in bad) if bad
                   else "no SSH rule for management",
                   src.ref(path, (ssh or [(None, "")])[0][0]))


# Anything the router's input chain accepts beyond its designed services is a service nobody
# asked for (the guest isolation, SSH source and WAN rules are checked on their own).
@check("nft.input_services", "NET.3.2.A4", "NET.3.1.A1")
def input_services(src):
    path, chains = _nft(src)
    if chains is None or "input" not in chains:
        return
    wg_port = str(src.hub.vpn.concentrator.endpoint).rsplit(":", 1)[-1]
    allowed = [re.compile(p) for p in (r'^iifname "lo" accept$', r"^ct state established,related accept$",
                                       r"\btcp dport 22 accept$", r"\budp dport 67 accept$",
                                       r"\bmeta l4proto \{ tcp, udp \} th dport 53 accept$",
                                       r"\budp dport 123 accept$", r"\bicmp type [\w-]+( limit rate [^ ]+)? accept$",
                                       rf'^iifname "{src.topo.wan_iface}" udp dport {wg_port} accept$')]
    rules = [(n, r) for n, r in chains["input"].rules if _accepts(r)]
    extra = [(n, r) for n, r in rules if not any(p.search(r) for p in allowed)]
    yield Evidence("nft.input_services", RENDERED, not extra,
                   "the router accepts only its designed services (SSH, DHCP, DNS, NTP, ping, WireGuard)",
                   f"{len(rules)} accept rule(s) in input, each one of the designed services" if not extra
                   else "services nobody designed: " + "; ".join(f"line {n}: {r}" for n, r in extra),
                   src.ref(path, (extra or rules or [(chains['input'].policy_line, '')])[0][0]))


@check("nft.stateful", "NET.3.2.A3")
def stateful(src):
    path, chains = _nft(src)
    if chains is None:
        return
    for name, c in _filter_chains(chains):
        est = next((n for n, r in c.rules if "ct state established,related accept" in r), None)
        inv = next((n for n, r in c.rules if "ct state invalid" in r and r.endswith("drop")), None)
        ok = est is not None and inv is not None and inv < est
        yield Evidence(f"nft.stateful:{name}", RENDERED, ok,
                       f"{name} chain filters statefully and drops invalid packets first",
                       "conntrack state for every protocol (TCP, UDP, ICMP); packets conntrack marks invalid, "
                       "including impossible TCP flag combinations, are dropped before established traffic "
                       "is accepted" if ok else
                       "missing 'ct state invalid drop' before 'ct state established,related accept'",
                       src.ref(path, inv or est or c.policy_line))


@check("nft.icmp_restrictive", "NET.3.2.A3")
def icmp_restrictive(src):
    path, chains = _nft(src)
    if chains is None:
        return
    rules = [(n, r) for c in chains.values() for n, r in c.rules if "icmp" in r and _accepts(r)]
    broad = [(n, r) for n, r in rules if "icmp type" not in r]
    unlimited = [(n, r) for n, r in rules if "echo-request" in r and "limit rate" not in r]
    ok = not broad and not unlimited
    yield Evidence("nft.icmp_restrictive", RENDERED, ok,
                   "ICMP accepted only by type, echo requests rate-limited",
                   f"{len(rules)} ICMP accept rule(s), each naming its type" if ok
                   else "; ".join(f"line {n}: {r}" for n, r in broad + unlimited),
                   src.ref(path, rules[0][0] if rules else None))


@check("nft.fragments", "NET.3.2.A10", "NET.3.1.A5")
def fragments(src):
    """Fragments are reassembled (nf_defrag, loaded with conntrack) before any filter chain sees
    them, and what conntrack cannot make a valid flow of is dropped."""
    path, chains = _nft(src)
    if chains is None:
        return
    early = [c for c in chains.values() if c.priority is not None and c.priority <= DEFRAG_PRIORITY]
    no_invalid = [name for name, c in _filter_chains(chains)
                  if not any("ct state invalid" in r and r.endswith("drop") for _, r in c.rules)]
    chains_seen = [name for name, _ in _filter_chains(chains)]
    ok = len(chains_seen) == 2 and not early and not no_invalid
    why = []
    if early:
        why.append("chain(s) before defragmentation (priority <= -400): " + ", ".join(c.name for c in early))
    if no_invalid:
        why.append("no 'ct state invalid drop' in " + ", ".join(no_invalid))
    if len(chains_seen) < 2:
        why.append("input or forward chain missing")
    yield Evidence("nft.fragments", RENDERED, ok, "fragments are reassembled before filtering; invalid ones dropped",
                   "conntrack is used in input and forward, so nf_defrag reassembles fragments before the "
                   "filter hooks (all chains run after priority -400) and malformed or overlapping fragments "
                   "never become a valid flow (ct state invalid drop)" if ok else "; ".join(why),
                   src.ref(path, (early[0].policy_line if early else None)))


@check("nft.antispoof", "NET.3.1.A15")
def antispoof(src):
    path, chains = _nft(src)
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
                       "ingress filter in prerouting" if n else "no source-prefix filter for this interface",
                       src.ref(path, n or (pre.policy_line if pre else None)))
    spath, sysctl = src.router_file("etc/sysctl.d/90-hubkit-router.conf")
    if sysctl is not None:
        m = line_of(sysctl, r"^net\.ipv4\.conf\.all\.rp_filter\s*=\s*(\d)")
        ok = m is not None and m[1] in ("1", "2")
        yield Evidence("nft.antispoof:rp_filter", RENDERED, ok, "reverse-path filtering enabled on the router",
                       f"net.ipv4.conf.all.rp_filter = {m[1] if m else 'unset'}", src.ref(spath, m[0] if m else None))


@check("nft.ipv6", "NET.3.2.A17", "NET.3.2.A15")
def ipv6(src):
    """The hub uses no IPv6: the router drops it explicitly in input and forward, before any
    rule that could accept it (a policy drop alone is row 4's fact, not this one), and does not
    route it (net.ipv6.conf.all.forwarding = 0)."""
    path, chains = _nft(src)
    if chains is None:
        return
    harmless = ('iifname "lo" accept', "ct state established,related accept")
    for name, c in _filter_chains(chains):
        n = next((n for n, r in c.rules if "nfproto ipv6" in r and r.endswith("drop")), None)
        before = [r for m, r in c.rules if n is not None and m < n and _accepts(r) and r not in harmless]
        ok = n is not None and not before
        yield Evidence(f"nft.ipv6:{name}", RENDERED, ok, f"unused IPv6 dropped in the {name} chain",
                       "meta nfproto ipv6 drop (logged) before any accept" if ok else
                       "no explicit IPv6 drop" if n is None else "accepted before the IPv6 drop: " + "; ".join(before),
                       src.ref(path, n or c.policy_line))
    spath, sysctl = src.router_file("etc/sysctl.d/90-hubkit-router.conf")
    if sysctl is not None:
        m = line_of(sysctl, r"^net\.ipv6\.conf\.all\.forwarding\s*=\s*(\d)")
        yield Evidence("nft.ipv6:forwarding", RENDERED, m is not None and m[1] == "0",
                       "the router does not route IPv6", f"net.ipv6.conf.all.forwarding = {m[1] if m else 'unset'}",
                       src.ref(spath, m[0] if m else None))


@check("nft.log_drops", "NET.3.2.A9", "NET.3.1.A7")
def log_drops(src):
    path, chains = _nft(src)
    if chains is None:
        return
    for name, c in _filter_chains(chains):
        # The last rule before the policy must log: everything the policy drops passes it.
        last = c.rules[-1] if c.rules else (c.policy_line, "")
        ok = "log prefix" in last[1] and not _accepts(last[1])
        yield Evidence(f"nft.log_drops:{name}", RENDERED, ok, f"rejected packets in the {name} chain are logged",
                       f"the last rule logs what the drop policy rejects: {last[1]}" if ok
                       else "the last rule before the drop policy does not log", src.ref(path, last[0]))
