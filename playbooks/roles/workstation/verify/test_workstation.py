"""workstation: the assigned account, no automount, the DHCP lease on its segment, the update policy."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from hubkit.verify_plugin import expect, expect_equal


@pytest.mark.bsi("ORP.4.A1", "ORP.4.A9", "ORP.4.A23")
def test_assigned_account(host, plan, hub):
    """Only the assigned staff member has an account here, and must change its initial password."""
    staff = sorted(s.username for s in hub.staff)
    present = [u for u in staff if host.user(u).exists]
    want = [plan.assigned_to] if plan.assigned_to else []
    expect(present == want, f"staff accounts: {', '.join(want) or 'none'}", ", ".join(present) or "none")
    if plan.assigned_to is None:
        return
    chage = host.check_output("chage -l %s", plan.assigned_to)
    last = next((line.split(":", 1)[1].strip() for line in chage.splitlines()
                 if line.startswith("Last password change")), "?")
    if last != "password must be changed":
        # Only a user who has logged in since may have lifted the flag (by changing the password).
        never = "Never logged in" in host.run("lastlog -u %s", plan.assigned_to).stdout
        expect(not never, "a password change forced at first login",
               f"last password change: {last}, and the user never logged in")


@pytest.mark.bsi("SYS.2.1.A3")
def test_no_automount(host, hk, plan):
    """Removable media are not mounted automatically (udev and desktop policy, no autofs)."""
    udev = host.run("cat /etc/udev/rules.d/*.rules 2>/dev/null").stdout
    expect('ENV{UDISKS_AUTO}="0"' in udev, "a udev rule UDISKS_AUTO=0", "none")
    dconf = host.run("cat /etc/dconf/db/local.d/* 2>/dev/null").stdout
    expect(re.search(r"^automount=false", dconf, re.M) is not None, "dconf automount=false", "not set")
    for unit in ("autofs",):
        svc = host.service(unit)
        expect(not svc.is_running, f"{unit} not running", f"{unit} running")


@pytest.mark.bsi("NET.1.1.A5")
def test_dhcp_lease_on_segment(host, plan, topo):
    """eth0's address is the static lease the segment's router handed out (networkd: DHCPv4 via router)."""
    seg = topo.segments[plan.segment]
    gw = str(seg.router_address.ip)
    status = json.loads(host.check_output("networkctl --json=short status eth0"))
    leases, others = [], []
    for a in status.get("Addresses", []):
        if a.get("Family") != 2:
            continue
        addr = ".".join(str(b) for b in a["Address"])
        src = a.get("ConfigSource", "?")
        via = ".".join(str(b) for b in a.get("ConfigProvider", [])) or "-"
        (leases if src == "DHCPv4" else others).append(f"{addr}/{a.get('PrefixLength')} ({src} via {via})")
    want = f"{plan.address} (DHCPv4 via {gw})"
    expect(want in leases, f"eth0 {want} on {plan.segment}", ", ".join(leases + others) or "no address")
    stray = [x for x in leases + others
             if ipaddress.ip_address(x.split("/")[0]) not in seg.prefix]
    expect(not stray, f"no address outside {seg.prefix}", ", ".join(stray))
    gws = sorted({r.get("gateway") for r in json.loads(host.check_output("ip -j -4 route show default"))})
    expect_equal(gws, [gw], "default gateway")


def _apt(host, key: str) -> list[str]:
    out = host.run("apt-config dump %s", key).stdout
    return [m for m in re.findall(r'^%s(?:::)?\s+"(.*)";$' % re.escape(key), out, re.M) if m]


@pytest.mark.bsi("SYS.2.1.A3", "OPS.1.1.3.A15")
def test_update_policy(host, hub):
    policy = hub.services.update_policy
    origins = _apt(host, "Unattended-Upgrade::Origins-Pattern")
    security = [o for o in origins if "security" in o.lower()]
    other = [o for o in origins if "security" not in o.lower()]
    if policy == "none":
        expect(_apt(host, "APT::Periodic::Unattended-Upgrade") == ["0"], "unattended upgrades off (policy none)",
               "on")
        return
    expect(bool(security), f"security updates in Origins-Pattern (policy {policy})", origins or "none")
    if policy == "security":
        expect(not other, "security origins only (policy security)", ", ".join(other))
    else:
        expect(bool(other), "all Debian origins (policy all)", "security only")
