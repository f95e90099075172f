"""workstation: the assigned account, no automount, the DHCP lease on its segment, the update policy,
the host firewall as rendered."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex

import pytest

from hubkit import nftcompare
from hubkit.verify.plugin import expect, expect_equal, snapshot


@pytest.fixture(scope="module")
def facts(host, plan):
    """Everything the workstation checks read, fetched in one round trip."""
    user = shlex.quote(plan.assigned_to or "root")
    return snapshot(host, {
        "passwd": "getent passwd",
        "staff_group": "getent group hubkit-staff | cut -d: -f4",
        "shadow": "getent shadow | cut -d: -f1,2",
        # Leavers' archives: path, mode and owner of each (none may be readable by others).
        "leaver_archives": "find /var/lib/hubkit/leavers -maxdepth 1 -printf '%p %m %u\\n' 2>/dev/null || true",
        "chage": f"chage -l {user}",
        "lastlog": f"lastlog -u {user}",
        "udev": "cat /etc/udev/rules.d/*.rules",
        "dconf": "cat /etc/dconf/db/local.d/*",
        "autofs": "systemctl is-active autofs",
        "networkctl": "networkctl --json=short status eth0",
        "routes": "ip -j -4 route show default",
        "origins": "apt-config dump Unattended-Upgrade::Origins-Pattern",
        "periodic": "apt-config dump APT::Periodic::Unattended-Upgrade",
        "nft_j": "nft -j list ruleset",
        "nft_s": "nft -s list ruleset",
    })


@pytest.mark.bsi("ORP.4.A1", "ORP.4.A9", "ORP.4.A23")
def test_assigned_account(facts, plan, hub):
    """Only the assigned staff member has an account here, and must change its initial password."""
    staff = sorted(s.username for s in hub.staff)
    accounts = {line.split(":")[0] for line in facts["passwd"].stdout.splitlines()}
    present = [u for u in staff if u in accounts]
    want = [plan.assigned_to] if plan.assigned_to else []
    expect(present == want, f"staff accounts: {', '.join(want) or 'none'}", ", ".join(present) or "none")
    if plan.assigned_to is None:
        return
    chage = facts["chage"].stdout
    last = next((line.split(":", 1)[1].strip() for line in chage.splitlines()
                 if line.startswith("Last password change")), "?")
    if last != "password must be changed":
        # Only a user who has logged in since may have lifted the flag (by changing the password).
        never = "Never logged in" in facts["lastlog"].stdout
        expect(not never, "a password change forced at first login",
               f"last password change: {last}, and the user never logged in")


@pytest.mark.bsi("ORP.4.A1", "ORP.4.A23")
def test_no_login_for_anyone_not_assigned_here(facts, plan):
    """Absence: every account hubkit manages here (group hubkit-staff) is the assigned
    member's; a leaver, or the former holder of a moved workstation, has no account left."""
    members = sorted(m for m in facts["staff_group"].stdout.strip().split(",") if m)
    want = [plan.assigned_to] if plan.assigned_to else []
    expect(members == want, f"managed staff accounts: {', '.join(want) or 'none'}",
           ", ".join(members) or "none")
    # A managed account must also be usable only by its holder: no empty password field.
    shadow = dict(line.split(":", 1) for line in facts["shadow"].stdout.splitlines() if ":" in line)
    empty = [u for u in members if shadow.get(u, "x") == ""]
    expect(not empty, "no managed account without a password", ", ".join(empty))
    # What a leaver left behind is kept root-only for the retention period.
    loose = [line for line in facts["leaver_archives"].stdout.splitlines()
             if len(line.split()) == 3 and (line.split()[2] != "root" or int(line.split()[1], 8) & 0o077)]
    expect(not loose, "leavers' archives root-only (owner root, no group or other access)", "; ".join(loose))


@pytest.mark.bsi("SYS.1.3.A3")
def test_no_automount(facts):
    """Removable media are not mounted automatically (udev and desktop policy, no autofs)."""
    udev = facts["udev"].stdout
    expect('ENV{UDISKS_AUTO}="0"' in udev, "a udev rule UDISKS_AUTO=0", "none")
    dconf = facts["dconf"].stdout
    expect(re.search(r"^automount=false", dconf, re.M) is not None, "dconf automount=false", "not set")
    state = facts["autofs"].stdout.strip()
    expect(state != "active", "autofs not running", f"autofs {state}")


@pytest.mark.bsi("NET.1.1.A5", "NET.1.1.A19")
def test_dhcp_lease_on_segment(facts, plan, topo):
    """eth0's address is the static lease the segment's router handed out (networkd: DHCPv4 via router)."""
    seg = topo.segments[plan.segment]
    gw = str(seg.router_address.ip)
    expect(facts["networkctl"].rc == 0, "systemd-networkd managing eth0",
           facts["networkctl"].stderr.strip() or "no status")
    status = json.loads(facts["networkctl"].stdout)
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
    gws = sorted({r.get("gateway") for r in json.loads(facts["routes"].stdout or "[]")})
    expect_equal(gws, [gw], "default gateway")


def _apt(out: str, key: str) -> list[str]:
    return [m for m in re.findall(r'^%s(?:::)?\s+"(.*)";$' % re.escape(key), out, re.M) if m]


@pytest.mark.bsi("SYS.2.1.A3", "OPS.1.1.3.A15")
def test_update_policy(facts, hub):
    policy = hub.services.update_policy
    origins = _apt(facts["origins"].stdout, "Unattended-Upgrade::Origins-Pattern")
    security = [o for o in origins if "security" in o.lower()]
    other = [o for o in origins if "security" not in o.lower()]
    if policy == "none":
        expect(_apt(facts["periodic"].stdout, "APT::Periodic::Unattended-Upgrade") == ["0"], "unattended upgrades off (policy none)",
               "on")
        return
    expect(bool(security), f"security updates in Origins-Pattern (policy {policy})", origins or "none")
    if policy == "security":
        expect(not other, "security origins only (policy security)", ", ".join(other))
    else:
        expect(bool(other), "all Debian origins (policy all)", "security only")


@pytest.mark.bsi("NET.3.2.A4")
def test_host_firewall_as_rendered(facts, hk, plan):
    """The loaded ruleset is the rendered host firewall (SSH and ping from mgmt only, DHCP from the router)."""
    path = hk.build_dir / "hosts" / plan.name / "etc" / "nftables.conf"
    expect(path.is_file(), "a rendered host firewall /etc/nftables.conf", f"no {path}")
    try:
        want = nftcompare.load_rendered(path)
    except ValueError as e:
        pytest.fail(f"expected the rendered ruleset {path} to load, found: {e}", pytrace=False)
    got = (nftcompare.normalise(json.loads(facts["nft_j"].stdout or '{"nftables": []}')),
           nftcompare.lines(facts["nft_s"].stdout))
    diff = nftcompare.difference(want, got)
    expect(diff is None, "the loaded ruleset equal to the rendered /etc/nftables.conf", diff)
