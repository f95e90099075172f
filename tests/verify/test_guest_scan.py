"""The guest scan probe without a lab: netprobe's scanner against a throwaway network
namespace (root), and the verdict the probe draws from a scan."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubkit.paths import PLAYBOOKS

NETPROBE = PLAYBOOKS / "probes" / "netprobe.py"


def _probes():
    spec = importlib.util.spec_from_file_location("hk_test_probes", PLAYBOOKS / "probes" / "test_probes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# In a fresh netns: loopback up, a TCP listener on 127.0.0.1:53, then the scan of 127.0.0.1.
SCENE = r"""
import socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 53)); srv.listen(8)
out = subprocess.run([sys.executable, sys.argv[1], "scan", "1", "127.0.0.1", "127.0.0.1", "127.0.0.9"],
                     capture_output=True, text=True)
print(out.stdout, end=""); print(out.stderr, end="", file=sys.stderr)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the scanner binds UDP 68 and uses a raw ICMP socket (root)")
def test_scanner_tells_open_from_refused_from_silent():
    r = subprocess.run(["unshare", "--net", sys.executable, "-c", SCENE, str(NETPROBE)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.strip().splitlines()[-1])
    scanner = {}
    exec(compile(NETPROBE.read_text(), str(NETPROBE), "exec"), scanner)  # the port lists, as the probe uses them
    tcp, udp = scanner["TCP_PORTS"], scanner["UDP_PORTS"]
    # Every port of both addresses probed, plus ICMP.
    assert len(found) == 2 * (len(tcp) + len(udp) + 1)
    assert found["tcp:127.0.0.1:53"] == "open"
    assert found["tcp:127.0.0.1:22"] == "refused"       # RST: closed, but the host answered
    assert found["udp:127.0.0.1:123"] == "refused"      # ICMP port unreachable
    assert found["udp:127.0.0.1:67"] == "timeout"       # nobody answers the DHCP INFORM
    assert found["icmp:127.0.0.1"] == "open"
    # 127.0.0.9 is local too (all of 127/8 is): the scan's sockets are per address, not shared.
    assert found["tcp:127.0.0.9:53"] == "refused" and found["tcp:127.0.0.9:80"] == "refused"


def test_verdict_names_open_ports_and_counts_refused_ones():
    probes = _probes()
    gw = "10.64.1.1"
    found = {f"tcp:{gw}:53": "open", f"udp:{gw}:53": "open", f"udp:{gw}:67": "open", f"tcp:{gw}:22": "timeout",
             "tcp:10.64.0.1:53": "open", "udp:10.64.0.1:53": "open", "icmp:10.64.1.11": "open",
             "tcp:10.64.1.11:22": "open", "tcp:10.64.1.11:80": "refused", "tcp:10.64.1.11:443": "refused",
             "tcp:10.64.1.11:21": "refused", "tcp:10.64.1.11:23": "refused", "udp:10.64.2.1:123": "error:x"}
    silent, answered = probes.scan_verdict({"gateway": gw, "found": found})
    assert silent == []
    assert answered == ["10.64.0.1: tcp/53 open, udp/53 open",
                        "10.64.1.11: icmp open, tcp/22 open, 4 port(s) refused (tcp/21, tcp/23, tcp/80, ...)",
                        "10.64.2.1: udp/123 error:x"]


def test_verdict_is_clean_for_dns_and_dhcp_on_the_gateway_only():
    probes = _probes()
    gw = "10.64.1.1"
    found = {f"tcp:{gw}:53": "open", f"udp:{gw}:53": "open", f"udp:{gw}:67": "open", f"icmp:{gw}": "timeout",
             "tcp:10.64.0.1:53": "timeout"}
    assert probes.scan_verdict({"gateway": gw, "found": found}) == ([], [])
    # A dead gateway is no pass: the DNS controls must answer.
    found[f"udp:{gw}:53"] = "timeout"
    silent, answered = probes.scan_verdict({"gateway": gw, "found": found})
    assert silent == [f"udp:{gw}:53 timeout"] and answered == []


def test_every_inside_address_is_a_target(tmp_path):
    from hubkit import topology
    from hubkit.fleet.repo import load_fleet
    from hubkit.scaffold import init_fleet
    init_fleet(tmp_path / "fleet")
    hub = load_fleet(tmp_path / "fleet").hub("zeitz").model
    topo = topology.build(hub)
    got = _probes().inside_addresses(hub, topo)
    # The router's segment addresses (devices, guest, mgmt, staff), its uplink and tunnel addresses,
    # every workstation, the switch and the mgmt laptop.
    assert got[:6] == ["10.64.2.1", "10.64.1.1", "10.64.2.129", "10.64.0.1", "203.0.113.10", "10.255.0.2"]
    assert got[6:] == [str(w.address.ip) for w in topo.workstations] + [
        str(topo.switch.address.ip), str(topo.mgmt_host.address.ip)]
    assert len(set(got)) == len(got) == 6 + 5 + 2


# -- the SSH negotiation probe's parsing ------------------------------------------------

SSH_VV = """debug1: SSH2_MSG_KEXINIT received
debug1: kex: algorithm: sntrup761x25519-sha512@openssh.com
debug1: kex: host key algorithm: ssh-ed25519
debug1: kex: server->client cipher: chacha20-poly1305@openssh.com MAC: <implicit> compression: none
debug1: kex: client->server cipher: aes256-gcm@openssh.com MAC: <implicit> compression: none
"""


def test_negotiated_algorithms_are_read_from_the_kex_lines():
    assert _probes().parse_kex(SSH_VV) == {
        "kex": "sntrup761x25519-sha512@openssh.com", "hostkey": "ssh-ed25519",
        "cipher server->client": "chacha20-poly1305@openssh.com", "mac server->client": "<implicit>",
        "cipher client->server": "aes256-gcm@openssh.com", "mac client->server": "<implicit>"}
    assert _probes().parse_kex("Unable to negotiate with 10.64.0.11 port 22: no matching cipher found") == {}


def test_the_rendered_policy_refuses_what_the_probe_offers():
    """Each legacy algorithm the probe offers is absent from every rendered sshd drop-in."""
    probes = _probes()
    golden = Path(__file__).parents[1] / "render" / "golden" / "zeitz" / "hosts"
    dropins = sorted(golden.glob("*/etc/ssh/sshd_config.d/10-hubkit.conf"))
    assert len(dropins) == 7  # router, switch, five workstations
    for path in dropins:
        text = path.read_text()
        lines = dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        for opt, algs in probes.LEGACY.items():
            offered = lines[opt].strip().split(",")
            assert not set(algs) & set(offered), (path, opt)
        assert lines["HostKey"].strip() == "/etc/ssh/ssh_host_ed25519_key"
        assert lines["PubkeyAcceptedAlgorithms"].strip().split(",")[0] == "ssh-ed25519"


# -- rulesets compared as the router and workstation suites do ------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="loads the rendered ruleset in a throwaway netns (unshare)")
def test_a_flushed_or_extra_rule_is_named_and_an_equal_ruleset_is_not():
    from hubkit import nftcompare
    path = Path(__file__).parents[1] / "render" / "golden" / "zeitz" / "hosts" / "zeitz-gw01" / "etc" / "nftables.conf"
    want = nftcompare.load_rendered(path)
    assert nftcompare.difference(want, want) is None
    flushed = ([], [])
    assert nftcompare.difference(want, flushed).startswith(f"{len(want[1])} rendered line(s) missing: ")
    opened_js = want[0] + [{"rule": {"family": "inet", "table": "filter", "chain": "input",
                                     "expr": [{"accept": None}]}}]
    opened = (opened_js, want[1] + ["tcp dport 22 accept"])
    assert nftcompare.difference(want, opened) == "1 extra line(s): tcp dport 22 accept"


# In a fresh netns: a veth pair, a DHCP server on one end that offers the same address to
# everybody and NAKs the first REQUEST (as dnsmasq does when another client took that address
# between offer and request), then offers another one; netprobe's client on the other end.
DHCP_SCENE = r"""
import socket, subprocess, sys, threading
# This netns's own /sys/class/net (the client reads its MAC there); --mount keeps it private.
for cmd in (["mount", "-t", "sysfs", "sysfs", "/sys"], ["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "c0", "type", "veth", "peer", "name", "s0"],
            ["ip", "link", "set", "c0", "up"], ["ip", "link", "set", "s0", "up"],
            ["ip", "addr", "add", "10.9.0.1/24", "dev", "s0"],
            # The server's address is local here too: c0 must accept it as a source.
            ["sysctl", "-qw", "net.ipv4.conf.all.accept_local=1", "net.ipv4.conf.c0.accept_local=1"]):
    subprocess.run(cmd, check=True)
# Both ends are in this netns: a request may arrive looped back (not on s0), so the server
# listens unbound and answers through a socket bound to s0; a request seen twice counts once.
srv, out = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
for sock in (srv, out):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
out.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"s0")
srv.bind(("0.0.0.0", 67))
out.bind(("10.9.0.1", 67))
seen = []

def reply(req, kind, addr):
    opts = bytes([53, 1, kind, 54, 4]) + socket.inet_aton("10.9.0.1")
    if kind != 6:
        opts += bytes([1, 4, 255, 255, 255, 0, 3, 4, 10, 9, 0, 1, 6, 4, 10, 9, 0, 1, 51, 4, 0, 0, 14, 16])
    pkt = bytes([2]) + req[1:16] + socket.inet_aton(addr) + req[20:236] + b"\x63\x82\x53\x63" + opts + b"\xff"
    out.sendto(pkt, ("255.255.255.255", 68))

def serve():
    offered = "10.9.0.50"
    while True:
        req = srv.recv(2048)
        kind = req[req.index(bytes([53, 1]), 240) + 2]
        if (req[4:8], kind) in seen:
            continue
        seen.append((req[4:8], kind))
        if kind == 1:
            reply(req, 2, offered)
        elif kind == 3 and [k for _x, k in seen].count(3) == 1:
            reply(req, 6, "0.0.0.0")   # NAK: somebody else took it
            offered = "10.9.0.51"
        elif kind == 3:
            reply(req, 5, offered)

threading.Thread(target=serve, daemon=True).start()
out = subprocess.run([sys.executable, sys.argv[1], "dhcp", "c0", "10"], capture_output=True, text=True)
print(out.stdout, end=""); print(out.stderr, end="", file=sys.stderr)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a veth pair in a new netns and UDP 67/68 (root)")
def test_dhcp_client_starts_again_after_a_nak():
    r = subprocess.run(["unshare", "--net", "--mount", sys.executable, "-c", DHCP_SCENE, str(NETPROBE)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lease = json.loads(r.stdout.strip().splitlines()[-1])
    assert lease["ok"] is True and lease["address"] == "10.9.0.51", lease
    assert lease["router"] == ["10.9.0.1"] and lease["netmask"] == "255.255.255.0"
