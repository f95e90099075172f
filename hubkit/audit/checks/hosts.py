"""Static checks of the per-host files render produced: sshd, time, updates, media, logging."""

from __future__ import annotations

import re
from collections.abc import Iterator

import yaml

from hubkit.audit.checks import check
from hubkit.audit.model import RENDERED, Evidence
from hubkit.audit.parsers import line_of, nft_chains, sshd_options

SSHD = "etc/ssh/sshd_config.d/10-hubkit.conf"


def _sshd_files(src) -> Iterator[tuple[str, str, str]]:
    for host in (src.topo.router, src.topo.switch, *src.topo.workstations):
        path = f"hosts/{host.name}/{SSHD}"
        text = src.read(path)
        if text is not None:
            yield host.name, path, text


@check("sshd.hardened", "NET.3.2.A6", "NET.3.1.A4", "SYS.1.3.A8")
def sshd_hardened(src):
    want = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no",
            "permitrootlogin": "no", "pubkeyauthentication": "yes", "permitemptypasswords": "no"}
    mgmt = src.topo.segments.get("mgmt")
    for host, path, text in _sshd_files(src):
        o = sshd_options(text)
        bad = [f"{k}={o.get(k, (0, 'unset'))[1]}" for k, v in want.items()
               if o.get(k, (0, "no" if k == "permitemptypasswords" else ""))[1] != v]
        alive = o.get("clientaliveinterval", (0, "0"))[1]
        if not alive.isdigit() or int(alive) <= 0:
            bad.append("ClientAliveInterval unset (no idle timeout)")
        allow = o.get("allowusers", (0, ""))[1]
        if mgmt is not None and (not allow or any(not u.endswith("@" + str(mgmt.prefix)) for u in allow.split())):
            bad.append(f"AllowUsers not limited to the management prefix ({allow or 'unset'})")
        yield Evidence(f"sshd.hardened:{host}", RENDERED, not bad,
                       f"sshd on {host}: keys only, no root, idle timeout, management sources",
                       "; ".join(bad) if bad else
                       f"PasswordAuthentication no, PermitRootLogin no, ClientAliveInterval {alive}, AllowUsers {allow}",
                       src.ref(path, 1))


@check("sshd.logs_auth", "NET.3.2.A9", "NET.3.1.A7")
def sshd_logs_auth(src):
    for host, path, text in _sshd_files(src):
        level = sshd_options(text).get("loglevel", (None, "INFO"))
        ok = level[1].upper() in ("INFO", "VERBOSE")
        yield Evidence(f"sshd.logs_auth:{host}", RENDERED, ok, f"{host}: failed SSH logins are logged",
                       f"sshd LogLevel {level[1]} logs authentication failures" if ok
                       else f"LogLevel {level[1]} does not log failed logins", src.ref(path, level[0]))


@check("ntp.central", "OPS.1.1.5.A4", "NET.3.2.A22")
def ntp_central(src):
    path, text = src.router_file("etc/chrony/chrony.conf")
    if text is None:
        return
    servers = re.findall(r"^\s*server\s+(\S+)", text, re.M)
    pools = re.findall(r"^\s*pool\s+(\S+)", text, re.M)
    central = {str(a) for a in src.hub.services.central.ntp}
    outside = [s for s in servers + pools if s not in central]
    ok = bool(servers) and not outside
    yield Evidence("ntp.central:router", RENDERED, ok, "the router takes time only from the central NTP servers",
                   f"server {', '.join(servers)}; no public pools" if ok else
                   f"time sources outside the central servers: {', '.join(outside) or 'none set'}",
                   src.ref(path, line_of(text, r"^server\s")[0] if servers else None))
    npath, nft = src.router_file("etc/nftables.conf")
    chains = nft_chains(nft) if nft is not None else {}
    if "input" in chains:
        wan_ntp = [(n, r) for n, r in chains["input"].rules
                   if "dport 123" in r and (f'iifname "{src.topo.wan_iface}"' in r or "iifname" not in r)]
        yield Evidence("ntp.central:no_wan", RENDERED, not wan_ntp, "no NTP into the firewall from the WAN",
                       "NTP accepted only from trusted segments" if not wan_ntp else
                       "; ".join(r for _, r in wan_ntp), src.ref(npath, wan_ntp[0][0] if wan_ntp else None))


