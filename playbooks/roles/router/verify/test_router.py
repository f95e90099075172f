"""router: forwarding, the firewall as rendered, default deny, DHCP/DNS per segment, the tunnel.

The loaded nftables ruleset is compared with the rendered one semantically
(`hubkit.nftcompare`: the rendered file loaded in a scratch network namespace
on the controller, both listed as JSON, handles, counters and metadata dropped).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest
import yaml

from hubkit import nftcompare
from hubkit.verify.plugin import EPHEMERAL_PORT_MIN, context, expect, expect_equal, snapshot

RULESET = "/etc/nftables.conf"
HANDSHAKE_MAX_AGE = 180  # s: WireGuard re-handshakes every 2 min while traffic (keepalive) flows


def _sysctl_wanted(hk, plan) -> dict[str, str]:
    want: dict[str, str] = {}
    for path in hk.rendered_files(plan.name):
        if not path.startswith("/etc/sysctl.d/"):
            continue
        for line in hk.rendered(plan.name, path).splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith(("#", ";")):
                want[key.strip()] = value.strip()
    return want


@pytest.fixture(scope="module")
def facts(host, hk, plan, topo, hub):
    """Everything the router checks read, fetched in one round trip."""
    zone = hub.services.dns_zone
    cmds = {
        "nft_j": "nft -j list ruleset",
        "nft_s": "nft -s list ruleset",
        "ip_forward": "sysctl -n net.ipv4.ip_forward",
        "sysctl": "sysctl " + " ".join(shlex.quote(k) for k in _sysctl_wanted(hk, plan)),
        "dnsmasq_active": "systemctl is-active dnsmasq",
        "dnsmasq_test": "dnsmasq --test",
        "dnsmasq_conf": "cat /etc/dnsmasq.conf /etc/dnsmasq.d/*.conf",
        "ss": "ss -H -tulnp",
        "wg_hs": "wg show wg0 latest-handshakes && date +%s",
        "wg_addr": "ip -j -4 addr show dev wg0",
    }
    for name, seg in topo.segments.items():
        cmds[f"dig_{name}"] = (f"dig +short +time=1 +tries=2 @{seg.router_address.ip} "
                               f"{shlex.quote(f'{topo.router.name}.{zone}')} A")
    return snapshot(host, cmds)


@pytest.fixture(scope="module")
def live_ruleset(facts):
    js = json.loads(facts["nft_j"].stdout)
    return nftcompare.normalise(js), nftcompare.lines(facts["nft_s"].stdout), js


@pytest.mark.bsi("NET.1.1.A15")
def test_ip_forwarding(facts):
    # Routing between segments is what the forward chain then filters.
    expect_equal(facts["ip_forward"].stdout.strip(), "1", "net.ipv4.ip_forward")


@pytest.mark.bsi("NET.3.1.A15", "NET.3.2.A17")
def test_kernel_settings_as_rendered(facts, hk, plan):
    """Every sysctl the render sets (strict rp_filter: anti-spoofing beside nftables; no redirects)."""
    want = _sysctl_wanted(hk, plan)
    found_any = bool(want)
    out = facts["sysctl"].stdout if want else ""
    live = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in out.splitlines())}
    wrong = [f"{k}={live.get(k, '(missing)')} (want {v})" for k, v in sorted(want.items()) if live.get(k) != v]
    expect(found_any, "rendered sysctl settings for the router", "none in the build tree")
    expect(not wrong, "the live kernel settings as rendered", "; ".join(wrong))


# The running ruleset is the rendered one: so the firewall rows' static checks of the rendered
# file (fragments, IPv6, logging of drops) hold for the firewall that runs.
@pytest.mark.bsi("NET.3.2.A2", "NET.3.2.A3", "NET.3.2.A10", "NET.3.2.A17", "NET.3.2.A9")
def test_ruleset_matches_rendered(live_ruleset, hk, plan):
    path = hk.build_dir / "hosts" / plan.name / RULESET.lstrip("/")
    expect(path.is_file(), f"a rendered {RULESET}", f"no {path}")
    try:
        want = nftcompare.load_rendered(path)
    except ValueError as e:
        pytest.fail(f"expected the rendered ruleset {path} to load, found: {e}", pytrace=False)
    diff = nftcompare.difference(want, live_ruleset[:2])
    expect(diff is None, f"the loaded ruleset equal to the rendered {RULESET}", diff)


def _base_chains(raw: dict) -> dict[tuple[str, str], dict]:
    chains = {}
    for o in raw.get("nftables", []):
        c = o.get("chain")
        if c and c.get("hook"):
            chains[(c["family"], c["hook"])] = c
    return chains


@pytest.mark.bsi("NET.3.2.A2")
def test_default_deny(live_ruleset):
    chains = _base_chains(live_ruleset[2])
    for hook in ("input", "forward"):
        c = chains.get(("inet", hook))
        expect(c is not None, f"an inet filter chain on hook {hook}", "none")
        expect(c.get("policy") == "drop", f"policy drop on the {hook} chain {c['name']}",
               f"policy {c.get('policy')}")


@pytest.mark.bsi("NET.3.2.A3")
def test_stateful_rules(live_ruleset):
    """input and forward accept established/related traffic and drop invalid state first."""
    raw = live_ruleset[2]
    chains = {(c["family"], c["table"], c["name"]): c for o in raw.get("nftables", []) if (c := o.get("chain"))}
    for key, c in sorted(chains.items()):
        if c.get("hook") not in ("input", "forward"):
            continue
        rules = [o["rule"] for o in raw["nftables"] if "rule" in o
                 and (o["rule"]["family"], o["rule"]["table"], o["rule"]["chain"]) == key]
        states = [json.dumps(r["expr"]) for r in rules]
        est = [i for i, s in enumerate(states) if '"established"' in s and '"accept"' in s]
        inv = [i for i, s in enumerate(states) if '"invalid"' in s and '"drop"' in s]
        expect(bool(est), f"ct state established,related accept in chain {c['name']}", "no such rule")
        expect(bool(inv) and inv[0] < est[0], f"ct state invalid drop before it in chain {c['name']}",
               "no invalid-state drop ahead of it")


@pytest.mark.bsi("NET.3.2.A4")
def test_dnsmasq_running(facts):
    expect(facts["dnsmasq_active"].stdout.strip() == "active", "dnsmasq running", "dnsmasq not running")
    r = facts["dnsmasq_test"]
    expect(r.rc == 0, "a valid dnsmasq configuration", (r.stderr or r.stdout).strip())


def pytest_generate_tests(metafunc):
    if "segment" in metafunc.fixturenames:
        metafunc.parametrize("segment", sorted(context(metafunc.config).topo.segments))


@pytest.mark.bsi("NET.3.2.A4")
def test_dnsmasq_serves_segment(facts, topo, hub, segment):
    """DNS answers on the segment's router address; DHCP hands out the model's range there."""
    seg = topo.segments[segment]
    zone = hub.services.dns_zone
    name = f"{topo.router.name}.{zone}"
    ans = facts[f"dig_{segment}"].stdout.split()
    expect(str(topo.router.address.ip) in ans, f"DNS on {seg.router_address.ip} answering {name} with "
           f"{topo.router.address.ip}", f"answer {ans or 'none'}")
    if not seg.dhcp:
        return
    start, end = (str(a) for a in seg.dhcp_range)
    conf = facts["dnsmasq_conf"].stdout
    ranges = [line.split("=", 1)[1] for line in conf.splitlines() if line.startswith("dhcp-range=")]
    mine = [r for r in ranges if r.split(",")[0] in (f"set:{segment}", f"tag:{segment}")]
    expect(any(f",{start},{end}," in f",{r}," for r in mine), f"dhcp-range {start}-{end} for {segment}",
           "; ".join(mine) or "no range for it")


@pytest.mark.bsi("NET.3.2.A4")
def test_dnsmasq_not_on_uplink(facts, topo):
    """dnsmasq listens on segment addresses only: never on the WAN or the tunnel.

    On the wildcard address it may hold DHCP (67) and, while a query it forwards to
    the central DNS is in flight, that query's source socket: a random port at or
    above the rendered ``min-port`` (32768), which serves nothing.
    """
    ss = facts["ss"].stdout
    allowed = {str(s.router_address.ip) for s in topo.segments.values()} | {"127.0.0.1", "0.0.0.0", "*"}
    bad = []
    for line in ss.splitlines():
        if '"dnsmasq"' not in line:
            continue
        cols = line.split()
        proto, local = cols[0], cols[4]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        wildcard_ok = port == "67" or (proto == "udp" and port.isdigit() and int(port) >= EPHEMERAL_PORT_MIN)
        if addr not in allowed or (addr in ("0.0.0.0", "*") and not wildcard_ok):
            bad.append(local)
    expect(not bad, f"dnsmasq on segment addresses only (DHCP on *:67, forwarding sources on *:{EPHEMERAL_PORT_MIN}+)",
           "also " + ", ".join(bad))


def _peer_key(hk, hub) -> str:
    if hk.lab:
        f = Path(hk.lab["dir"]) / "inventory" / "group_vars" / "all.yml"
        if f.is_file():
            key = (yaml.safe_load(f.read_text()) or {}).get("hubkit_vpn_peer_public_key")
            if key:
                return key
    return hub.vpn.concentrator.public_key


@pytest.mark.bsi("NET.3.3.A11", "NET.1.1.A7")
def test_wireguard_handshake_recent(facts, hk, hub, topo):
    want = _peer_key(hk, hub)
    r = facts["wg_hs"]
    expect(r.rc == 0, "interface wg0 up", (r.stderr or "no wg0").strip())
    lines = r.stdout.split("\n")
    now = int(lines[-2].strip() if lines[-1] == "" else lines[-1].strip())
    peers = dict(line.split("\t") for line in lines if "\t" in line)
    expect(list(peers) == [want], f"one peer, the concentrator {want[:8]}...",
           f"peers {', '.join(k[:8] + '...' for k in peers) or 'none'}")
    age = now - int(peers[want])
    expect(int(peers[want]) > 0 and age <= HANDSHAKE_MAX_AGE,
           f"a handshake in the last {HANDSHAKE_MAX_AGE}s",
           "no handshake ever" if int(peers[want]) == 0 else f"the last {age}s ago")
    addr = facts["wg_addr"].stdout or "[]"
    local = [f"{a['local']}/{a['prefixlen']}" for i in json.loads(addr) for a in i.get("addr_info", [])]
    expect(str(hub.vpn.tunnel_address) in local, f"wg0 address {hub.vpn.tunnel_address}", ", ".join(local))


# -- no dynamic routing (row 11: checked on the host, not in config text) -----------------

ROUTING_DAEMONS = {"bird", "bird6", "bgpd", "ospfd", "ospf6d", "ripd", "ripngd", "isisd", "zebra", "watchfrr",
                   "babeld", "eigrpd", "ldpd", "pimd", "quagga", "frr", "gobgpd", "exabgp", "routinator"}
# Ports routing protocols listen on: BGP, LDP, RIP, RIPng, the zebra/frr vty range.
ROUTING_PORTS = {("tcp", 179), ("tcp", 646), ("udp", 646), ("udp", 520), ("udp", 521),
                 *(("tcp", p) for p in range(2600, 2621))}
ROUTING_PROTOS = {"bgp", "ospf", "rip", "isis", "zebra", "bird", "babel", "eigrp", "gated", "mrt", "xorp",
                  "ntk", "dnrouted", "openr", "ripng"}
OSPF_IPPROTO = "89"


@pytest.fixture(scope="module")
def routing(host):
    return snapshot(host, {"procs": "ps -eo comm=", "ss": "ss -H -tuwln", "routes": "ip -j route show table all"})


@pytest.mark.bsi("NET.3.2.A8")
def test_no_dynamic_routing(routing):
    """No routing daemon runs, nothing listens on a routing protocol's port (or OSPF's raw socket),
    and no route in any table was installed by a routing protocol: every route is static."""
    procs = sorted({p.strip() for p in routing["procs"].stdout.splitlines()} & ROUTING_DAEMONS)
    socks = []
    for line in routing["ss"].stdout.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        port = parts[4].rpartition(":")[2]
        if (parts[0], int(port) if port.isdigit() else -1) in ROUTING_PORTS or \
                (parts[0] == "raw" and port in (OSPF_IPPROTO, "ospf")):
            socks.append(f"{parts[0]} {parts[4]}")
    routes = json.loads(routing["routes"].stdout or "[]")
    dynamic = sorted({f"{r.get('dst')} proto {r.get('protocol')}" for r in routes
                      if str(r.get("protocol", "")) in ROUTING_PROTOS})
    expect(not procs and not socks and not dynamic, "no routing daemon, no routing protocol socket, only static routes",
           "; ".join(filter(None, [", ".join(procs) and "running: " + ", ".join(procs),
                                   ", ".join(socks) and "listening: " + ", ".join(socks),
                                   ", ".join(dynamic) and "routes: " + ", ".join(dynamic)])))


# -- the running configuration is the committed build (row 17) ---------------------------

# The files whose running state row 17 compares: the firewall, DHCP/DNS and the tunnel.
BUILD_FILES = ("/etc/nftables.conf", "/etc/dnsmasq.d/", "/etc/wireguard/")

# Runs on the router: hashes each deployed file with its template variables (the vault's key,
# the concentrator's key) put back as the rendered placeholders, so it can be compared with the
# manifest's sha256 of the rendered file; compares the running tunnel (`wg showconf`) with the
# file (`wg-quick strip`) and dnsmasq's start with its file's last change.  Secrets stay on the
# host: only hashes, line numbers and key names come back.
_BUILD_SCRIPT = r"""
import hashlib, json, os, re, subprocess, sys
spec = json.loads(sys.argv[1])
out = {"files": {}}
for path, rendered in sorted(spec["files"].items()):
    try:
        live = open(path, encoding="utf-8").read()
    except OSError as e:
        out["files"][path] = {"error": e.strerror}
        continue
    r_lines, l_lines = rendered.split("\n"), live.split("\n")
    rebuilt = l_lines
    if len(r_lines) == len(l_lines):
        rebuilt = []
        for r, l in zip(r_lines, l_lines):
            if "{{" in r:
                pat = "^" + re.sub(r"\\\{\\\{.*?\\\}\\\}", "(.+)", re.escape(r)) + "$"
                rebuilt.append(r if re.match(pat, l) else l)
            else:
                rebuilt.append(l)
    text = "\n".join(rebuilt)
    differ = [i + 1 for i, (a, b) in enumerate(zip(r_lines, rebuilt)) if a != b]
    out["files"][path] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "differ": differ[:10],
                          "lines": [len(l_lines), len(r_lines)], "mtime": os.stat(path).st_mtime}
