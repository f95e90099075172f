"""Hub-wide probes: real traffic between the hub's hosts, sent from inside them.

Every "cannot reach" probe has a positive control from the same host in the
same batch (e.g. the guest host's DNS query to its own router address must
answer), so a broken host cannot pass for a good firewall.  A TCP "refused"
counts as reachable: something answered.

The probes of all sources run in one parallel batch per source host, so the
1-second timeouts of blocked probes overlap.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hubkit.verify.plugin import expect, not_applicable

NETPROBE = Path(__file__).with_name("netprobe.py")
TIMEOUT = 1.0
PROBE_PORT_PREFIX = "hkprb"  # switch-side names of the DHCP probe's veths (see the switch suite)


def run_probe(host, *args, timeout: float | None = None) -> dict:
    """Run netprobe.py on ``host`` (sent inline: nothing is installed on the host)."""
    cmd = "python3 -c %s " + " ".join(["%s"] * len(args))
    r = host.run(cmd, NETPROBE.read_text(), *[str(a) for a in args])
    lines = r.stdout.strip().splitlines()
    if r.rc != 0 or not lines:
        pytest.fail(f"expected the probe {args[0]} to run on {host.backend.hostname}, found rc {r.rc}: "
                    f"{r.stderr.strip()[-300:]}", pytrace=False)
    return json.loads(lines[-1])


# -- who probes what ---------------------------------------------------------------

def _first(topo, pred):
    return next((w for w in topo.workstations if pred(w)), None)


def guest_host(topo):
    return _first(topo, lambda w: topo.segments[w.segment].isolated)


def staff_host(topo):
    return _first(topo, lambda w: topo.segments[w.segment].vpn_access)


def segment_targets(topo, segment: str) -> list[str]:
    """Addresses that live in ``segment``: the router's, hosts', the switch's and the mgmt laptop's."""
    seg = topo.segments[segment]
    addrs = [seg.router_address.ip]
    addrs += [w.address.ip for w in topo.workstations if w.segment == segment]
    if segment == "mgmt":
        addrs += [topo.switch.address.ip, topo.mgmt_host.address.ip]
    return [str(a) for a in dict.fromkeys(addrs)]


def _tcp_icmp(topo, addrs: list[str]) -> list[str]:
    """TCP 22 and ICMP to every address (the router's too: a segment may ping only its own gateway)."""
    return [p for a in addrs for p in (f"tcp:{a}:22", f"icmp:{a}")]


def plans(hub, topo) -> dict[str, dict[str, list[str]]]:
    """source host -> {group: [probe specs]}; group 'control' must answer, every other must not."""
    out: dict[str, dict[str, list[str]]] = {}
    core_dns = [str(a) for a in hub.services.central.dns]
    g = guest_host(topo)
    if g is not None:
        gseg = topo.segments[g.segment]
        groups = {"control": [f"udp53:{gseg.router_address.ip}"]}
        for name, seg in sorted(topo.segments.items()):
            if seg.isolated:
                continue
            groups[name] = _tcp_icmp(topo, segment_targets(topo, name))
        groups["core"] = [s for a in core_dns for s in (f"tcp:{a}:53", f"icmp:{a}")]
        groups["router-ssh"] = [f"tcp:{gseg.router_address.ip}:22", f"tcp:{topo.router.address.ip}:22"]
        out[g.name] = groups
    s = staff_host(topo)
    if s is not None and "mgmt" in topo.segments:
        sseg = topo.segments[s.segment]
        out[s.name] = {"control": [f"udp53:{sseg.router_address.ip}"],
                       "mgmt": _tcp_icmp(topo, segment_targets(topo, "mgmt"))}
    return out


def run_reach(hk, hub, topo):
    """All reachability probes, every source host in parallel: {(source, group): {spec: result}}."""
    todo = plans(hub, topo)

    def one(source):
        specs = [s for group in todo[source].values() for s in group]
        return source, run_probe(hk.host(source), "reach", TIMEOUT, *specs)

    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        results = dict(pool.map(one, sorted(todo)))
    return {(src, group): {s: results[src][s] for s in specs}
            for src, groups in todo.items() for group, specs in groups.items()}


# The slow probes (DHCP waits ~3 s for dnsmasq's ping check, the spoof listener
# ~2 s) start together as soon as the session does; each test waits for its own.
# Batch -> the fixture through which the selected tests use it.
PREFETCH = {"reach": "reach", "dhcp": "dhcp_leases", "spoof": "spoof", "scan": "guest_scan", "ssh": "ssh_offers"}


@pytest.fixture(scope="session", autouse=True)
def prefetch(request, hk, hub, topo):
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    work = {"reach": lambda: run_reach(hk, hub, topo), "dhcp": lambda: run_dhcp(hk, topo),
            "spoof": lambda: run_spoof(hk, topo), "scan": lambda: run_guest_scan(hk, hub, topo),
            "ssh": lambda: run_ssh_offers(hk, hub, topo)}
    pool = ThreadPoolExecutor(max_workers=len(work))
    futures = {k: pool.submit(fn) for k, fn in work.items() if PREFETCH[k] in used}
    yield futures
    pool.shutdown(wait=True)


def _result(prefetch, key):
    __tracebackhide__ = True
    fut = prefetch.get(key)
    if fut is None:
        pytest.fail(f"probe batch {key} was not started", pytrace=False)
    return fut.result()


def _batch(prefetch, key):
    """A batch's result; skips the test when the batch said it cannot run here ({"skip": why})."""
    __tracebackhide__ = True
    r = _result(prefetch, key)
    if "skip" in r:
        pytest.skip(r["skip"])
    return r


@pytest.fixture(scope="session")
def reach(prefetch):
    return _result(prefetch, "reach")


def _assert_blocked(reach, source, group, what):
    __tracebackhide__ = True
    control = reach[(source, "control")]
    expect(all(v == "open" for v in control.values()),
           f"the control probe from {source} to answer ({', '.join(control)})",
           ", ".join(f"{k} {v}" for k, v in control.items()) + " - probe inconclusive")
    got = reach.get((source, group), {})
    expect(bool(got), f"something in {group} to probe", "no targets")
    open_ = [f"{k} {v}" for k, v in got.items() if v != "timeout"]
    expect(not open_, f"{what}: every probe to time out", "reachable: " + ", ".join(open_))


# -- guest isolation ---------------------------------------------------------------

def pytest_generate_tests(metafunc):
    from hubkit.verify.plugin import context
    if {"guest_target", "dhcp_segment", "ssh_host"} & set(metafunc.fixturenames):
        topo = context(metafunc.config).topo
    if "guest_target" in metafunc.fixturenames:
        groups = [n for n, s in sorted(topo.segments.items()) if not s.isolated] + ["core"]
        marks = {"mgmt": [pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A21", "NET.1.1.A23")]}
        metafunc.parametrize("guest_target", [pytest.param(g, id=g, marks=marks.get(g, [])) for g in groups])
    if "dhcp_segment" in metafunc.fixturenames:
        metafunc.parametrize("dhcp_segment", sorted(n for n, s in topo.segments.items() if s.dhcp))
    if "ssh_host" in metafunc.fixturenames:
        ctx = context(metafunc.config)
        metafunc.parametrize("ssh_host", ssh_policy_hosts(ctx.hub, topo, bool(ctx.lab)))


@pytest.mark.bsi("NET.1.1.A5")
def test_guest_cannot_reach(reach, topo, guest_target):
    """A host on the guest segment opens no TCP and gets no ICMP reply from internal segments or core."""
    g = guest_host(topo)
    if g is None:
        not_applicable("no host on an isolated segment in this hub")
    _assert_blocked(reach, g.name, guest_target, f"guest {g.name} -> {guest_target}")


@pytest.mark.bsi("NET.1.1.A5", "SYS.1.3.A8", "NET.1.1.A21")
def test_guest_cannot_reach_router_ssh(reach, topo):
    g = guest_host(topo)
    if g is None:
        not_applicable("no host on an isolated segment in this hub")
    _assert_blocked(reach, g.name, "router-ssh", f"guest {g.name} -> router SSH")


@pytest.mark.bsi("NET.1.1.A21", "NET.1.1.A23")
def test_staff_cannot_reach_mgmt(reach, topo):
    """No model setting lets a staff segment into mgmt: every probe must time out."""
    s = staff_host(topo)
    if s is None or "mgmt" not in topo.segments:
        not_applicable("no staff host or no mgmt segment in this hub")
    _assert_blocked(reach, s.name, "mgmt", f"staff {s.name} -> mgmt")


# -- the tunnel --------------------------------------------------------------------

def _wg_transfer(router) -> tuple[int, int]:
    out = router.check_output("wg show wg0 transfer")
    rx = tx = 0
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            rx, tx = rx + int(parts[1]), tx + int(parts[2])
    return rx, tx


@pytest.mark.bsi("NET.3.3.A11", "NET.1.1.A7")
def test_staff_reaches_core_through_tunnel(hk, hub, topo):
    """TCP from a staff workstation to a core service succeeds, and wg0's counters rise with it."""
    s = staff_host(topo)
    if s is None or not hub.services.central.dns:
        not_applicable("no staff host or no central service in this hub")
    target = str(hub.services.central.dns[0])
    router = hk.host(topo.router.name)
    route = router.check_output("ip -o route get %s", target)
    expect(" dev wg0 " in f" {route} ", f"the route to {target} through wg0", route)
    before = _wg_transfer(router)
    got = run_probe(hk.host(s.name), "reach", 3, f"tcp:{target}:53", f"tcp:{target}:53")
    after = _wg_transfer(router)
    expect(set(got.values()) == {"open"}, f"TCP {s.name} -> {target}:53 (central DNS) open",
           ", ".join(got.values()))
    expect(after[0] > before[0] and after[1] > before[1], "wg0 rx and tx counters rising",
           f"rx {before[0]}->{after[0]}, tx {before[1]}->{after[1]}")


# -- DNS ---------------------------------------------------------------------------

def _hub_names(hub, topo) -> dict[str, str]:
    zone = hub.services.dns_zone
    names = {f"{topo.router.name}.{zone}": str(topo.router.address.ip),
             f"{topo.switch.name}.{zone}": str(topo.switch.address.ip)}
    names.update({f"{w.name}.{zone}": str(w.address.ip) for w in topo.workstations})
    return names


@pytest.mark.bsi("NET.3.2.A4")
def test_dns_resolves_hub_hosts(hk, hub, topo):
    """From a host on each client segment, every hub host's name resolves through that segment's router address."""
    names = _hub_names(hub, topo)
    sources = [h for h in (staff_host(topo), guest_host(topo)) if h is not None]
    if not sources:
        not_applicable("no workstation to ask from")
    wrong = []
    for src in sources:
        server = str(topo.segments[src.segment].router_address.ip)
        args = " ".join(f"{n} A" for n in sorted(names))
        out = hk.host(src.name).run(f"dig +noall +answer +time=1 +tries=2 @{server} {args}").stdout
        got: dict[str, set[str]] = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 5 and f[3] == "A":
                got.setdefault(f[0].rstrip("."), set()).add(f[4])
        for name, addr in sorted(names.items()):
            if got.get(name) != {addr}:
                wrong.append(f"{src.name}@{server}: {name} -> {', '.join(sorted(got.get(name, []))) or 'nothing'}"
                             f" (want {addr})")
    expect(not wrong, "every hub host name resolved by the router", "; ".join(wrong))


# -- anti-spoofing -----------------------------------------------------------------

def run_spoof(hk, topo) -> dict:
    """From the guest host: one genuine and forged-source UDP datagrams to a listener on the core."""
    g = guest_host(topo)
    if g is None:
        return {"skip": "no host on an isolated segment in this hub"}
    core = hk.host(topo.core.name)
    dst = str(topo.core.address.ip)
    port = 47000 + uuid.uuid4().int % 1000
    nonce = uuid.uuid4().hex[:8]
    staff_seg = next((s for s in topo.segments.values() if not s.isolated and s.name != g.segment), None)
    forged = {"outside": "192.0.2.66"}
    if staff_seg is not None:
        forged[staff_seg.name] = str(list(staff_seg.prefix.hosts())[-2])
    result: dict = {}

    def listen():
        result.update(run_probe(core, "listen", port, 3, f"genuine-{nonce}"))

    t = threading.Thread(target=listen)
    t.start()
    time.sleep(0.5)  # let the listener bind before anything is sent
    guest = hk.host(g.name)
    own = str(g.address.ip)
    # Forged first, the genuine control last: once the control has arrived, a forged
    # datagram that got through (same path, sent earlier) would be there too.
    for label, src in sorted(forged.items()):
        run_probe(guest, "spoof", src, dst, port, f"forged-{label}-{nonce}")
    run_probe(guest, "spoof", own, dst, port, f"genuine-{nonce}")
    t.join()
    return {"own": own, "dst": f"{dst}:{port}", "nonce": nonce, "forged": forged,
            "texts": [m["text"] for m in result.get("received", [])]}


@pytest.fixture(scope="session")
def spoof(prefetch):
    return _result(prefetch, "spoof")


@pytest.mark.bsi("NET.3.1.A15")
def test_guest_spoofed_source_dropped(spoof):
    """UDP from the guest host to the core with a forged source never arrives; the genuine one does."""
    r = spoof
    if "skip" in r:
        not_applicable(r["skip"])
    texts, nonce = r["texts"], r["nonce"]
    expect(f"genuine-{nonce}" in texts, f"the genuine datagram from {r['own']} to reach {r['dst']} (control)",
           "it did not arrive - probe inconclusive")
    leaked = [t_ for t_ in texts if t_.startswith("forged-") and t_.endswith(nonce)]
    expect(not leaked, f"forged sources {', '.join(r['forged'].values())} dropped at the router",
           "arrived: " + ", ".join(leaked))


# -- DHCP on a fresh interface -------------------------------------------------------

class ProbeClient:
    """A throwaway netns with one veth plugged into a segment's bridge on the lab switch.

    Recorded in the lab's ledger before it is created, so `hubkit lab down`
    removes it even if verify is killed half-way.
    """

    def __init__(self, hk, segment: str, tag: str = ""):
        """``tag`` tells apart two clients on one segment (their netns, port and MAC)."""
        from hubkit.lab.state import State
        self.hk, self.segment = hk, segment
        seg = hk.topo.segments[segment]
        self.ns = f"{hk.lab['prefix']}-probe-{seg.vlan}{tag}"
        self.port = f"{PROBE_PORT_PREFIX}{seg.vlan}{tag}"
        self.switch_ns = hk.lab["host_netns"][hk.topo.switch.name]
        self.bridge = seg.bridge
        self.state = State.load(hk.hub_id)
        self.link = [self.ns, "eth0", self.switch_ns, self.port]
        # A fixed, locally administered MAC per hub and segment: dnsmasq hands the probe its
        # previous lease at once instead of ping-checking a new address (~3 s, serialised).
        digest = hashlib.sha256(f"{hk.hub_id}/{segment}{'/' + tag if tag else ''}".encode()).digest()
        self.mac = ":".join(f"{b:02x}" for b in (0x02, 0x68, 0x6B, digest[0], digest[1], seg.vlan % 256))

    def _ip(self, *args):
        r = subprocess.run(["ip", *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")

    def __enter__(self):
        self.cleanup()
        self.state.record("netns", self.ns)
        self._ip("netns", "add", self.ns)
        self.state.record("links", self.link)
        self._ip("-n", self.ns, "link", "add", "eth0", "address", self.mac, "type", "veth", "peer", "name",
                 self.port, "netns", self.switch_ns)
        self._ip("-n", self.switch_ns, "link", "set", self.port, "master", self.bridge, "up")
        self._ip("-n", self.ns, "link", "set", "lo", "up")
        self._ip("-n", self.ns, "link", "set", "eth0", "up")
        return self

    def netprobe(self, *args, timeout: float = 30.0) -> dict | None:
        """Run netprobe.py inside the probe netns: its JSON result, or None (stderr kept in ``self.error``)."""
        r = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, str(NETPROBE), *map(str, args)],
                           capture_output=True, text=True, timeout=timeout)
        lines = r.stdout.strip().splitlines()
        self.error = r.stderr.strip()[-300:]
        return json.loads(lines[-1]) if lines else None

    def dhcp(self, timeout: float = 15.0) -> dict:
        lease = self.netprobe("dhcp", "eth0", timeout, timeout=timeout + 10)
        return lease if lease is not None else {"ok": False, "stage": "run", "error": self.error}

    def take(self, lease: dict):
        """Configure the lease on eth0, with the router it named as default gateway."""
        prefixlen = ipaddress.IPv4Network(f"0.0.0.0/{lease['netmask']}").prefixlen
        self._ip("-n", self.ns, "addr", "add", f"{lease['address']}/{prefixlen}", "dev", "eth0")
        self._ip("-n", self.ns, "route", "add", "default", "via", lease["router"][0])

    def cleanup(self):
        subprocess.run(["ip", "-n", self.switch_ns, "link", "del", self.port], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def __exit__(self, *exc):
        self.cleanup()
        self.state.forget("links", self.link)
        self.state.forget("netns", self.ns)


def run_dhcp(hk, topo) -> dict:
    """One fresh client per DHCP segment, all at once: {segment: lease}."""
    if not hk.lab:
        return {"skip": "a fresh DHCP client needs the lab (a probe netns on the switch)"}
    segs = sorted(n for n, s in topo.segments.items() if s.dhcp)

    def one(seg):
        with ProbeClient(hk, seg) as c:
            return seg, c.dhcp()

    with ThreadPoolExecutor(max_workers=max(1, len(segs))) as pool:
        return dict(pool.map(one, segs))


@pytest.fixture(scope="session")
def dhcp_leases(prefetch):
    return _batch(prefetch, "dhcp")


@pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A19")
def test_dhcp_fresh_client(dhcp_leases, topo, dhcp_segment):
    """A new client plugged into the segment gets an address from that segment's pool, and its router/DNS."""
    seg = topo.segments[dhcp_segment]
    lease = dhcp_leases[dhcp_segment]
    expect(lease.get("ok"), f"a DHCP lease on {dhcp_segment}",
           f"no {'offer' if lease.get('stage') == 'offer' else 'ack'} ({lease})")
    start, end = seg.dhcp_range
    addr = ipaddress.IPv4Address(lease["address"])
    expect(start <= addr <= end, f"an address in {start}-{end}", addr)
    gw = str(seg.router_address.ip)
    expect(lease.get("router") == [gw] and lease.get("dns") == [gw], f"router and DNS {gw}",
           f"router {lease.get('router')}, DNS {lease.get('dns')}")
    expect(lease.get("netmask") == str(seg.prefix.netmask), f"netmask {seg.prefix.netmask}", lease.get("netmask"))


# -- a fresh guest scans the hub -------------------------------------------------------

SCAN_TIMEOUT = 2.0


def inside_addresses(hub, topo) -> list[str]:
    """Every address of the hub a guest could aim at: each of the router's (segments, uplink,
    tunnel), every workstation's, the switch's and the mgmt laptop's."""
    addrs = [s.router_address.ip for _n, s in sorted(topo.segments.items())]
    addrs += [topo.wan_router.ip, hub.vpn.tunnel_address.ip]
    addrs += [w.address.ip for w in topo.workstations]
    addrs += [topo.switch.address.ip, topo.mgmt_host.address.ip]
    return [str(a) for a in dict.fromkeys(addrs)]


def run_guest_scan(hk, hub, topo) -> dict:
    """A new client on the first isolated DHCP segment takes a lease and scans every inside address."""
    if not hk.lab:
        return {"skip": "a fresh guest address needs the lab (a probe netns on the switch)"}
    seg = next((s for _n, s in sorted(topo.segments.items()) if s.isolated and s.dhcp), None)
    if seg is None:
        return {"skip": "no isolated segment with DHCP in this hub"}
    targets = inside_addresses(hub, topo)
    with ProbeClient(hk, seg.name, tag="s") as c:
        lease = c.dhcp()
        if not lease.get("ok"):
            return {"error": f"no DHCP lease on {seg.name} for the scanning client ({lease})"}
        c.take(lease)
        found = c.netprobe("scan", SCAN_TIMEOUT, lease["address"], *targets, timeout=60)
        if found is None:
            return {"error": f"the scan did not run: {c.error}"}
    return {"segment": seg.name, "source": lease["address"], "gateway": str(seg.router_address.ip),
            "targets": targets, "found": found}


@pytest.fixture(scope="session")
def guest_scan(prefetch):
    return _batch(prefetch, "scan")


def scan_verdict(scan: dict) -> tuple[list[str], list[str]]:
    """(controls that did not answer, per address what else answered) of one scan result.

    An address's answers read e.g. ``10.64.1.11: icmp open, tcp/22 open, 32 ports refused``:
    what is open is named, ports that only refused (closed, but the host answered) are counted.
    """
    gw = scan["gateway"]
    controls = [f"tcp:{gw}:53", f"udp:{gw}:53"]
    allowed = set(controls) | {f"udp:{gw}:67"}
    silent = [f"{c} {scan['found'].get(c, 'not probed')}" for c in controls if scan["found"].get(c) != "open"]
    per: dict[str, dict[str, list[str]]] = {}
    for spec, state in scan["found"].items():
        if state == "timeout" or spec in allowed:
            continue
        kind, _, rest = spec.partition(":")
        addr, _, port = rest.partition(":")
        what = f"{kind}/{port}" if port else kind
        per.setdefault(addr, {}).setdefault("refused" if state == "refused" else "open", []).append(
            what if state in ("open", "refused") else f"{what} {state}")
    key = lambda w: (w.split("/")[0], int(w.split("/")[1].split()[0]) if "/" in w else 0)  # noqa: E731
    answered = []
    for addr in sorted(per, key=ipaddress.IPv4Address):
        parts = [f"{w} open" if " " not in w else w for w in sorted(per[addr].get("open", []), key=key)]
        refused = sorted(per[addr].get("refused", []), key=key)
        if refused:
            parts.append(f"{len(refused)} port(s) refused ({', '.join(refused[:3])}{', ...' if len(refused) > 3 else ''})")
        answered.append(f"{addr}: {', '.join(parts)}")
    return silent, answered


@pytest.mark.bsi("NET.1.1.A5", "NET.3.2.A4")
def test_fresh_guest_reaches_only_its_gateway(guest_scan):
    """A new guest address scans every inside address of the hub (common TCP/UDP ports, ICMP):
    only DNS (and DHCP) on its own gateway may answer."""
    r = guest_scan
    expect("error" not in r, "a fresh guest client with a lease", r.get("error"))
    silent, answered = scan_verdict(r)
    expect(not silent, f"DNS on the guest gateway {r['gateway']} to answer {r['source']} (control)",
           ", ".join(silent) + " - scan inconclusive")
    expect(not answered, f"nothing but DNS/DHCP on {r['gateway']} answering {r['source']} "
           f"({len(r['found'])} probes to {len(r['targets'])} addresses)", "answered: " + "; ".join(answered))


# -- SSH algorithms, as negotiated ---------------------------------------------------

SSHD_DROPIN = "/etc/ssh/sshd_config.d/10-hubkit.conf"
# What stock Debian's sshd still accepts and the policy drops: each offered alone must be refused.
LEGACY = {"KexAlgorithms": ["diffie-hellman-group14-sha256", "ecdh-sha2-nistp256"],
          "Ciphers": ["aes128-ctr"], "HostKeyAlgorithms": ["ecdsa-sha2-nistp256"]}


def ssh_policy_hosts(hub, topo, lab: bool) -> list[str]:
    """Hub hosts whose sshd runs the rendered policy: router, workstations, a Linux switch
    (in the lab also the Linux stand-in for an IOS switch)."""
    names = [topo.router.name] + [w.name for w in topo.workstations]
    if hub.switch.dialect == "linux-bridge" or lab:
        names.insert(1, topo.switch.name)
    return names


def _ssh_argv(hk, name: str, *opts: str) -> list[str]:
    ssh = hk.raw.get("ssh") or {}
    argv = ["ssh", *(["-F", ssh["config"]] if ssh.get("config") else []), "-vv", "-o", "ControlMaster=no",
            "-o", "ControlPath=none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *opts, name, "true"]
    return argv


def parse_kex(stderr: str) -> dict[str, str]:
    """The algorithms ``ssh -vv`` reports as negotiated (its ``kex:`` debug lines)."""
    out = {}
    if m := re.search(r"debug1: kex: algorithm: (\S+)", stderr):
        out["kex"] = m.group(1)
    if m := re.search(r"debug1: kex: host key algorithm: (\S+)", stderr):
        out["hostkey"] = m.group(1)
    for way in ("server->client", "client->server"):
        if m := re.search(rf"debug1: kex: {way} cipher: (\S+) MAC: (\S+)", stderr):
            out[f"cipher {way}"], out[f"mac {way}"] = m.group(1), m.group(2)
    return out


def run_ssh_offers(hk, hub, topo) -> dict:
    """Per host: what a default client negotiates, and how each legacy offer alone fares."""
    if (hk.raw.get("ssh") or {}).get("backend") == "local":
        return {"skip": "verify runs on the host itself: no SSH to negotiate"}
    jobs = []
    for name in ssh_policy_hosts(hub, topo, bool(hk.lab)):
        jobs.append((name, "default", []))
        jobs += [(name, f"{opt}={alg}", ["-o", f"{opt}={alg}"]) for opt, algs in LEGACY.items() for alg in algs]

    def one(job):
        name, label, opts = job
        r = subprocess.run(_ssh_argv(hk, name, *opts), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        refused = next((line.strip() for line in r.stderr.splitlines() if "Unable to negotiate" in line), None)
        return name, label, {"rc": r.returncode, "kex": parse_kex(r.stderr), "refused": refused,
                             "tail": r.stderr.strip().splitlines()[-1:]}

    out: dict = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for name, label, res in pool.map(one, jobs):
            out.setdefault(name, {})[label] = res
    return out


@pytest.fixture(scope="session")
def ssh_offers(prefetch):
    return _batch(prefetch, "ssh")


def _policy(hk, name: str) -> dict[str, list[str]]:
    """The algorithm lists of the host's rendered sshd drop-in (the lab's own copy for a stand-in)."""
    text = hk.rendered(name, SSHD_DROPIN)
    if text is None and hk.lab:
        p = Path(hk.lab["dir"]) / "standin" / name / SSHD_DROPIN.lstrip("/")
        text = p.read_text() if p.is_file() else None
    out = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key in ("KexAlgorithms", "Ciphers", "MACs", "HostKeyAlgorithms"):
            out[key] = value.strip().split(",")
    return out


@pytest.mark.bsi("SYS.1.3.A8", "NET.3.2.A6")
def test_ssh_negotiates_only_the_policy(ssh_offers, hk, ssh_host):
    """From where verify runs (the mgmt laptop): the negotiated key exchange, host key, ciphers and
    MACs are the rendered policy's, and each legacy algorithm stock Debian accepts is refused."""
    policy = _policy(hk, ssh_host)
    expect(set(policy) == {"KexAlgorithms", "Ciphers", "MACs", "HostKeyAlgorithms"},
           f"an algorithm policy in the rendered {SSHD_DROPIN}", ", ".join(sorted(policy)) or "none")
    got = ssh_offers[ssh_host]["default"]
    kex = got["kex"]
    expect(got["rc"] == 0 and len(kex) == 6, f"a login to {ssh_host} with its kex lines",
           f"rc {got['rc']}, {kex or 'no kex lines'}: {' '.join(got['tail'])}")
    wrong = [f"kex {kex['kex']}"] if kex["kex"] not in policy["KexAlgorithms"] else []
    wrong += [f"host key {kex['hostkey']}"] if kex["hostkey"] not in policy["HostKeyAlgorithms"] else []
    for way in ("server->client", "client->server"):
        cipher, mac = kex[f"cipher {way}"], kex[f"mac {way}"]
        if cipher not in policy["Ciphers"]:
            wrong.append(f"{way} cipher {cipher}")
        if mac != "<implicit>" and mac not in policy["MACs"]:
            wrong.append(f"{way} MAC {mac}")
    expect(not wrong, "only the policy's algorithms negotiated", "; ".join(wrong))
    accepted = [label for label, r in ssh_offers[ssh_host].items() if label != "default" and not r["refused"]]
    expect(not accepted, "every legacy algorithm refused ('Unable to negotiate')", "accepted: " + ", ".join(accepted))
