"""Static checks of the playbooks: ansible-lint (production profile) and --syntax-check."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hubkit.paths import PLAYBOOKS

from .conftest import LAB_HUB

BIN = Path(sys.executable).parent
ROLES = ("common", "router", "switch", "workstation", "core")


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(PLAYBOOKS / "ansible.cfg")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_ansible_lint_production_profile_is_clean():
    r = subprocess.run([str(BIN / "ansible-lint"), "--profile", "production", "--offline", "--nocolor",
                        "site.yml", "switch-cisco-ios.yml", "bootstrap.yml", "decommission.yml", "roles"],
                       cwd=PLAYBOOKS, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Profile 'production' was required, and it passed" in r.stdout + r.stderr


@pytest.mark.parametrize("playbook", ["site.yml", "switch-cisco-ios.yml", "bootstrap.yml", "decommission.yml"])
def test_syntax_check(rendered_fleet, playbook):
    inv = rendered_fleet / "build" / LAB_HUB / "inventory"
    r = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inv), "--syntax-check", playbook],
                       cwd=PLAYBOOKS, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"playbook: {playbook}" in r.stdout


def test_cisco_play_uses_the_ios_config_module_over_network_cli():
    play = yaml.safe_load((PLAYBOOKS / "switch-cisco-ios.yml").read_text())[0]
    assert play["connection"] == "ansible.netcommon.network_cli"
    tasks = yaml.safe_load((PLAYBOOKS / "roles/switch/tasks/cisco_ios.yml").read_text())
    assert [t for t in tasks if "cisco.ios.ios_config" in t]


@pytest.mark.parametrize("role", ROLES)
def test_role_layout_and_prefixed_commented_defaults(role):
    d = PLAYBOOKS / "roles" / role
    for f in ("defaults/main.yml", "tasks/main.yml", "handlers/main.yml", "meta/main.yml"):
        assert (d / f).is_file(), f"{role}: {f} missing"
    lines = (d / "defaults/main.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith(("#", "---")):
            assert line.startswith(f"{role}_"), f"{role} default {line!r} is not role-prefixed"
            assert any(lines[j].startswith("#") for j in range(max(0, i - 3), i)), \
                f"{role} default {line.split(':')[0]} has no comment"


def _tasks(obj):
    if isinstance(obj, list):
        for t in obj:
            yield from _tasks(t)
    elif isinstance(obj, dict):
        yield obj
        for k in ("block", "rescue", "always"):
            yield from _tasks(obj.get(k) or [])


# Markers of a task that handles secret material: vault variables, the staff
# passwords, shadow entries, WireGuard private keys and the files carrying them.
# (`chage -d 0` is not one: it prints nothing, and `hubkit plan` must see it would run.)
SECRET_MARKERS = ("vault_", "staff_password", "getent_shadow", "database: shadow", "private_key",
                  "chage -l", "'wg-quick@' ~ router_wg_interface", "core_peers_dir ~ '/'",
                  "src: wg0.conf.j2", "wg addconf")


def test_every_task_touching_a_secret_is_no_log():
    checked = 0
    for f in sorted((PLAYBOOKS / "roles").rglob("tasks/*.yml")):
        for task in _tasks(yaml.safe_load(f.read_text()) or []):
            if "name" not in task or any(k in task for k in ("block", "ansible.builtin.include_tasks",
                                                             "ansible.builtin.import_tasks")):
                continue
            text = yaml.safe_dump(task, width=1000)
            if any(m in text for m in SECRET_MARKERS):
                checked += 1
                assert task.get("no_log") is True, f"{f.relative_to(PLAYBOOKS)}: {task['name']!r} needs no_log"
    assert checked >= 6  # the wg0.conf, peer, staff and shadow tasks at least


def _conntrack_play():
    plays = yaml.safe_load((PLAYBOOKS / "site.yml").read_text())
    touching = [p for p in plays if not all("group_by" in str(t) for t in p.get("tasks", []))]
    return touching[0]


def test_the_router_tracks_connections_before_any_other_host_is_contacted():
    """The first play that runs anything on a host is the router's conntrack play (issue 19: a
    router that starts tracking mid-converge drops the hosts' replies into mgmt as new flows)."""
    play = _conntrack_play()
    assert play["hosts"] == "router:&hubkit_linux" and play["gather_facts"] is False
    assert [t["name"] for t in play["tasks"]] == [
        "Start connection tracking on the router until its firewall loads (pass-through table)"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_the_conntrack_task_adds_its_table_once_and_never_beside_a_firewall():
    """The task's own shell, in a fresh network namespace: no ruleset -> the pass-through table
    (changed); again -> nothing; a firewall with `ct state` rules -> nothing."""
    cmd = _conntrack_play()["tasks"][0]["ansible.builtin.shell"]["cmd"]
    # A real firewall's size: its `ct state` rule comes early and much follows (a reader that
    # stops at the first match must not turn into a failed check).
    rules = "".join(f"  tcp dport {1000 + i} counter accept\n" for i in range(3000))
    firewall = ("table inet filter {\n chain input {\n  type filter hook input priority 0;\n"
                f"  ct state established accept\n{rules} }}\n}}")
    script = (f"run() {{ bash -c {shlex.quote(cmd)}; }}\n"
              "echo \"1:$(run)\"; echo \"2:$(run)\"; nft list tables\n"
              f"nft flush ruleset; nft -f - <<'EOF'\n{firewall}\nEOF\n"
              "echo \"3:$(run)\"; nft list tables\n")
    r = subprocess.run(["unshare", "-n", "bash", "-euo", "pipefail", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n") == ["1:started", "2:", "table inet hubkit_conntrack",
                                    "3:", "table inet filter", ""]

