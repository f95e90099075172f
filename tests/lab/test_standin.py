"""The lab's Linux stand-in for a vendor switch, without a lab (no root).

``hubkit.lab.standin`` decides and renders it; the lab overlay carries it;
site.yml's grouping and the switch/common role defaults act on it.  The
grouping and the defaults are evaluated by a real ansible-playbook run over
naumburg's rendered inventory (controller-side tasks only: nothing connects).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hubkit.fleet.repo import load_fleet
from hubkit.lab import artifacts, standin
from hubkit.paths import PLAYBOOKS
from hubkit.render import hub_context, render_files, render_fleet
from hubkit.render.targets import host_files


@pytest.fixture
def hubs(fleet):
    f = load_fleet(fleet)
    return {h: f.hub(h).model for h in ("naumburg", "zeitz")}


def test_only_a_vendor_switch_gets_a_stand_in(hubs):
    assert standin.for_hub(hubs["zeitz"]) is None
    s = standin.for_hub(hubs["naumburg"])
    assert (s.host, s.dialect) == ("naumburg-sw01", "cisco-ios")
    assert s.note().startswith("naumburg-sw01 is a cisco-ios switch at the site; in the lab a Linux "
                               "bridge stands in for it: switch-cisco-ios.yml is skipped")


def test_stand_in_files_are_what_a_linux_switch_of_the_hub_gets(hubs, tmp_path):
    hub = hubs["naumburg"]
    # The real build has none for the IOS switch: hosts/ is what the site installs.
    ctx = hub_context(hub, None)
    assert not [p for p in render_files(ctx) if p.startswith("hosts/naumburg-sw01/")]
    assert host_files(ctx).get("naumburg-sw01", {}) == {}

    var = standin.prepare(tmp_path, hub)
    linux = hub.model_copy(update={"switch": hub.switch.model_copy(update={"dialect": "linux-bridge"})})
    want = render_files(hub_context(linux, None))["hosts/naumburg-sw01/etc/ssh/sshd_config.d/10-hubkit.conf"]
    written = tmp_path / "standin" / "naumburg-sw01" / "etc/ssh/sshd_config.d/10-hubkit.conf"
    assert written.read_bytes() == want and b"PasswordAuthentication no" in want
    assert var == {"host": "naumburg-sw01", "replaces": "cisco-ios", "dialect": "linux-bridge",
                   "model": "switch/linux-bridge.json", "host_dir": str(written.parents[3]),
                   "files": {"/etc/ssh/sshd_config.d/10-hubkit.conf": "ssh"}}
    assert standin.prepare(tmp_path / "z", hubs["zeitz"]) is None
    assert not (tmp_path / "z").exists()


def _overlay(tmp_path, switch_standin):
    d = tmp_path / "lab"
    d.mkdir(exist_ok=True)
    inv = artifacts.inventory(d, "ssh-ed25519 AAAA lab", [("naumburg-sw01", "switch", "10.64.6.130")], "PUB",
                              d / "core-wg.key", switch_standin)
    return inv, yaml.safe_load((inv / "group_vars" / "all.yml").read_text())


def test_overlay_carries_the_stand_in_only_when_there_is_one(hubs, tmp_path):
    _inv, plain = _overlay(tmp_path, None)
    assert "hubkit_lab_switch_standin" not in plain and plain["hubkit_lab"] is True
    var = standin.prepare(tmp_path, hubs["naumburg"])
    _inv, with_standin = _overlay(tmp_path, var)
    assert with_standin["hubkit_lab_switch_standin"] == var
    assert {k: v for k, v in with_standin.items() if k != "hubkit_lab_switch_standin"} == plain


PROBE = """
- name: What the playbooks make of the switch
  hosts: switch
  gather_facts: false
  tasks:
    - name: Load the role defaults (lazily templated, as in the roles)
      ansible.builtin.include_vars: "{{ item }}"
      loop: ["%(playbooks)s/roles/common/defaults/main.yml", "%(playbooks)s/roles/switch/defaults/main.yml"]
    - name: Report
      ansible.builtin.debug:
        msg: "{{ {'group': group_names | select('match', 'hubkit_') | list, 'files': common_files,
                  'dir': common_render_host_dir, 'dialect': switch_dialect, 'config': switch_config} }}"
"""


def _playbook_view(tmp_path, inventories: list[Path], render_dir: Path) -> dict:
    grouping = yaml.safe_load((PLAYBOOKS / "site.yml").read_text())[0]  # the site's own grouping play
    assert grouping["tasks"][0]["ansible.builtin.group_by"]
    play = tmp_path / "probe.yml"
    play.write_text(yaml.safe_dump([grouping]) + PROBE % {"playbooks": PLAYBOOKS})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"),
           *[a for inv in inventories for a in ("-i", str(inv))],
           "-e", json.dumps({"hubkit_render_dir": str(render_dir)}), str(play)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    return doc["plays"][-1]["tasks"][-1]["hosts"]["naumburg-sw01"]["msg"]


def test_site_groups_the_stand_in_as_linux_and_the_roles_use_its_files(fleet, hubs, tmp_path):
    render_fleet(load_fleet(fleet), ["naumburg"])
    build = fleet / "build" / "naumburg"
    site = _playbook_view(tmp_path, [build / "inventory"], build)
    assert site == {"group": ["hubkit_ios"], "files": {}, "dir": f"{build}/hosts/naumburg-sw01",
                    "dialect": "cisco-ios", "config": "switch/cisco-ios.cfg"}
    inv, _vars = _overlay(tmp_path, standin.prepare(tmp_path / "lab", hubs["naumburg"]))
    lab = _playbook_view(tmp_path, [build / "inventory", inv], build)
    assert lab == {"group": ["hubkit_linux"], "files": {"/etc/ssh/sshd_config.d/10-hubkit.conf": "ssh"},
                   "dir": f"{tmp_path}/lab/standin/naumburg-sw01", "dialect": "linux-bridge",
                   "config": "switch/linux-bridge.json"}