def wg_conf(text):
    secs, cur = [], None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            cur = {"_": line}
            secs.append(cur)
        elif "=" in line and cur is not None:
            k, v = (x.strip() for x in line.split("=", 1))
            cur[k] = ",".join(sorted(x.strip() for x in v.split(","))) if k == "AllowedIPs" else v
    return {(s["_"] + ":" + s.get("PublicKey", "")): s for s in secs}
if spec.get("wg"):
    a = subprocess.run(["wg", "showconf", spec["wg"]], capture_output=True, text=True)
    b = subprocess.run(["wg-quick", "strip", spec["wg"]], capture_output=True, text=True)
    if a.returncode or b.returncode:
        out["wg"] = {"error": (a.stderr or b.stderr).strip()[-200:]}
    else:
        run, conf = wg_conf(a.stdout), wg_conf(b.stdout)
        keys = sorted(set(run) | set(conf))
        out["wg"] = {"differ": [f"{k.split(':')[0]}{'[' + k.split(':', 1)[1][:8] + '...]' if k.split(':', 1)[1] else ''}"
                                f".{f}" for k in keys for f in sorted(set(run.get(k, {})) | set(conf.get(k, {})))
                                if f != "_" and run.get(k, {}).get(f) != conf.get(k, {}).get(f)]}
