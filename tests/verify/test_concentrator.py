"""The concentrator comparisons (hubkit.concentrator) behind the `core` suite and decommission's
removal, fed what dc-core really prints and violating variants of it; the playbook filters."""

from __future__ import annotations

import importlib.util
import ipaddress

import pytest

from hubkit import concentrator as cc
from hubkit.fleet.repo import load_fleet
from hubkit.paths import PLAYBOOKS

_spec = importlib.util.spec_from_file_location("hubkit_concentrator_filters",
                                               PLAYBOOKS / "filter_plugins" / "hubkit_concentrator.py")
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)

ZEITZ_KEY = "NpA0LuJsSNyIHmqjQvGI8hmOYxlPNlZkl/KxNYMMkDg="
STALE_KEY = "elkpDP1nWlVTbQdL2/vzfsJBhTvDdKTWYrMijQ0w3Tg="
# What a converged lab's dc-core printed (wg show wg0 allowed-ips; ip -o -4 route show dev wg0).
LIVE = f"{ZEITZ_KEY}\t10.255.0.2/32 10.64.0.0/22\n"
ROUTES = ("10.64.0.0/24 scope link \n"
          "10.255.0.0/24 proto kernel scope link src 10.255.0.1 \n")
SS = """\
udp UNCONN 0      0      10.0.0.53:53    0.0.0.0:* users:(("dnsmasq",pid=298,fd=4))
udp UNCONN 0      0     10.0.0.123:123   0.0.0.0:* users:(("chronyd",pid=307,fd=7))
udp UNCONN 0      0      127.0.0.1:323   0.0.0.0:* users:(("chronyd",pid=307,fd=5))
udp UNCONN 0      0       10.0.0.5:514   0.0.0.0:* users:(("rsyslogd",pid=311,fd=6))
udp UNCONN 0      0        0.0.0.0:51820 0.0.0.0:* users:(("wireguard-go",pid=101,fd=17))
udp UNCONN 0      0          [::1]:323      [::]:* users:(("chronyd",pid=307,fd=6))
tcp LISTEN 0      128      0.0.0.0:22    0.0.0.0:* users:(("sshd",pid=33,fd=3))
tcp LISTEN 0      25       10.0.0.5:514  0.0.0.0:* users:(("rsyslogd",pid=311,fd=8))
tcp LISTEN 0      32     10.0.0.53:53    0.0.0.0:* users:(("dnsmasq",pid=298,fd=5))
"""


def peer_file(key: str, nets: str = "10.255.0.2/32, 10.64.0.0/22") -> str:
    return f"# Peer of hub zeitz on dc-core. Rendered by hubkit.\n[Peer]\nPublicKey = {key}\nAllowedIPs = {nets}\n"


@pytest.fixture
def expected(fleet_root):
    """The example fleet's peers on dc-core, with zeitz's key known."""
    (fleet_root / "secrets").mkdir(exist_ok=True)
    (fleet_root / "secrets" / "zeitz.pub").write_text(ZEITZ_KEY + "\n")
    return cc.fleet_peers(load_fleet(fleet_root), "dc-core")


def test_fleet_peers_are_every_hub_on_that_concentrator(expected, fleet_root):
    assert sorted(expected) == ["naumburg", "wittenberg", "zeitz"]
    z = expected["zeitz"]
    assert z.public_key == ZEITZ_KEY and expected["naumburg"].public_key is None
    assert [str(n) for n in z.allowed_ips] == ["10.255.0.2/32", "10.64.0.0/22"]
    assert [str(n) for n in z.routed] == ["10.64.0.0/24"]  # staff only: vpn_access
    assert cc.fleet_peers(load_fleet(fleet_root), "other-core") == {}


def test_converged_concentrator_has_no_problem(expected):
    live, files = cc.parse_allowed_ips(LIVE), {"zeitz.conf": peer_file(ZEITZ_KEY)}
    assert cc.stale_peer_files(files, expected) == []
    assert cc.stale_live_peers(live, files, expected) == []
    assert cc.own_peer_problems(expected["zeitz"], live, files) == []
    assert cc.route_problems(cc.parse_routes(ROUTES), expected["zeitz"], expected) == []


