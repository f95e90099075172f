"""A small valid hub file used across the fleet tests, and position helpers."""

from __future__ import annotations

# Named `zz` so that it sorts after the example hubs: fleet-wide duplicate
# findings are reported on the later file.
ZZ = """\
id: zz
name: DigitalHub ZZ
municipality: Testtown
workplaces: 2
network:
  site_prefix: 10.64.100.0/22
  segments:
    staff: {vlan: 10, prefix: 10.64.100.0/24}
    mgmt: {vlan: 99, prefix: 10.64.101.0/27, dhcp: false}
vpn:
  tunnel_address: 10.255.0.100/24
router:
  hostname: zz-rt01
switch:
  hostname: zz-sw01
workstations:
  - {hostname: zz-ws01, segment: staff, assigned_to: zz-lead}
staff:
  - {username: zz-lead, full_name: Hub Lead, role: lead}
services:
  dns_zone: zz.hubs.example.org
"""


def at(text: str, file: str, line: int, needle: str, nth: int = 0) -> str:
    """``file:line:col`` of the nth occurrence of ``needle`` on 1-based ``line``."""
    src = text.splitlines()[line - 1]
    col = -1
    for _ in range(nth + 1):
        col = src.index(needle, col + 1)
    return f"{file}:{line}:{col + 1}"


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)
