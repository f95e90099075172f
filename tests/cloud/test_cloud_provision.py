"""Automation API runs: options, backend, permissions, passphrase, and the no-CLI path."""

from __future__ import annotations

import glob
import json
import os
import stat

import pytest
from click.testing import CliRunner

from hubkit.cli import cli
from hubkit.cloud import provision
from hubkit.errors import PrerequisiteError


PASSPHRASE = "passphrase-canary-0b1d"


def test_backend_url_defaults_to_file_backend_under_fleet(fleet_root):
    url, state = provision.backend_url(fleet_root, env={})
    assert url == f"file://{fleet_root.resolve()}/.hubkit/state"
    assert state == fleet_root.resolve() / ".hubkit" / "state"


def test_backend_url_from_hubkit_state_url(fleet_root):
    for remote in ("s3://hubkit-state/fleet?region=eu-central-1",
                   "postgres://user:pw@db.internal:5432/pulumi"):
        url, state = provision.backend_url(fleet_root, env={"HUBKIT_STATE_URL": remote})
        assert (url, state) == (remote, None)
    url, state = provision.backend_url(fleet_root, env={"HUBKIT_STATE_URL": "file:///srv/state"})
    assert state == provision.Path("/srv/state")


def test_backend_credentials_redacted():
    assert provision._redact_url("postgres://user:pw@db:5432/p") == "postgres://[credentials]@db:5432/p"
    assert provision._redact_url("s3://bucket/x") == "s3://bucket/x"


