"""Unit tests of hubkit.configure: the run as a value, prerequisites, event parsing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from hubkit import configure as cf
from hubkit.errors import PrerequisiteError

from .conftest import LAB_HUB, VAULT_PASSWORD, hubkit, make_fleet


def _env(**extra):
    return {"PATH": os.environ["PATH"], "HUBKIT_VAULT_PASSWORD": VAULT_PASSWORD, **extra}


def test_run_is_a_value_with_inventory_vault_and_render_dir(rendered_fleet):
    lab = cf.LabTarget(LAB_HUB, "hk-x-mgmt", Path("/run/hubkit/labs/x/inventory"))
    run = cf.build_run(rendered_fleet, LAB_HUB, lab=lab, check=True, diff=True,
                       limit=("zeitz-ws01", "zeitz-ws02"), verbosity=2, env=_env())
    build = (rendered_fleet / "build" / LAB_HUB).resolve()
    cmd = list(run.cmd)
    assert cmd[0].endswith("ansible-playbook")
    # Both inventories, the rendered one first; the lab's variant adds connection settings.
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-i"] == [str(build / "inventory"),
                                                                    "/run/hubkit/labs/x/inventory"]
    assert cmd[cmd.index("--vault-password-file") + 1] == str(cf.VAULT_SCRIPT)
    assert f"@{(rendered_fleet / 'secrets' / f'{LAB_HUB}.vault.yml').resolve()}" in cmd
    extra = json.loads(next(a for a in cmd if a.startswith("{")))
    assert extra["hubkit_render_dir"] == str(build)
    assert {"--check", "--diff", "-vv"} <= set(cmd)
    assert cmd[cmd.index("--limit") + 1] == "zeitz-ws01,zeitz-ws02"
    assert cmd[-1] == str(cf.SITE)
    # Runs inside the lab's mgmt netns; the password is only in the environment.
    assert run.argv()[:4] == ["ip", "netns", "exec", "hk-x-mgmt"]
    assert VAULT_PASSWORD not in " ".join(run.argv())
    assert run.env["HUBKIT_VAULT_PASSWORD"] == VAULT_PASSWORD
    assert run.env["ANSIBLE_CONFIG"] == str(cf.CONFIG)
    assert run.env["ANSIBLE_CALLBACKS_ENABLED"] == "hubkit_events"


def test_ambient_ansible_settings_do_not_leak_into_the_run(rendered_fleet):
    run = cf.build_run(rendered_fleet, LAB_HUB, env=_env(ANSIBLE_PIPELINING="0",
                                                         ANSIBLE_STDOUT_CALLBACK="json"))
    assert "ANSIBLE_PIPELINING" not in run.env and "ANSIBLE_STDOUT_CALLBACK" not in run.env
    assert run.netns is None and run.argv() == list(run.cmd)


def test_mitogen_is_the_default_strategy_and_can_be_switched_off(rendered_fleet):
    cfg = (cf.PLAYBOOKS / "ansible.cfg").read_text()
    assert "\nstrategy = mitogen_free\n" in cfg
    assert (cf.PLAYBOOKS / "strategy_plugins" / "mitogen_free.py").is_file()
    default = cf.build_run(rendered_fleet, LAB_HUB, env=_env()).env
    assert "ANSIBLE_STRATEGY" not in default and "ANSIBLE_SSH_ARGS" not in default
    # Under Mitogen no SSH master may persist (it kept the hosts' interpreters alive).
    ssh_args = next(line for line in cfg.splitlines() if line.startswith("ssh_args"))
    assert "ControlMaster" not in ssh_args and "ControlPersist" not in ssh_args
    run = cf.build_run(rendered_fleet, LAB_HUB, env=_env(HUBKIT_ANSIBLE_STRATEGY="free"))
    assert run.env["ANSIBLE_STRATEGY"] == "free"
    assert "ControlPersist=" in run.env["ANSIBLE_SSH_ARGS"]


def test_vault_password_script_reads_the_environment_only():
    mode = cf.VAULT_SCRIPT.stat().st_mode
    assert mode & stat.S_IXUSR, "ansible runs the vault password file only if it is executable"
    r = subprocess.run([str(cf.VAULT_SCRIPT)], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"], "HUBKIT_VAULT_PASSWORD": "s3cret"})
    assert (r.returncode, r.stdout) == (0, "s3cret\n")
    r = subprocess.run([str(cf.VAULT_SCRIPT)], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"]})
    assert r.returncode != 0 and "HUBKIT_VAULT_PASSWORD" in r.stderr


@pytest.mark.parametrize("missing", ["password", "render", "vault"])
def test_prerequisites_are_exit_3_with_a_hint(rendered_fleet, missing):
    env = _env()
    if missing == "password":
        env.pop("HUBKIT_VAULT_PASSWORD")
    elif missing == "render":
        (rendered_fleet / "build" / LAB_HUB / "inventory" / "hosts.yml").unlink()
    else:
        (rendered_fleet / "secrets" / f"{LAB_HUB}.vault.yml").unlink()
    with pytest.raises(PrerequisiteError) as e:
        cf.build_run(rendered_fleet, LAB_HUB, env=env)
    assert e.value.exit_code == 3 and e.value.hint


def test_cli_without_render_or_lab_exits_3_without_traceback(tmp_path):
    fleet = make_fleet(tmp_path / "fleet")
    r = hubkit(fleet, "configure", LAB_HUB)
    assert r.returncode == 3, r.stderr
    assert "hubkit render" in r.stderr and "Traceback" not in r.stderr
    hubkit(fleet, "secrets", "init", LAB_HUB, check=True)
    hubkit(fleet, "render", LAB_HUB, check=True)
    r = hubkit(fleet, "configure", "--lab", LAB_HUB, env={"HUBKIT_LAB_RUN": str(tmp_path / "nolabs")})
    assert r.returncode == 3, r.stderr
    assert "lab up" in r.stderr and "Traceback" not in r.stderr
    r = hubkit(fleet, "configure", LAB_HUB, env={"HUBKIT_VAULT_PASSWORD": ""})
    assert r.returncode == 3 and "HUBKIT_VAULT_PASSWORD" in r.stderr


LOCAL_PLAY = """
- name: Local play for the event parser
  hosts: all
  gather_facts: false
  tasks:
    - name: Unchanged step
      ansible.builtin.command: "true"
      changed_when: false
    - name: Changed step
      ansible.builtin.command: "true"
      changed_when: true
    - name: Skipped step
      ansible.builtin.command: "true"
      when: false
    - name: Secret step that fails
      ansible.builtin.command: "false"
      no_log: true
      when: inventory_hostname == 'beta'
