"""Every static check of the audit can fail: each one is fed a configuration that violates it.

The table below must name every registered check (hubkit.audit.checks.CHECKS):
a new check without a violating case fails ``test_every_check_has_a_violating_case``.
Each case starts from the rendered example hub, on which the check passes,
changes one thing, and the check must then report a failure.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from hubkit.audit import archive
from hubkit.audit.checks import CHECKS
from hubkit.audit.sources import Sources
from hubkit.errors import Finding

RT = "hosts/zeitz-rt01/"
NFT = RT + "etc/nftables.conf"


def edit(rel: str, old: str, new: str, hub: str = "zeitz"):
    """A violation that replaces ``old`` by ``new`` (a regex) in one rendered file."""
    def apply(src: Sources) -> Sources:
        p = src.build_dir / rel
        text = p.read_text()
        changed = re.sub(old, new, text, count=1, flags=re.M)
        assert changed != text, f"case did not apply: {old!r} not in {rel}"
        p.write_text(changed)
        return src
    apply.hub = hub
    return apply


def field(**values):
    """A violation of what the audit read besides the build (plan, records)."""
    def apply(src: Sources) -> Sources:
        for k, v in values.items():
            setattr(src, k, v(src) if callable(v) else v)
        return src
    apply.hub = "zeitz"
    return apply


def _plan_without_first_user(src):
    plan = copy.deepcopy(src.plan)
    users = [r for r in plan["resources"] if r["type"] == "keycloak:index/user:User"]
    plan["resources"].remove(users[0])
    return plan


def _plan_admin_without_mfa(src):
    plan = copy.deepcopy(src.plan)
    for r in plan["resources"]:
        if r["type"] == "keycloak:index/role:Role":
            r["inputs"]["compositeRoles"] = []
    return plan


def _archive_of_changed_build(src):
    (src.build_dir / RT / "etc" / "extra.conf").write_text("not rendered\n")
    return archive.build_archive(src.build_dir, "zeitz", src.manifest)[1]


VIOLATIONS = {
    "nft.default_deny": edit(NFT, r"hook forward priority filter; policy drop;", "hook forward priority filter; policy accept;"),
    "nft.guest_isolated": edit(NFT, r'^(\s*)iifname "vl20" oifname "wan0"', r'\1iifname "vl20" oifname "vl10" accept\n\g<0>'),
    "nft.ssh_mgmt_only": edit(NFT, r'iifname "vl99" ip saddr 10\.64\.2\.128/27 tcp dport 22 accept', "tcp dport 22 accept"),
    "nft.input_services": edit(NFT, r'^(\s*)iifname "lo" accept', r'\g<0>\n\1tcp dport 8080 accept'),
    "nft.stateful": edit(NFT, r'^\s*ct state invalid log prefix "hk-fwd-invalid: " drop\n', ""),
    "nft.icmp_restrictive": edit(NFT, r"icmp type echo-request limit rate 10/second accept", "ip protocol icmp accept"),
    "nft.fragments": edit(NFT, r"^table inet filter \{", "table inet filter {\n\tchain early {\n\t\ttype filter hook "
                                                        "prerouting priority -450; policy accept;\n\t}"),
    "nft.antispoof": edit(NFT, r'^\s*iifname "vl20" ip saddr != 10\.64\.1\.0/24 .*drop\n', ""),
    "nft.ipv6": edit(NFT, r'^\s*meta nfproto ipv6 log prefix "hk-fwd-ipv6: " drop\n', ""),
    "nft.log_drops": edit(NFT, r'^\s*limit rate 10/second log prefix "hk-in-drop: "\n', ""),
    "sshd.hardened": edit(RT + "etc/ssh/sshd_config.d/10-hubkit.conf", r"^PasswordAuthentication no", "PasswordAuthentication yes"),
    "sshd.logs_auth": edit(RT + "etc/ssh/sshd_config.d/10-hubkit.conf", r"^ListenAddress", "LogLevel QUIET\nListenAddress"),
    "ntp.central": edit(RT + "etc/chrony/chrony.conf", r"^server 10\.0\.0\.123 iburst", "pool 2.debian.pool.ntp.org iburst"),
    "updates.automatic": edit("hosts/zeitz-ws01/etc/apt/apt.conf.d/20auto-upgrades",
                              r'Unattended-Upgrade "1"', 'Unattended-Upgrade "0"'),
    "apt.signed": edit("hosts/zeitz-ws01/etc/apt/apt.conf.d/20auto-upgrades", r"\Z", 'APT::Get::AllowUnauthenticated "true";\n'),
    "hardening.no_automount": edit("hosts/zeitz-ws01/etc/udev/rules.d/85-hubkit-no-automount.rules",
                                   r'UDISKS_AUTO\}="0"', 'UDISKS_AUTO}="1"'),
    "logging.central": edit("inventory/group_vars/all.yml", r'^hubkit_syslog_server: .*$', 'hubkit_syslog_server: "10.9.9.9"'),
    "segments.clients_apart": edit(RT + "etc/dnsmasq.d/hubkit.conf", r"^dhcp-host=zeitz-ws01,10\.64\.0\.11",
                                   "dhcp-host=zeitz-ws01,10.64.2.140"),
    "switch.one_bridge_per_segment": edit("switch/linux-bridge.json", r'"port": "p02"', '"port": "p01"'),
    "switch.ios": edit("switch/cisco-ios.cfg", r"transport input ssh", "transport input telnet ssh", hub="naumburg"),
    "wg.tunnel": edit(RT + "etc/wireguard/wg0.conf", r"\{\{ vault_wg_private_key \}\}", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8hIQ="),
    "wg.peers_declared": edit(RT + "etc/wireguard/wg0.conf", r"\Z", "\n[Peer]\nPublicKey = x\nEndpoint = 198.51.100.9:51820\n"),
    "routing.no_daemon": edit("inventory/host_vars/zeitz-rt01.yml", r'^hubkit_files:\n', 'hubkit_files:\n  "/etc/bird/bird.conf": "bird"\n'),
    "manifest.integrity": edit("docs/handbook.md", r"\Z", "edited by hand\n"),
    "build.archived": field(archive=_archive_of_changed_build),
    "git.history": field(git={"commits": [{"commit": "a"}], "dirty": ["hubs/zeitz.yaml"], "files": ["hubs/zeitz.yaml"]}),
    "topology.rendered": edit("docs/topology.svg", r"zeitz-ws04", "someone-else"),
    "plan.forced_password_change": field(plan_findings=[Finding("HK201", "user without UPDATE_PASSWORD")]),
    "plan.accounts_personal": field(plan=_plan_without_first_user),
    "plan.admin_mfa": field(plan=_plan_admin_without_mfa),
    "plan.backup_versioning": field(plan_findings=[Finding("HK202", "container without versioning")]),
    "configure.recorded": field(configure={"rc": 0, "lab": True}),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The example fleet with zeitz and naumburg rendered, and each hub's offline plan."""
    from hubkit import secrets, topology
    from hubkit.cloud.run import offline_plan
    from hubkit.fleet.repo import load_fleet
    from hubkit.render import render_fleet
    from hubkit.scaffold import init_fleet
    root = tmp_path_factory.mktemp("checks") / "fleet"
    init_fleet(root)
    fleet = load_fleet(root)
    for hub_id in ("zeitz", "naumburg"):
        secrets.init_secrets(root, hub_id, [m.username for m in fleet.hub(hub_id).model.staff], "pw-for-checks")
    render_fleet(load_fleet(root), ["zeitz", "naumburg"])
    fleet = load_fleet(root)
    out = {}
    for hub_id in ("zeitz", "naumburg"):
        hub = fleet.hub(hub_id).model
        plan, found = offline_plan(fleet, hub_id)
        out[hub_id] = (root / "build" / hub_id, hub, topology.build(hub), plan.to_json(), found)
    return out