if spec.get("daemon"):
    name, path = spec["daemon"]
    pid = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", name], capture_output=True,
                         text=True).stdout.strip()
    started = os.stat(f"/proc/{pid}").st_mtime if pid not in ("", "0") and os.path.isdir(f"/proc/{pid}") else None
    out["daemon"] = {"name": name, "started": started, "file_mtime": os.stat(path).st_mtime if os.path.exists(path) else None}
print(json.dumps(out))
"""


def _build_files(hk, plan) -> dict[str, str]:
    return {p: hk.rendered(plan.name, p) for p in hk.rendered_files(plan.name) if p.startswith(BUILD_FILES)}


@pytest.mark.bsi("NET.3.1.A8")
def test_running_config_matches_build(host, hk, plan, live_ruleset):
    """The firewall, DHCP/DNS and WireGuard configuration running on the router hash-match the
    rendered build whose manifest the audit archives: the deployed files (template variables put
    back) against manifest.json's sha256, the loaded ruleset against the rendered one loaded in a
    scratch namespace, the live tunnel against its file, dnsmasq started after its file changed."""
    manifest = json.loads((hk.build_dir / "manifest.json").read_text()).get("files", {})
    files = _build_files(hk, plan)
    expect(bool(files), "rendered firewall, DHCP/DNS and WireGuard files for the router", "none in the build")
    dnsmasq = next((p for p in sorted(files) if p.startswith("/etc/dnsmasq.d/")), None)
    wg = next((Path(p).stem for p in sorted(files) if p.startswith("/etc/wireguard/") and p.endswith(".conf")), None)
    r = host.run("python3 -c %s %s", _BUILD_SCRIPT,
                 json.dumps({"files": files, "wg": wg, "daemon": ["dnsmasq", dnsmasq] if dnsmasq else None}))
    try:
        got = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(f"expected the router to hash its configuration, found rc {r.rc}: {r.stderr.strip()[-300:]}",
                    pytrace=False)
    bad = []
    for path in sorted(files):
        f, want = got["files"].get(path, {}), manifest.get(f"hosts/{plan.name}{path}")
        if "error" in f:
            bad.append(f"{path}: {f['error']}")
        elif want is None:
            bad.append(f"{path}: not in the build's manifest")
        elif f["sha256"] != want:
            lines = ", ".join(map(str, f["differ"])) or "count " + "/".join(map(str, f["lines"]))
            bad.append(f"{path}: sha256 {f['sha256'][:12]} != build {want[:12]} (lines {lines} differ)")
    rendered = hk.build_dir / "hosts" / plan.name / RULESET.lstrip("/")
    try:
        want_js, _ = nftcompare.load_rendered(rendered)
    except ValueError as e:
        pytest.fail(f"expected the rendered ruleset {rendered} to load, found: {e}", pytrace=False)

    def digest(js):
        return hashlib.sha256(json.dumps(js, sort_keys=True).encode()).hexdigest()
    if digest(live_ruleset[0]) != digest(want_js):
        bad.append(f"loaded ruleset sha256 {digest(live_ruleset[0])[:12]} != rendered {digest(want_js)[:12]}")
    w = got.get("wg") or {}
    if wg and (w.get("error") or w.get("differ")):
        bad.append(f"{wg} running differs from its file: {w.get('error') or ', '.join(w['differ'])}")
    d = got.get("daemon") or {}
    if dnsmasq and (d.get("started") is None or d["started"] < (d.get("file_mtime") or 0)):
        bad.append("dnsmasq not running" if d.get("started") is None else
                   f"dnsmasq runs a configuration older than {dnsmasq} (started before the file changed)")
    expect(not bad, f"the running configuration equal to the build ({len(files)} files, the ruleset, the tunnel)",
           "; ".join(bad))
