"""workstation: the assigned account, no automount, the DHCP lease on its segment, the update policy."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from hubkit.verify_plugin import expect, expect_equal


def _human_accounts(host) -> list[str]:
    out = host.check_output("getent passwd")
    users = []
    for line in out.splitlines():
        f = line.split(":")
        if len(f) > 2 and 1000 <= int(f[2]) < 65534:
            users.append(f[0])
    return sorted(users)


@pytest.mark.bsi("ORP.4.A1", "ORP.4.A9", "ORP.4.A23")
def test_assigned_account(host, plan, hub):
    """The assigned staff member's account exists and must change its initial password."""
    others = sorted(set(_human_accounts(host)) - {hub.admin.username, plan.assigned_to})
    expect(not others, f"personal accounts: {plan.assigned_to or 'none'} (plus the admin)",
           f"also {', '.join(others)}")
    if plan.assigned_to is None:
        return
    user = host.user(plan.assigned_to)
    expect(user.exists, f"account {plan.assigned_to}", "no such user")
    chage = host.check_output("chage -l %s", plan.assigned_to)
    last = next((line.split(":", 1)[1].strip() for line in chage.splitlines()
                 if line.startswith("Last password change")), "?")
    # Forced change: never changed since it was set (shadow lastchg 0), until the user does.
    if last != "password must be changed":
        shadow = host.check_output("getent shadow %s", plan.assigned_to).split(":")
        changed = len(shadow) > 2 and shadow[2] not in ("", "0")
        expect(changed and shadow[1] not in ("", "!", "*"),
               "a password change forced at first login (or one made by the user since)",
               f"last password change: {last}")


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