def test_peer_file_of_a_hub_not_in_the_fleet_is_stale(expected):
    files = {"zeitz.conf": peer_file(ZEITZ_KEY), "querfurt.conf": peer_file(STALE_KEY)}
    [problem] = cc.stale_peer_files(files, expected)
    assert problem.startswith("/etc/wireguard/peers/querfurt.conf: querfurt is no hub of the fleet")


def test_peer_file_with_another_key_than_the_hubs_is_stale(expected):
    [problem] = cc.stale_peer_files({"zeitz.conf": peer_file(STALE_KEY)}, expected)
    assert f"key {STALE_KEY} is not hub zeitz's" in problem


def test_live_peer_without_a_fleet_peer_file_is_named(expected):
    live = cc.parse_allowed_ips(LIVE + f"{STALE_KEY}\t10.99.0.0/24\n")
    files = {"zeitz.conf": peer_file(ZEITZ_KEY)}
    [problem] = cc.stale_live_peers(live, files, expected)
    assert problem == f"live peer {STALE_KEY} (allowed IPs 10.99.0.0/24, in no peer file) belongs to no hub of the fleet"
    files["gone.conf"] = peer_file(STALE_KEY)
    [problem] = cc.stale_live_peers(live, files, expected)
    assert "from /etc/wireguard/peers/gone.conf" in problem


@pytest.mark.parametrize("live,files,says", [
    (LIVE, {}, "no peer file /etc/wireguard/peers/zeitz.conf"),
    ("", {"zeitz.conf": ""}, f"key {ZEITZ_KEY} is not a live peer of wg0"),
    (f"{ZEITZ_KEY}\t10.255.0.2/32\n", {"zeitz.conf": ""}, "allowed IPs of zeitz are 10.255.0.2/32, "
                                                          "want 10.255.0.2/32, 10.64.0.0/22"),
    (f"{ZEITZ_KEY}\t(none)\n", {"zeitz.conf": ""}, "allowed IPs of zeitz are (none)"),
])
def test_own_peer_missing_or_wrong_is_a_problem(expected, live, files, says):
    problems = cc.own_peer_problems(expected["zeitz"], cc.parse_allowed_ips(live), files)
    assert any(says in p for p in problems), problems


def test_own_peer_without_a_key_is_a_problem(expected):
    problems = cc.own_peer_problems(expected["naumburg"], {}, {"naumburg.conf": ""})
    assert problems == ["hub naumburg has no public key (secrets/naumburg.pub)"]


@pytest.mark.parametrize("routes,says", [
    ("10.255.0.0/24 proto kernel scope link src 10.255.0.1\n", "no route 10.64.0.0/24 dev wg0"),
    (ROUTES + "10.99.0.0/24 scope link\n", "route 10.99.0.0/24 dev wg0: no VPN segment of a fleet hub"),
    # The management path must not be moved into the tunnel (roles/core/tasks/peer.yml).
    (ROUTES + "10.64.3.0/27 scope link\n", "route 10.64.3.0/27 dev wg0: inside hub zeitz's site but not one"),
])
def test_route_problems(expected, routes, says):
    problems = cc.route_problems(cc.parse_routes(routes), expected["zeitz"], expected)
    assert any(says in p for p in problems), problems


def test_other_fleet_hubs_routes_are_allowed(expected):
    other = str(expected["naumburg"].routed[0])
    assert cc.route_problems(cc.parse_routes(ROUTES + f"{other} scope link\n"), expected["zeitz"], expected) == []


