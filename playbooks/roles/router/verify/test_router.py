"""router: forwarding, the firewall as rendered, default deny, DHCP/DNS per segment, the tunnel.

The loaded nftables ruleset is compared with the rendered one semantically
(`hubkit.nftcompare`: the rendered file loaded in a scratch network namespace
on the controller, both listed as JSON, handles, counters and metadata dropped).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from hubkit import nftcompare
from hubkit.verify_plugin import context, expect, expect_equal, snapshot

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


@pytest.mark.bsi("NET.3.2.A2")
def test_ip_forwarding(facts):
    # Routing between segments is what the forward chain then filters.
    expect_equal(facts["ip_forward"].stdout.strip(), "1", "net.ipv4.ip_forward")


@pytest.mark.bsi("NET.3.1.A15", "NET.3.2.A2")
def test_kernel_settings_as_rendered(facts, hk, plan):
    """Every sysctl the render sets (strict rp_filter: anti-spoofing beside nftables; no redirects)."""
    want = _sysctl_wanted(hk, plan)
    found_any = bool(want)
    out = facts["sysctl"].stdout if want else ""
    live = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in out.splitlines())}
    wrong = [f"{k}={live.get(k, '(missing)')} (want {v})" for k, v in sorted(want.items()) if live.get(k) != v]
    expect(found_any, "rendered sysctl settings for the router", "none in the build tree")
    expect(not wrong, "the live kernel settings as rendered", "; ".join(wrong))


@pytest.mark.bsi("NET.3.2.A2", "NET.3.2.A3")
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
    """dnsmasq listens on segment addresses only: never on the WAN or the tunnel."""
    ss = facts["ss"].stdout
    allowed = {str(s.router_address.ip) for s in topo.segments.values()} | {"127.0.0.1", "0.0.0.0", "*"}
    bad = []
    for line in ss.splitlines():
        if '"dnsmasq"' not in line:
            continue
        local = line.split()[4]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        if addr not in allowed or (addr in ("0.0.0.0", "*") and port != "67"):
            bad.append(local)
    expect(not bad, "dnsmasq on segment addresses only (DHCP on *:67)", "also " + ", ".join(bad))


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
