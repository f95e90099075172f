"""Benchmark: load + validate a generated fleet of N hubs (default 1,000).

Prints the hubkit figure, a bare-parser baseline over the same files measured
in the same run (libyaml's event stream, which hubkit's loader is built on,
and ``yaml.load`` with the C loader), and the ratios.  Target: 1,000 hubs in
<= 1 s on the project's 2-core machine.

    .venv/bin/python bench/validate_fleet.py [--hubs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
import time
from pathlib import Path

import yaml

from hubkit.fleet.repo import load_fleet
from hubkit.rules import validate

FLEET_YAML = """\
fleet:
  name: Benchmark fleet
pools:
  sites: 10.0.0.0/8
  site_prefix_length: 22
  vpn_transfer: 172.16.0.0/16
segment_plan:
  staff: {{vlan: 10, prefix_length: 24, vpn_access: true}}
  guest: {{vlan: 20, prefix_length: 24, isolated: true}}
  devices: {{vlan: 30, prefix_length: 25}}
  mgmt: {{vlan: 99, prefix_length: 27, dhcp: false}}
defaults:
  uplink: {{mode: dhcp}}
  vpn:
    concentrator: {{endpoint: "203.0.113.1:51820", address: 172.16.0.1}}
    core_networks: [10.255.0.0/24]
  switch: {{dialect: linux-bridge, ports: 24, uplink_port: 24}}
  services:
    central: {{dns: [10.255.0.53], dns_suffix: {suffix}}}
  admins:
    - username: op-bench
      ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDJ83gAf/IKjs7USsrv0eqv52Z7jQ+4d50aoijl5Bi3l op-bench@ops.example.org"]
"""

REGION_YAML = """\
services:
  central:
    dns_suffix: region.example.org
focus_topics: [open data]
"""


def hub_yaml(i: int) -> str:
    site = ipaddress.IPv4Network("10.0.0.0/22")
    base = int(site.network_address) + (i + 1) * 1024  # 10.0.4.0/22, 10.0.8.0/22, ...
    net = lambda off, plen: ipaddress.IPv4Network((base + off, plen))  # noqa: E731
    tunnel = ipaddress.IPv4Address(int(ipaddress.IPv4Address("172.16.0.2")) + i)
    hid = f"hub{i:04d}"
    region = "region: bench\n" if i % 2 else ""
    ws = "".join(f"  - {{hostname: {hid}-ws{n:02d}, segment: staff, assigned_to: {hid}-u{n:02d}}}\n"
                 for n in range(1, 6))
    staff = "".join(f"  - {{username: {hid}-u{n:02d}, full_name: Staff Member {n}, role: staff}}\n"
                    for n in range(1, 6))
    return f"""\
# Generated hub {i}.
id: {hid}
name: DigitalHub {i}
municipality: Town {i}
{region}venue: Library
opening_date: 2027-03-01
workplaces: 5
network:
  site_prefix: {net(0, 22)}
  segments:
    staff: {{vlan: 10, prefix: {net(0, 24)}, vpn_access: true, purpose: Staff}}
    guest: {{vlan: 20, prefix: {net(256, 24)}, isolated: true, purpose: Guests}}
    devices: {{vlan: 30, prefix: {net(512, 25)}}}
    mgmt: {{vlan: 99, prefix: {net(640, 27)}, dhcp: false}}
vpn:
  tunnel_address: {tunnel}/16
router:
  hostname: {hid}-rt01
switch:
  hostname: {hid}-sw01
workstations:
{ws}staff:
{staff}services:
  dns_zone: {hid}.hubs.example.org
  backup: {{quota_gb: 100}}
events:
  - {{name: CodingDay, date: 2027-05-08, guest_network: true}}
"""


def generate(root: Path, n: int) -> list[Path]:
    (root / "hubs").mkdir(parents=True)
    (root / "regions").mkdir()
    (root / "fleet.yaml").write_text(FLEET_YAML.format(suffix="hubs.example.org"))
    (root / "regions" / "bench.yaml").write_text(REGION_YAML)
    paths = []
    for i in range(n):
        p = root / "hubs" / f"hub{i:04d}.yaml"
        p.write_text(hub_yaml(i))
        paths.append(p)
    return paths


def best(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time of ``repeat`` runs.

    CPU time is printed too because the machine is shared: wall time then
    includes waiting for a core.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory(prefix="hubkit-bench-") as tmp:
        root = Path(tmp) / "fleet"
        paths = generate(root, args.hubs)
        files = [root / "fleet.yaml", root / "regions" / "bench.yaml", *paths]

        def hubkit_run():
            fleet = load_fleet(root)
            found = validate(fleet)
            if found:
                raise SystemExit("benchmark fleet is not valid:\n" +
                                 "\n".join(f.format() for f in found[:10]))

        def events_run():
            for p in files:
                for _ in yaml.parse(p.read_bytes().decode("utf-8"), Loader=loader):
                    pass

        def load_run():
            for p in files:
                yaml.load(p.read_bytes().decode("utf-8"), Loader=loader)

        hub_t, hub_c = best(hubkit_run, args.repeat)
        ev_t, ev_c = best(events_run, args.repeat)
        ld_t, ld_c = best(load_run, args.repeat)
    print(f"hubs: {args.hubs}  (best of {args.repeat}; wall / cpu)")
    print(f"hubkit load_fleet + validate  : {hub_t:.3f} s / {hub_c:.3f} s "
          f"({hub_t / args.hubs * 1e3:.2f} ms/hub)")
    print(f"baseline yaml.parse events    : {ev_t:.3f} s / {ev_c:.3f} s  "
          f"ratio {hub_t / ev_t:.2f}x / {hub_c / ev_c:.2f}x")
    print(f"baseline yaml.load CSafeLoader: {ld_t:.3f} s / {ld_c:.3f} s  "
          f"ratio {hub_t / ld_t:.2f}x / {hub_c / ld_c:.2f}x")
    target = 1.0 * args.hubs / 1000
    print(f"target <= {target:.2f} s wall: {'met' if hub_t <= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