@check("updates.automatic", "SYS.2.1.A3", "OPS.1.1.3.A15")
def updates_automatic(src):
    # Only hosts with a rendered policy: the others get the common role's default policy at
    # configure time, which only the live checks can show.
    for h in (src.topo.router, *src.topo.workstations):
        rel = f"hosts/{h.name}/etc/apt/apt.conf.d/20auto-upgrades"
        text = src.read(rel)
        if text is None:
            continue
        m = line_of(text, r'^APT::Periodic::Unattended-Upgrade\s+"(\d+)"')
        want = "0" if src.hub.services.update_policy == "none" else "1"
        ok = m is not None and m[1] == want
        yield Evidence(f"updates.automatic:{h.name}", RENDERED, ok, f"{h.name}: unattended upgrades daily",
                       f'APT::Periodic::Unattended-Upgrade "{want}" (policy {src.hub.services.update_policy})'
                       if ok else f"Unattended-Upgrade is {m[1] if m else 'unset'}", src.ref(rel, m[0] if m else None))


@check("apt.signed", "OPS.1.1.3.A10")
def apt_signed(src):
    if src.manifest is None:
        return
    bad = re.compile(r"(AllowUnauthenticated|allow-insecure|trusted=yes|AllowInsecureRepositories)", re.I)
    hits = []
    files = src.host_files()
    for rel in files:
        for n, line in enumerate((src.read(rel) or "").splitlines(), 1):
            if bad.search(line):
                hits.append(f"{rel}:{n}")
    yield Evidence("apt.signed", RENDERED, not hits, "package signatures are not disabled anywhere",
                   f"none of {len(files)} rendered host files weakens apt's signature check "
                   "(Debian's default: signed Release files required)" if not hits
                   else "signature checks weakened at " + ", ".join(hits),
                   src.ref(hits[0]) if hits else src.build_rel + "/hosts")


@check("hardening.no_automount", "SYS.1.3.A3")
def no_automount(src):
    for h in src.topo.workstations:
        rel = f"hosts/{h.name}/etc/udev/rules.d/85-hubkit-no-automount.rules"
        text = src.read(rel)
        ok = text is not None and 'UDISKS_AUTO}="0"' in text
        yield Evidence(f"hardening.no_automount:{h.name}", RENDERED, ok, f"{h.name}: no automount of removable media",
                       "udev marks USB storage UDISKS_AUTO=0" if ok else
                       "no udev rule rendered" if text is None else "the rule does not disable automount",
                       src.ref(rel))


@check("logging.central", "OPS.1.1.5.A5", "OPS.1.1.5.A6", "OPS.1.1.5.A10")
def logging_central(src):
    """The rendered inventory hands every host the central sink the common role forwards to."""
    syslog = src.hub.services.central.syslog
    rel = "inventory/group_vars/all.yml"
    text = src.read(rel)
    if syslog is None or text is None:
        return
    try:
        got = (yaml.safe_load(text) or {}).get("hubkit_syslog_server")
    except yaml.YAMLError:
        got = None
    m = line_of(text, r"^hubkit_syslog_server:")
    yield Evidence("logging.central", RENDERED, str(got) == str(syslog), f"logs forwarded to the central sink {syslog}",
                   f"every host forwards all logs to {syslog} (UDP 514, common role)" if str(got) == str(syslog)
                   else f"hubkit_syslog_server is {got or 'unset'}, not {syslog}", src.ref(rel, m[0] if m else None))
