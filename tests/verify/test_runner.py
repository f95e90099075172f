"""The runner end to end on toy suites, with testinfra's local backend (no lab, no ssh)."""

from __future__ import annotations

import json

import pytest

from hubkit import verify
from hubkit.errors import UsageError, PrerequisiteError
from hubkit.verify import Target

from .conftest import write

TOY = '''
import pytest
from hubkit.verify.plugin import expect

@pytest.mark.bsi("NET.1.1.A5")
def test_pass(host):
    assert host.run("true").rc == 0

@pytest.mark.bsi("SYS.1.3.A8", "NET.3.2.A6")
def test_fail(host):
    expect(host.run("echo yes").stdout.strip() == "no", "x no", "x yes")

@pytest.mark.bsi("OPS.1.1.5.A4")
def test_skip(host):
    pytest.skip("not on this host")

@pytest.fixture
def broken():
    raise RuntimeError("boom")

@pytest.mark.bsi("NET.3.2.A4")
def test_error(host, broken):
    pass

def test_untagged(host):
    pass

@pytest.mark.bsi("ORP.4.A1")
@pytest.mark.parametrize("seg", ["staff", "guest"])
def test_param(host, seg):
    assert seg
'''

PROBE = '''
import pytest
from hubkit.verify.plugin import expect

@pytest.mark.bsi("NET.1.1.A5")
def test_model_is_there(hk, topo):
    expect(topo.router.name == "zeitz-rt01", "router zeitz-rt01", topo.router.name)
    expect(hk.hub_id == "zeitz", "hub zeitz", hk.hub_id)
'''


@pytest.fixture
def toy(tmp_path, toy_fleet):
    suite = write(tmp_path / "suites" / "toy" / "verify" / "test_toy.py", TOY)
    probes = write(tmp_path / "suites" / "probes" / "test_probes.py", PROBE)
    target = Target("zeitz", toy_fleet, toy_fleet / "build" / "zeitz", {"zeitz-ws01": "toy"},
                    ssh_config=None, backend="local")
    return target, {"toy": [suite]}, probes


def by_id(result):
    return {c.id: c for c in result.checks}


def test_outcomes_ids_hosts_and_bsi(toy):
    target, suites, probes = toy
    result = verify.run(target, suites=suites, probes=probes)
    got = by_id(result)
    assert sorted(got) == ["probes::test_model_is_there", "toy::test_error", "toy::test_fail",
                           "toy::test_param[guest]", "toy::test_param[staff]", "toy::test_pass",
                           "toy::test_skip", "toy::test_untagged"]
    assert got["toy::test_pass"].status == "passed" and got["toy::test_pass"].host == "local"
    assert got["toy::test_pass"].bsi == ("NET.1.1.A5",)
    fail = got["toy::test_fail"]
    assert fail.status == "failed" and fail.message == "expected x no, found x yes"
    assert fail.bsi == ("NET.3.2.A6", "SYS.1.3.A8")
    assert got["toy::test_skip"].status == "skipped" and got["toy::test_skip"].message == "not on this host"
    assert got["toy::test_error"].status == "error" and "boom" in got["toy::test_error"].message
    # A check without a BSI tag cannot pass: the audit could not map it.
    untagged = got["toy::test_untagged"]
    assert untagged.status == "error" and "bsi" in untagged.message
    assert got["probes::test_model_is_there"].status == "passed"
    assert got["probes::test_model_is_there"].host == "hub"
    assert result.summary == {"passed": 4, "failed": 1, "error": 2, "skipped": 1}
    assert not result.ok


def test_keyword_selects(toy):
    target, suites, probes = toy
    result = verify.run(target, keyword="param", suites=suites, probes=probes)
    assert sorted(by_id(result)) == ["toy::test_param[guest]", "toy::test_param[staff]"]
    assert result.ok


def test_a_crashing_pytest_is_an_error_naming_the_command(toy, tmp_path):
    target, _, _ = toy
    bad = write(tmp_path / "bad" / "test_bad.py", "import nonexistent_module_xyz\n")
    result = verify.run(target, suites={"toy": [bad]}, probes=None)
    assert [c.status for c in result.checks] == ["error"]
    assert "nonexistent_module_xyz" in result.checks[0].message


