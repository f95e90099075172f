"""The cloud record (.hubkit/runs/<id>/cloud.json) and `open`'s cloud step: provisioned
(every part at a site, the identity part in the lab), or skipped; and what the audit and
status say from it.

The engine is replaced by a stand-in at ``provision.run``, and the worker process by a
direct call; everything around them (prerequisites, policies, vault, lock, the record) is
hubkit's own code.  tests/cloud/test_cloud_lab.py runs the real engine against a Keycloak.
"""

from __future__ import annotations

import json

import pytest

from hubkit import status
from hubkit.audit import cloud_scope
from hubkit.cloud import provision, record
from hubkit.errors import HubkitError, UsageError
from hubkit.fleet.repo import load_fleet
from hubkit.open.journal import Journal, journal_path
from hubkit.open import RunContext, preflight, run_pipeline

VAULT_PW = "vault-pw-record-test-1"


@pytest.fixture
def opened(fleet_root, monkeypatch):
    """zeitz with its vault, and a stand-in pulumi engine that reports 26 creations."""
    from hubkit import secrets
    monkeypatch.setenv("HUBKIT_VAULT_PASSWORD", VAULT_PW)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "pp")
    hub = load_fleet(fleet_root).hub("zeitz").model
    secrets.init_secrets(fleet_root, "zeitz", [m.username for m in hub.staff], VAULT_PW)
    monkeypatch.setattr(provision, "cli_path", lambda which=None: "/opt/fake/pulumi")
    from hubkit import netns
    from hubkit.cloud import engine as eng
    from hubkit.cloud import run as cloud_run
    monkeypatch.setattr(eng, "missing_providers", lambda env=None: [])
    monkeypatch.setattr(netns, "run_in", lambda ns, fn, *a, **k: fn(*a, **k))
    for k in ("KEYCLOAK_URL", "KEYCLOAK_USER", "KEYCLOAK_PASSWORD"):
        monkeypatch.setenv(k, "https://keycloak.invalid" if k == "KEYCLOAK_URL" else "x")
    monkeypatch.setattr(cloud_run, "_lab_setup", lambda hub_id: (None, {}, None, fleet_root / "lab"))
    runs = []

    def engine(spec, program, on_output=None, which=None, clear_pending=None):
        if not spec.stack_name.startswith("realm-"):
            runs.append(spec.action)
        return {"hub": spec.hub_id, "action": spec.action, "stack": spec.stack_name, "changes": {"create": 26},
                "outputs": {}}
    monkeypatch.setattr(provision, "run", engine)
    return fleet_root, runs


def cloud_step():
    from hubkit.open.steps import steps
    return [s for s in steps() if s.name == "cloud"]


def test_record_round_trip_and_a_broken_record_names_its_file(tmp_path):
    rec = record.CloudRecord(mode="skipped", detail="--skip-cloud: not provisioned")
    path = record.write(tmp_path, "zeitz", rec)
    assert record.read(tmp_path, "zeitz") == rec and not rec.provisioned
    assert rec.describe() == "NOT provisioned (skipped): --skip-cloud: not provisioned"
    assert record.read(tmp_path, "other") is None
    for bad in ("{", json.dumps({"mode": "maybe", "detail": "x"}), json.dumps({"mode": "planned", "detail": "x",
                                                                                "extra": 1})):
        path.write_text(bad)
        with pytest.raises(HubkitError, match=rf"^{path}:1:1: not a cloud record"):
            record.read(tmp_path, "zeitz")


def test_real_opening_provisions_and_records_it(opened):
    root, runs = opened
    rep = run_pipeline(cloud_step(), RunContext(root, "zeitz", yes=True))
    assert runs == ["up"]
    assert rep.steps[0].result == "ok"
    assert rep.steps[0].message == 'provisioned for real: identity, dns, backup, monitoring ({"create": 26})'
    rec = record.read(root, "zeitz")
    assert rec.mode == "provisioned" and rec.changes == {"create": 26}
    assert "were provisioned" in cloud_scope(rec) and "NOT" not in cloud_scope(rec)
    [row] = status.fleet_status(load_fleet(root), ["zeitz"])
    assert row["cloud"]["provisioned"] is True and row["cloud"]["mode"] == "provisioned"


def test_real_opening_without_yes_is_refused_before_anything(opened):
    root, runs = opened
    with pytest.raises(UsageError, match="needs confirmation"):
        preflight(cloud_step(), RunContext(root, "zeitz"))
    assert runs == [] and record.read(root, "zeitz") is None


def test_destroy_records_that_the_services_are_gone_and_open_provisions_again(opened):
    from hubkit.cloud.run import real_run
    root, runs = opened
    run_pipeline(cloud_step(), RunContext(root, "zeitz", yes=True))
    assert run_pipeline(cloud_step(), RunContext(root, "zeitz", yes=True)).steps[0].result == "skipped"
    real_run(load_fleet(root), "zeitz", "destroy")
    assert runs == ["up", "destroy"] and record.read(root, "zeitz").mode == "destroyed"
    # Same inputs, but the effect is gone: the next opening provisions again.
    rep = run_pipeline(cloud_step(), RunContext(root, "zeitz", yes=True))
    assert runs == ["up", "destroy", "up"] and rep.steps[0].result == "ok"


def test_lab_provisions_the_identity_part_and_says_what_is_planned_only(opened):
    root, runs = opened
    rep = run_pipeline(cloud_step(), RunContext(root, "zeitz", lab=True))
    assert runs == ["up"]
    assert rep.steps[0].message == ('provisioned for real: identity ({"create": 26}); '
                                    "planned only: dns, backup, monitoring")
    rec = record.read(root, "zeitz")
    assert rec.mode == "provisioned" and "against the lab's Keycloak" in rec.detail
    assert "identity for real; dns, backup, monitoring planned only" in rec.detail
    assert (root / ".hubkit" / "runs" / "zeitz" / "plan.json").is_file()


def test_skip_cloud_changes_the_inputs_so_dropping_it_runs_the_step_again(opened):
    root, runs = opened
    run_pipeline(cloud_step(), RunContext(root, "zeitz", yes=True, skip_cloud=True))
    assert runs == [] and record.read(root, "zeitz").mode == "skipped"
    assert Journal(journal_path(root, "zeitz")).states()["cloud"].reason.startswith("--skip-cloud")
    rep = run_pipeline(cloud_step(), RunContext(root, "zeitz", yes=True))
    assert runs == ["up"] and rep.steps[0].result == "ok"
    assert record.read(root, "zeitz").mode == "provisioned"


def test_audit_without_any_cloud_record_does_not_claim_provisioning():
    assert "were not provisioned by `hubkit open`" in cloud_scope(None)


def test_status_names_a_broken_record_and_still_shows_the_fleet(fleet_root):
    path = record.record_path(fleet_root, "zeitz")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    rows = {r["id"]: r for r in status.fleet_status(load_fleet(fleet_root))}
    assert rows["zeitz"]["cloud"]["mode"] == "unreadable"
    assert rows["zeitz"]["cloud"]["detail"].startswith(f"{path}:1:1: not a cloud record")
    assert rows["naumburg"]["cloud"] is None