def sources(built, hub_id: str, tmp_path: Path) -> Sources:
    """A fresh, writable copy of the hub's build with good records beside it."""
    build, hub, topo, plan, found = built[hub_id]
    copy_dir = tmp_path / hub_id
    shutil.copytree(build, copy_dir)
    manifest = json.loads((copy_dir / "manifest.json").read_text())
    src = Sources(hub=hub, topo=topo, build_dir=copy_dir, build_rel=f"build/{hub_id}", manifest=manifest,
                  plan=copy.deepcopy(plan), plan_findings=list(found),
                  git={"commits": [{"commit": "a"}], "dirty": [], "files": ["hubs/zeitz.yaml"]},
                  configure={"hosts": {"zeitz-rt01": {"ok": 3}}, "changed_tasks": [], "rc": 0, "lab": True})
    src.archive = archive.build_archive(copy_dir, hub_id, manifest)[1]
    return src


def test_every_check_has_a_violating_case():
    assert sorted(VIOLATIONS) == sorted(CHECKS), "add a violating case for every static check (and only for them)"


@pytest.mark.parametrize("check_id", sorted(VIOLATIONS))
def test_check_passes_on_the_example_and_fails_on_its_violation(check_id, built, tmp_path):
    check, violate = CHECKS[check_id], VIOLATIONS[check_id]
    good = check.run(sources(built, violate.hub, tmp_path / "good"))
    assert good, f"{check_id} says nothing about the example hub"
    assert all(e.ok for e in good), [(e.id, e.detail) for e in good if not e.ok]
    bad = check.run(violate(sources(built, violate.hub, tmp_path / "bad")))
    failed = [e for e in bad if not e.ok]
    assert failed, f"{check_id} did not notice its violation: {[(e.id, e.detail) for e in bad]}"
    assert all(e.check == check_id and e.tags for e in bad)
