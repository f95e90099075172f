"""The 26 rows of the team's BSI check list (shared/BSI-CHECKS.md), IT-Grundschutz-Kompendium 2022 ids.

A check (static, ``hubkit.audit.checks``, or live, a verify check's
``@pytest.mark.bsi``) links to a row through the BSI ids it carries.  Three
ids stand in two rows of the list; each links to one row only, and the other
row names the id that does link it:
- NET.1.1.A5 (segmentation) links to row 1 (guest isolation); checks of
  clients vs infrastructure (row 2) carry NET.1.1.A19;
- NET.3.2.A2 (filter rules) links to row 4 (default deny); row 1's firewall
  checks carry NET.1.1.A5 too;
- NET.3.2.A4 (secure firewall configuration) links to row 9 (only needed
  services); configuration integrity and backup (row 17) is NET.3.1.A8.

Rows 19-21, 24 and 25 need evidence a person attaches: each names it
(``ManualForm``), and ``hubkit.audit.manual`` reads what was attached.
"""

from __future__ import annotations

from hubkit.audit.model import ManualForm, RowSpec


def _isolated_segment(hub):
    if not any(s.isolated for s in hub.network.segments.values()):
        return "the hub has no guest (isolated) segment"
    return None


def _has_workstations(hub):
    return None if hub.workstations else "the hub has no workstations"


IDENTITY = ("provision the identity part and verify it: `hubkit open ID --lab` does both against the lab's "
            "Keycloak; at a site `hubkit provision ID`, then `hubkit verify ID` with KEYCLOAK_* set")

ROWS: tuple[RowSpec, ...] = (
    RowSpec(1, "Guest network in its own segment, no route into internal networks",
            ("NET.1.1.A5", "NET.3.2.A2"), link_tags=("NET.1.1.A5",), applies=_isolated_segment),
    RowSpec(2, "Clients and infrastructure services in separate segments",
            ("NET.1.1.A5", "NET.1.1.A19"), link_tags=("NET.1.1.A19",)),
    RowSpec(3, "Management network separate; no bridging between VLANs",
            ("NET.1.1.A21", "NET.1.1.A23", "NET.1.1.A24")),
    RowSpec(4, "Firewall default deny in both directions (allowlist)",
            ("NET.3.2.A2", "NET.1.1.A4")),
    RowSpec(5, "Stateful filtering incl. UDP/ICMP; invalid TCP flags dropped; ICMP restrictive",
            ("NET.3.2.A3",)),
    RowSpec(6, "Fragmentation protection", ("NET.3.2.A10", "NET.3.1.A5")),
    RowSpec(7, "Anti-spoofing / bogon filtering", ("NET.3.1.A15",)),
    RowSpec(8, "Unused IP version disabled or IPv6 filtered as strictly as IPv4",
            ("NET.3.2.A17", "NET.3.2.A15")),
    RowSpec(9, "Only required services listening; unused ports disabled",
            ("NET.3.2.A4", "NET.3.1.A1")),
    RowSpec(10, "Admin access only from management sources over SSH, keys, timeouts",
            ("NET.3.2.A6", "NET.3.1.A4", "SYS.1.3.A8")),
    RowSpec(11, "No dynamic routing", ("NET.3.2.A8",)),
    RowSpec(12, "Firewall logs rejected connections, auth failures and config changes",
            ("NET.3.2.A9", "NET.3.1.A7")),
    RowSpec(13, "Logs shipped to a central server", ("OPS.1.1.5.A5", "OPS.1.1.5.A6", "OPS.1.1.5.A10")),
    RowSpec(14, "NTP synchronised, one timestamp format; no external time sync into the firewall",
            ("OPS.1.1.5.A4", "NET.3.2.A22")),
    RowSpec(15, "Site-to-site link encrypted and authenticated, terminating on the firewall",
            ("NET.1.1.A7", "NET.1.1.A11", "NET.3.3.A11", "NET.3.3.A13")),
    RowSpec(16, "VPN peers reviewed, unused removed", ("NET.3.3.A5",)),
    RowSpec(17, "Router/firewall configs integrity-protected and backed up",
            ("NET.3.2.A4", "NET.3.1.A8"), link_tags=("NET.3.1.A8",)),
    RowSpec(18, "Automatic updates at least daily; package signatures verified",
            ("SYS.2.1.A3", "OPS.1.1.3.A15", "OPS.1.1.3.A10")),
    RowSpec(19, "Boot protection / firmware password on clients", ("SYS.2.1.A8", "SYS.2.1.A13"),
            manual=ManualForm("firmware (UEFI) password set and boot order locked to the internal disk, "
                              "shown by a signed hand-over checklist", per="workstation"),
            applies=_has_workstations),
    RowSpec(20, "Disk encryption (elevated protection need)", ("SYS.2.1.A28",),
            manual=ManualForm("full-disk encryption (e.g. LUKS) enabled, and where its recovery key is "
                              "deposited (lab hosts have no real disks)", per="workstation"),
            applies=_has_workstations),
    RowSpec(21, "Screen lock; malware protection", ("SYS.2.1.A1", "SYS.2.1.A6"),
            manual=ManualForm("screen lock after inactivity enforced by the desktop policy, and the "
                              "operator's malware protection installed and updating", per="workstation"),
            applies=_has_workstations),
    RowSpec(22, "No default accounts/passwords; one account per person; least privilege",
            ("ORP.4.A1", "ORP.4.A2", "ORP.4.A9", "ORP.4.A23")),
    # Live from the identity realm (playbooks/probes/test_identity.py): the admin role needs
    # an OTP, brute-force lockout is on.  Without a provisioned realm, only the plan.
    RowSpec(23, "MFA for admins; lockout after failed logins", ("ORP.4.A10", "ORP.4.A13"), collect=IDENTITY),
    RowSpec(24, "Backups separate, protected, restore tested; encrypted (elevated need)",
            ("CON.3.A2", "CON.3.A14", "CON.3.A15", "CON.3.A13"),
            manual=ManualForm("a dated restore-test record from the backup storage (what was restored, "
                              "from which backup, result) and the storage's encryption setting")),
    RowSpec(25, "Linux hardening: no automount, ASLR/NX, AppArmor", ("SYS.1.3.A3", "SYS.1.3.A4", "SYS.1.3.A10"),
            manual=ManualForm("on the physical router and workstations: AppArmor enforcing (aa-status) and "
                              "ASLR on (kernel.randomize_va_space = 2); lab containers share the host kernel, "
                              "so hubkit shows only the automount part")),
    RowSpec(26, "Network plan current; actual state regularly compared with the plan", ("NET.1.1.A2", "NET.1.1.A15")),
)

assert [r.num for r in ROWS] == list(range(1, 27))
