"""core: the concentrator holds exactly the fleet's hub peers, routes their VPN segments into
the tunnel, and its central services listen only on their central addresses.

"Exactly" is checked from both sides, each by the hub that can know it: no
peer (file or live key) and no tunnel route may belong to anything but a hub
of the fleet that uses this concentrator (a decommissioned hub's peer is
stale), and this hub's own peer and routes must be there.  Every hub's verify
checks its own peer, so over the fleet the concentrator has exactly the
fleet's peers; in the lab each hub's concentrator serves only that hub.
The comparisons are ``hubkit.concentrator``'s, which decommission's removal
uses too.
"""

from __future__ import annotations

import pytest

from hubkit import concentrator as cc
from hubkit.verify.plugin import expect, snapshot

FILE_MARK = "==> "
# One list of the peer files with their text (public keys and addresses only, nothing secret).
PEER_FILES = (f'cd {cc.PEERS_DIR} 2>/dev/null && for f in *.conf; do [ -e "$f" ] && '
              f'printf "{FILE_MARK}%s\\n" "$f" && cat "$f"; done; true')
SERVICES = {  # service -> (port, protocols, central addresses from the model)
    "ntp": (123, ("udp",), lambda c: c.ntp),
    "syslog": (514, ("udp", "tcp"), lambda c: [c.syslog] if c.syslog else []),
    "dns": (53, ("udp", "tcp"), lambda c: c.dns),
}


def split_files(text: str) -> dict[str, str]:
    files: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith(FILE_MARK):
            current = line[len(FILE_MARK):].strip()
            files[current] = []
        elif current is not None:
            files[current].append(line)
    return {k: "\n".join(v) for k, v in files.items()}


@pytest.fixture(scope="module")
def facts(host):
    return snapshot(host, {
        "peers": f"wg show {cc.WG_IFACE} allowed-ips",
        "files": PEER_FILES,
        "routes": f"ip -o -4 route show dev {cc.WG_IFACE}",
        "ss": "ss -H -tuln",
    })


@pytest.fixture(scope="module")
def expected(hk, plan):
    """Every fleet hub whose concentrator is this host."""
    return cc.fleet_peers(hk.fleet, plan.name)


@pytest.fixture(scope="module")
def live(facts):
    return cc.parse_allowed_ips(facts["peers"].stdout)


@pytest.fixture(scope="module")
def files(facts):
    return split_files(facts["files"].stdout)


@pytest.mark.bsi("NET.3.3.A5")
def test_peer_files_are_fleet_hubs(files, expected):
    problems = cc.stale_peer_files(files, expected)
    expect(not problems, f"only peer files of the fleet's hubs ({', '.join(sorted(expected))})",
           "; ".join(problems))


@pytest.mark.bsi("NET.3.3.A5")
def test_live_peers_are_fleet_hubs(facts, live, files, expected):
    expect(facts["peers"].rc == 0, f"a running {cc.WG_IFACE}", facts["peers"].stderr.strip())
    problems = cc.stale_live_peers(live, files, expected)
    expect(not problems, "only live peers declared by a fleet hub's peer file", "; ".join(problems))


@pytest.mark.bsi("NET.3.3.A11", "NET.1.1.A7")
def test_hub_peer_present(hk, live, files, expected):
    problems = cc.own_peer_problems(expected[hk.hub_id], live, files)
    expect(not problems, f"hub {hk.hub_id}'s peer with its key and allowed IPs", "; ".join(problems))


@pytest.mark.bsi("NET.3.3.A11", "NET.1.1.A7")
def test_routes_into_tunnel(hk, facts, expected):
    routes = cc.parse_routes(facts["routes"].stdout)
    problems = cc.route_problems(routes, expected[hk.hub_id], expected)
    expect(not problems, "the VPN segments of the fleet's hubs routed into the tunnel, nothing else",
           "; ".join(problems))


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.bsi("NET.3.2.A4")
def test_central_service_listens_only_on_its_addresses(service, hk, hub, facts):
    port, protos, addresses = SERVICES[service]
    want = [str(a) for a in addresses(hub.services.central)]
    # In the lab this host is the data centre and runs the central services
    # (roles/core/tasks/lab_services.yml); a site's concentrator need not run
    # them, but none of them may listen on its uplink or tunnel there either.
    problems = cc.listener_problems(cc.parse_ss(facts["ss"].stdout), port, protos, want,
                                    must_listen=hk.lab is not None)
    expect(not problems, f"{service} only on {', '.join(want) or 'no address'}", "; ".join(problems))