"""


def _local_run(tmp_path, play_text: str, alpha: str, beta: str, strategy: str | None = None) -> cf.AnsibleRun:
    """A real ansible-playbook run on two local hosts (extra host vars ``alpha``/``beta``) through
    our callback plugin and hubkit's ansible.cfg."""
    play = tmp_path / "play.yml"
    play.write_text(play_text)
    inv = tmp_path / "hosts.yml"
    inv.write_text(f"all:\n  hosts:\n    alpha: {{ansible_connection: local{alpha}}}\n"
                   f"    beta: {{ansible_connection: local{beta}}}\n  vars:\n"
                   f"    ansible_python_interpreter: {os.sys.executable}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(cf.CONFIG), ANSIBLE_CALLBACK_PLUGINS=str(cf.PLAYBOOKS / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="hubkit_events", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"))
    if strategy:
        env["ANSIBLE_STRATEGY"] = strategy
    return cf.AnsibleRun((cf.ansible_playbook(), "-i", str(inv), str(play)), env, tmp_path, None, "t")


@pytest.mark.parametrize("strategy", [None, "free"], ids=["mitogen_free from ansible.cfg", "stock free"])
def test_execute_parses_per_host_results_from_callback_events(tmp_path, strategy):
    """A real ansible-playbook run (local connection) through our callback plugin."""
    run = _local_run(tmp_path, LOCAL_PLAY, "", "", strategy)
    seen = []
    result = cf.execute(run, log_path=tmp_path / "out.log", listener=seen.append)
    assert result.rc != 0
    assert result.to_json()["hosts"] == {
        "alpha": {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 2},
        "beta": {"ok": 2, "changed": 1, "failed": 1, "unreachable": 0, "skipped": 1},
    }
    assert result.failed_hosts == ["beta"] and not result.succeeded
    assert result.changed_tasks == [{"host": "alpha", "role": None, "task": "Changed step"},
                                    {"host": "beta", "role": None, "task": "Changed step"}]
    assert result.failures == [{"host": "beta", "msg": "(output hidden: no_log task)",
                                "status": "failed", "task": "Secret step that fails"}]
    assert {e["event"] for e in seen} >= {"play_start", "task_start", "result", "stats"}