@pytest.mark.parametrize("service,port,protos,addrs", [
    ("ntp", 123, ("udp",), ["10.0.0.123"]),
    ("syslog", 514, ("udp", "tcp"), ["10.0.0.5"]),
    ("dns", 53, ("udp", "tcp"), ["10.0.0.53"]),
])
def test_listeners_of_the_lab_core_pass_and_wildcards_fail(service, port, protos, addrs):
    sockets = cc.parse_ss(SS)
    assert cc.listener_problems(sockets, port, protos, addrs, must_listen=True) == []
    # The same service bound to every address (IPv4 and IPv6): named once per protocol.
    wild = [(p, a, n) for p, a, n in sockets if n != port] + \
        [(p, a, port) for p in protos for a in ("0.0.0.0", "::")]
    problems = cc.listener_problems(wild, port, protos, addrs, must_listen=True)
    assert problems == [f"{p} {port} listens on every address" for p in sorted(protos)]
    # On the uplink address instead: wrong address, and the central one has nothing.
    moved = [(p, a, n) for p, a, n in sockets if n != port] + [(p, "203.0.113.1", port) for p in protos]
    problems = cc.listener_problems(moved, port, protos, addrs, must_listen=True)
    assert f"{protos[0]} {port} listens on 203.0.113.1" in problems
    assert f"no {protos[0]} {port} on {addrs[0]}" in problems


def test_a_site_concentrator_need_not_run_the_central_services():
    assert cc.listener_problems([], 123, ("udp",), ["10.0.0.123"], must_listen=False) == []
    assert cc.listener_problems([("udp", "127.0.0.1", 123)], 123, ("udp",), [], must_listen=False) == []
    assert cc.listener_problems([("udp", "0.0.0.0", 123)], 123, ("udp",), [], must_listen=False) == \
        ["udp 123 listens on every address"]


def test_parsers_read_real_output():
    assert cc.parse_allowed_ips(f"{ZEITZ_KEY}\t10.255.0.2/32 10.64.0.0/22\n{STALE_KEY}\t(none)\n") == {
        ZEITZ_KEY: (ipaddress.IPv4Network("10.255.0.2/32"), ipaddress.IPv4Network("10.64.0.0/22")),
        STALE_KEY: ()}
    assert [str(n) for n in cc.parse_routes(ROUTES)] == ["10.64.0.0/24"]
    assert cc.peer_file_key(peer_file(ZEITZ_KEY)) == ZEITZ_KEY
    assert cc.peer_file_key("[Peer]\nAllowedIPs = 10.0.0.0/8\n") is None
    assert ("udp", "::1", 323) in cc.parse_ss(SS) and ("tcp", "0.0.0.0", 22) in cc.parse_ss(SS)


def test_removal_selects_only_the_hubs_peers_and_routes():
    live = LIVE + f"{STALE_KEY}\t10.99.0.0/24\n" + "OLDKEY=\t10.64.0.0/24\n" + "EMPTYOLD=\t(none)\n"
    prefixes = ["10.255.0.2/32", "10.64.0.0/22"]
    # By key (the vault's, the peer file's) or by an allowed IP inside the hub's addresses.
    assert filters.hubkit_hub_peers(live, [ZEITZ_KEY, "EMPTYOLD=", ""], prefixes) == \
        sorted([ZEITZ_KEY, "OLDKEY=", "EMPTYOLD="])
    assert STALE_KEY not in filters.hubkit_hub_peers(live, [ZEITZ_KEY], prefixes)
    routes = ROUTES + "10.99.0.0/24 scope link\n10.64.1.0/24 scope link\n"
    assert filters.hubkit_routes_within(routes, prefixes) == ["10.64.0.0/24", "10.64.1.0/24"]
    assert filters.hubkit_wg_routes(routes) == ["10.64.0.0/24", "10.64.1.0/24", "10.99.0.0/24"]
    assert filters.hubkit_wg_keys(live) == sorted([ZEITZ_KEY, STALE_KEY, "OLDKEY=", "EMPTYOLD="])
    assert filters.hubkit_hub_peers("", [ZEITZ_KEY], prefixes) == []  # wg0 down: nothing to remove