def test_workspace_options(fleet_root, monkeypatch):
    monkeypatch.delenv("HUBKIT_STATE_URL", raising=False)
    spec = provision.build_spec(fleet_root, "zeitz", "up")
    assert spec.stack_name == "zeitz" and spec.project == "hubkit-hub"
    opts = provision.workspace_options(spec)
    assert opts.work_dir == str(fleet_root.resolve() / ".hubkit" / "work" / "zeitz")
    assert opts.secrets_provider == "passphrase"
    assert opts.project_settings.name == "hubkit-hub"
    assert opts.project_settings.runtime == "python"
    assert opts.project_settings.backend.url == f"file://{fleet_root.resolve()}/.hubkit/state"
    assert opts.stack_settings["zeitz"].secrets_provider == "passphrase"
    # The passphrase stays in the process environment; it is never copied into the run.
    assert "PULUMI_CONFIG_PASSPHRASE" not in (opts.env_vars or {})
    assert opts.env_vars["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    # Building the options wrote nothing.
    assert not (fleet_root / ".hubkit").exists()


def test_state_dir_is_0700_even_if_it_existed_wider(fleet_root):
    spec = provision.build_spec(fleet_root, "zeitz", "up", env={})
    spec.state_dir.mkdir(parents=True, mode=0o755)
    os.chmod(spec.state_dir, 0o755)
    old = os.umask(0o022)
    try:
        provision.prepare_dirs(spec)
    finally:
        os.umask(old)
    for d in (spec.state_dir, spec.work_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


def test_missing_cli_is_prerequisite_error():
    with pytest.raises(PrerequisiteError) as exc:
        provision.check_prerequisites(env={"PULUMI_CONFIG_PASSPHRASE": "x"}, which=lambda _: None)
    msg = exc.value.format()
    assert exc.value.exit_code == 3
    assert "`pulumi` executable" in msg and ".ci/setup --lab" in msg and "\n" not in msg


def test_passphrase_required_and_never_echoed():
    with pytest.raises(PrerequisiteError, match="PULUMI_CONFIG_PASSPHRASE is not set"):
        provision.check_prerequisites(env={}, which=lambda _: "/usr/local/bin/pulumi")
    assert provision.check_prerequisites(env={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE},
                                         which=lambda _: "/usr/local/bin/pulumi") == "/usr/local/bin/pulumi"


def _cli(fleet_root, args, env):
    return CliRunner().invoke(cli, ["--fleet", str(fleet_root), *args], env=env, catch_exceptions=False)


@pytest.mark.parametrize("args", [["plan", "zeitz", "--cloud-only"], ["provision", "zeitz"], ["destroy", "zeitz", "--yes"],
                                  ["provision", "zeitz", "--json"]])
def test_without_cli_exit_3_and_nothing_written(fleet_root, tmp_path, monkeypatch, args, tree_snapshot):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HUBKIT_PULUMI_BIN", str(empty))
    before = tree_snapshot(fleet_root)
    autos = set(glob.glob("/tmp/automation-*"))
    res = _cli(fleet_root, args, {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                                  "HUBKIT_VAULT_PASSWORD": "vault-pw", "CI": "true"})
    assert res.exit_code == 3, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert "`pulumi` executable was not found" in lines[0] and "bash .ci/setup --lab" in lines[0]
    assert "Traceback" not in res.output and PASSPHRASE not in res.output
    assert tree_snapshot(fleet_root) == before
    assert not (fleet_root / ".hubkit").exists()
    assert set(glob.glob("/tmp/automation-*")) == autos


def test_without_passphrase_exit_3_and_nothing_written(fleet_root, tmp_path, monkeypatch, tree_snapshot):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # Present but never executed: the passphrase check comes first.
    fake = bindir / "pulumi"
    fake.write_text("#!/bin/sh\necho must-not-run >&2\nexit 99\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("HUBKIT_PULUMI_BIN", str(bindir))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    before = tree_snapshot(fleet_root)
    res = _cli(fleet_root, ["provision", "zeitz"], {"CI": "true"})
    assert res.exit_code == 3, res.output
    assert "PULUMI_CONFIG_PASSPHRASE is not set" in res.output and "must-not-run" not in res.output
    assert tree_snapshot(fleet_root) == before


def test_offline_plan_cli_json(fleet_root, monkeypatch, tree_snapshot):
    monkeypatch.delenv("HUBKIT_VAULT_PASSWORD", raising=False)
    before = tree_snapshot(fleet_root)
    res = _cli(fleet_root, ["plan", "zeitz", "--offline", "--json"], {})
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["note"] == "intent only; not compared with real state" and doc["mode"] == "offline"
    users = [r for r in doc["resources"] if r["type"] == "keycloak:index/user:User"]
    from hubkit.fleet.repo import load_fleet
    staff = sorted(m.username for m in load_fleet(fleet_root).hub("zeitz").model.staff)
    assert sorted(u["inputs"]["username"] for u in users) == staff and len(staff) >= 3
    assert all(u["inputs"]["initialPassword"] == "[secret]" for u in users)
    assert doc["findings"] == []
    # The offline plan writes nothing either.
    assert tree_snapshot(fleet_root) == before


def test_offline_plan_cli_text_and_unknown_hub(fleet_root):
    res = _cli(fleet_root, ["plan", "zeitz", "--offline"], {})
    assert res.exit_code == 0
    assert res.output.startswith("# offline plan for hub zeitz: intent only; not compared with real state")
    res = _cli(fleet_root, ["plan", "nowhere", "--offline"], {})
    assert res.exit_code == 2 and "no hub 'nowhere'" in res.output


def test_invalid_hub_refused_before_plan(fleet_root):
    hub = fleet_root / "hubs" / "zeitz.yaml"
    hub.write_text(hub.read_text().replace("workplaces: 5", "workplaces: 0"))
    res = _cli(fleet_root, ["plan", "zeitz", "--offline"], {})
    assert res.exit_code == 1 and "workplaces" in res.output


def test_destroy_needs_confirmation_when_not_interactive(fleet_root, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("pulumi", "pulumi-resource-keycloak"):  # present, never run: confirmation comes first
        fake = bindir / name
        fake.write_text("#!/bin/sh\nexit 99\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("HUBKIT_PULUMI_BIN", str(bindir))
    res = _cli(fleet_root, ["destroy", "zeitz"], {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert res.exit_code == 2 and "--yes" in res.output
    assert not (fleet_root / ".hubkit").exists()


@pytest.mark.pulumi_cli
@pytest.mark.skipif(provision.cli_path() is None,
                    reason="needs the Pulumi engine CLI (`bash .ci/setup --lab` builds it)")
def test_real_preview_of_empty_program_uses_file_backend(fleet_root, monkeypatch):
    """With the engine: a stack in the file backend, state dir 0700, no plugins needed."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("HUBKIT_STATE_URL", raising=False)
    spec = provision.build_spec(fleet_root, "zeitz", "preview")
    summary = provision.run(spec, lambda: None)
    assert summary["stack"] == "zeitz" and summary["action"] == "preview"
    assert stat.S_IMODE(spec.state_dir.stat().st_mode) == 0o700
    assert list(spec.state_dir.rglob("zeitz.json*")), "no stack file in the file backend"


def test_summary_of_engine_result_is_plain_sorted_json(fleet_root):
    """The JSON summary lists resource changes with the engine's OpType keys as strings."""
    from pulumi.automation import OpType, OutputValue
    from pulumi.automation._stack import UpdateSummary, UpResult

    spec = provision.build_spec(fleet_root, "zeitz", "up",
                                env={"HUBKIT_STATE_URL": "postgres://u:pw@db:5432/p"})
    import datetime as dt
    # The engine's own result types, built as the Automation API builds them from `pulumi up`.
    summary = UpdateSummary(kind="update", start_time=dt.datetime(2026, 1, 1), message="", environment={},
                            config={}, result="succeeded",
                            resource_changes={OpType.UPDATE: 1, OpType.CREATE: 25})
    result = UpResult("", "", summary,
                      {"hub": OutputValue("zeitz", False), "pw": OutputValue("s3cret", True)})
    summary = provision._summary(spec, result, result.summary.resource_changes)
    assert json.loads(json.dumps(summary, sort_keys=True)) == {
        "hub": "zeitz", "action": "up", "stack": "zeitz",
        "backend": "postgres://[credentials]@db:5432/p",
        "changes": {"create": 25, "update": 1},
        "outputs": {"hub": "zeitz", "pw": "[secret]"}}