TIMED_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    # The first task also pays for the connection (Mitogen's interpreter start).
    - name: Connect
      ansible.builtin.ping:
    - name: Quick step
      ansible.builtin.command: "true"
    - name: Slow step
      ansible.builtin.command: "sleep {{ nap }}"
  handlers: []
"""


def test_the_callback_times_each_task_and_the_slowest_come_first(tmp_path):
    """Real ansible-playbook run: the callback's per-host timings rank the sleeping task first."""
    # Stock free strategy: under Mitogen both local "hosts" share one local interpreter, so one
    # host's task waits for the other's sleep, which ranks the hosts at random.  Over SSH each host
    # has its own interpreter; the callback is the same under both strategies.
    run = _local_run(tmp_path, TIMED_PLAY, ", nap: 3.0", ", nap: 0.1", strategy="free")
    result = cf.execute(run, log_path=tmp_path / "out.log")
    assert result.rc == 0
    assert sorted((t["host"], t["task"]) for t in result.task_times) == [
        ("alpha", "Connect"), ("alpha", "Quick step"), ("alpha", "Slow step"),
        ("beta", "Connect"), ("beta", "Quick step"), ("beta", "Slow step")]
    top = result.slowest_tasks()
    assert top[0]["task"] == "Slow step" and {r["task"] for r in top} == {"Connect", "Quick step", "Slow step"}
    assert top[0]["hosts"] == 2 and top[0]["max_host"] == "alpha" and top[0]["max_s"] >= 3.0
    assert top[0]["total_s"] >= 3.1 and top[0]["handler"] is False
    assert result.to_json()["slowest_tasks"] == top


def test_slowest_sums_host_seconds_per_task_and_keeps_handlers_apart():
    times = [{"host": "a", "role": "common", "task": "Install", "handler": False, "seconds": 2.0},
             {"host": "b", "role": "common", "task": "Install", "handler": False, "seconds": 3.0},
             {"host": "a", "role": "common", "task": "Restart", "handler": True, "seconds": 4.0},
             {"host": "a", "role": "router", "task": "Install", "handler": False, "seconds": 0.5},
             {"host": "c", "role": None, "task": "Probe", "handler": False, "seconds": 0.1}]
    rows = cf.slowest(times, 3)
    assert [(r["role"], r["task"], r["handler"], r["total_s"], r["hosts"], r["max_host"]) for r in rows] == [
        ("common", "Install", False, 5.0, 2, "b"), ("common", "Restart", True, 4.0, 1, "a"),
        ("router", "Install", False, 0.5, 1, "a")]
    assert cf.slowest([], 10) == []


def test_record_is_persisted_atomically_without_secrets(tmp_path):
    result = cf.RunResult(hub_id="h", rc=0, hosts={"a": cf.HostResult(ok=3, changed=1)},
                          changed_tasks=[{"host": "a", "task": "t", "role": "common"}])
    path = cf.save_record(tmp_path, result)
    assert path == tmp_path.resolve() / ".hubkit" / "runs" / "h" / "configure.json"
    doc = json.loads(path.read_text())
    assert doc["hosts"] == {"a": {"ok": 3, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0}}
    assert doc["failed_hosts"] == [] and doc["rc"] == 0
    assert [p.name for p in path.parent.iterdir()] == ["configure.json"]  # no temp file left