def test_save_last_is_atomic_json(toy, toy_fleet):
    target, suites, probes = toy
    result = verify.run(target, keyword="pass", suites=suites, probes=probes)
    path = verify.save_last(toy_fleet, result)
    assert path == toy_fleet / ".hubkit" / "runs" / "zeitz" / "verify.json"
    doc = json.loads(path.read_text())
    assert doc["summary"]["passed"] == 1 and doc["checks"][0]["id"] == "toy::test_pass"
    assert not list(path.parent.glob(".verify-*"))


def test_no_inventory_is_a_missing_prerequisite(toy_fleet):
    with pytest.raises(PrerequisiteError) as e:
        verify.resolve(toy_fleet, "zeitz", lab=False)
    assert e.value.exit_code == 3 and "hubkit render zeitz" in e.value.hint


def test_site_ssh_config_from_the_fleet(toy_fleet, tmp_path):
    """A real site's ssh_config: the hub's connect admin, the fleet's recorded host keys, the
    operator's key and jump host, and one block per host at its rendered address."""
    from hubkit.render import render_fleet
    from hubkit.fleet.repo import load_fleet
    render_fleet(load_fleet(toy_fleet), ["zeitz"])
    key = tmp_path / "id_ops"
    key.write_text("not really a key\n")
    t = verify.resolve(toy_fleet, "zeitz", lab=False, user="op-weber", private_key=key, jump="ops@bastion:2222")
    cfg = t.ssh_config_text
    assert t.sudo and t.ssh_config is None
    assert "Host zeitz-rt01\n  HostName 10.64.2.129\n  HostKeyAlias zeitz-rt01\n" in cfg
    assert "  User op-weber\n" in cfg and f"  IdentityFile {key.resolve()}\n" in cfg
    assert "  ProxyJump ops@bastion:2222\n" in cfg and "  StrictHostKeyChecking yes\n" in cfg
    assert f"  UserKnownHostsFile {toy_fleet.resolve()}/known_hosts/zeitz\n" in cfg
    with pytest.raises(UsageError, match="unknown admin 'nobody'"):
        verify.resolve(toy_fleet, "zeitz", lab=False, user="nobody")


def test_ssh_options_share_one_master_per_host(tmp_path):
    opts = " ".join(verify.ssh_options(tmp_path))
    assert "ControlMaster=auto" in opts and f"ControlPath={tmp_path}/%C" in opts
    assert "ControlMaster=no" in " ".join(verify.ssh_options(None))


def test_cli_without_inventory_exits_3(toy_fleet, run_cli):
    r = run_cli(toy_fleet, "verify", "zeitz")
    assert r.exit_code == 3
    assert "hubkit render zeitz" in r.output and "Traceback" not in r.output


def test_ssh_failure_becomes_one_clear_line():
    import testinfra
    from testinfra.backend.base import CommandResult

    from hubkit.verify.plugin import _message
    res = CommandResult(testinfra.get_host("local://").backend, 255, b"ssh x", b"",
                        b"ssh: connect to host 10.64.0.11 port 22: Connection refused\r\n")

    class Report:
        class longrepr:
            class reprcrash:
                message = f"RuntimeError: {RuntimeError(res)}"

    assert _message(Report()) == ("cannot reach the host over ssh: ssh: connect to host 10.64.0.11 port 22: "
                                  "Connection refused")


def test_host_groups_merge_within_a_role_only(tmp_path):
    hosts = {"rt": "router", "sw": "switch", "w1": "workstation", "w2": "workstation", "w3": "workstation",
             "core": "core"}
    t = Target("z", tmp_path, tmp_path, hosts, None)
    suites = {"router": [tmp_path], "switch": [tmp_path], "workstation": [tmp_path]}
    assert verify.host_groups(t, suites, 9) == [["rt"], ["sw"], ["w1"], ["w2"], ["w3"]]
    assert verify.host_groups(t, suites, 4) == [["rt"], ["sw"], ["w1", "w2"], ["w3"]]
    # Never below one process per role: router and switch never share.
    assert verify.host_groups(t, suites, 1) == [["rt"], ["sw"], ["w1", "w2", "w3"]]
