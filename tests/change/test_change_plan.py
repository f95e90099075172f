"""The change plan without a lab: its document, the schema, the three report forms, staleness."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hubkit import change
from hubkit.change import report
from hubkit.errors import HubkitError, UsageError

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "plan.schema.json").read_text())
PW = "change-unit-vault-pw"


@pytest.fixture
def site_fleet(fleet_root, monkeypatch, run_cli):
    monkeypatch.setenv("HUBKIT_VAULT_PASSWORD", PW)
    # No service credentials: the cloud part is the offline plan, labelled.
    for k in ("KEYCLOAK_URL", "KEYCLOAK_USER", "KEYCLOAK_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
    assert run_cli(fleet_root, "secrets", "init", "zeitz", env={"HUBKIT_VAULT_PASSWORD": PW}).exit_code == 0
    return fleet_root


def _joiner(root: Path) -> None:
    hub = root / "hubs" / "zeitz.yaml"
    text = hub.read_text()
    text = text.replace("  - {hostname: zeitz-ws04, segment: staff}\n",
                        "  - {hostname: zeitz-ws04, segment: staff, assigned_to: zz-staff03}\n")
    text = text.replace("  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n",
                        "  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n"
                        "  - {username: zz-staff03, full_name: Staff Member Three, role: staff}\n")
    assert "zz-staff03" in text
    hub.write_text(text)


def test_plan_document_validates_and_says_the_cloud_part_is_intent_only(site_fleet, run_cli):
    assert run_cli(site_fleet, "render", "zeitz").exit_code == 0
    _joiner(site_fleet)
    assert run_cli(site_fleet, "secrets", "init", "zeitz").exit_code == 0
    doc = change.make_plan(site_fleet, "zeitz", hosts=False)
    jsonschema.validate(doc, SCHEMA)
    assert doc["cloud"]["mode"] == "offline" and "intent only" in doc["cloud"]["note"]
    assert doc["hosts"]["mode"] == "skipped"
    assert "inventory/host_vars/zeitz-ws04.yml" in doc["render"]["changed"]
    assert "+        username: \"zz-staff03\"" in doc["render"]["diff"]
    assert doc["summary"]["changes"] is True
    # No secret in the document, even with the vault password at hand.
    from hubkit.secrets import load_secrets
    data = load_secrets(site_fleet, "zeitz", PW)
    text = json.dumps(doc)
    for secret in [data["vault_wg_private_key"], *data["vault_staff_passwords"].values(), PW]:
        assert secret not in text


def test_the_schema_rejects_a_document_that_breaks_it(site_fleet):
    doc = change.make_plan(site_fleet, "zeitz", hosts=False)
    jsonschema.validate(doc, SCHEMA)
    bad = json.loads(json.dumps(doc))
    bad["hosts"]["hosts"]["zeitz-ws01"] = {"changes": [{"task": "x", "extra": 1}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def _sample() -> dict:
    doc = {"schema": 1, "hub": "zeitz", "target": "lab", "hubkit_version": "0", "input_hash": "ab" * 32,
           "inputs": {"layers": {"hubs/zeitz.yaml": "0" * 64}, "vault": None, "public_key": None,
                      "render": "1" * 64, "hubkit": "0", "target": "lab:x"}, "render": {"changed": ["a.yml"], "new": [], "deleted": [], "diff": "--- a\n+++ b\n-x\n+y\n"},
           "hosts": {"mode": "check", "rc": 0, "hosts": {
               "zeitz-ws04": {"changes": [{"task": "Create the staff account", "role": "workstation"},
                                          {"task": "Keep them root-only", "role": "workstation",
                                           "diff": "/x.tar.gz: mode 0644 -> 0600\n"}]},
               "zeitz-rt01": {"changes": [], "unknown": ["Load the installed ruleset again"]},
               "zeitz-ws01": {"changes": []}}},
           "cloud": {"mode": "preview", "note": "a real preview", "real": ["identity"], "planned_only": ["dns"],
                     "realm_steps": [],
                     "steps": [{"op": "delete", "type": "keycloak:index/user:User", "name": "zeitz-user-zz-staff03",
                                "diffs": []}]}}
    doc["summary"] = change.summary(doc)
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_markdown_has_the_sections_a_reviewer_reads():
    md = report.render(_sample(), "markdown")
    lines = md.splitlines()
    assert lines[0] == "### hubkit plan: `zeitz` (lab)"
    for heading in ("#### Rendered files", "#### Hosts", "#### Cloud"):
        assert heading in lines
    assert lines.index("#### Rendered files") < lines.index("#### Hosts") < lines.index("#### Cloud")
    assert "| hosts (Ansible check mode) | zeitz-ws04: 2 |" in md
    assert "- **zeitz-ws04**: Create the staff account; Keep them root-only" in md
    assert "/x.tar.gz: mode 0644 -> 0600" in md
    assert "may change, known only when run: Load the installed ruleset again" in md
    assert "| delete | `keycloak:index/user:User` | `zeitz-user-zz-staff03` | - |" in md
    assert "`hubkit apply zeitz --lab`" in md
    # Untouched hosts stay out of the comment.
    assert "zeitz-ws01" not in md


def test_text_and_json_forms():
    doc = _sample()
    text = report.render(doc, "text")
    assert "  ~ Create the staff account [workstation]" in text
    assert "  ? Load the installed ruleset again" in text
    assert "  delete   keycloak:index/user:User zeitz-user-zz-staff03" in text
    assert json.loads(report.render(doc, "json")) == doc
    quiet = json.loads(json.dumps(doc))
    quiet["render"] = {"changed": [], "new": [], "deleted": [], "diff": ""}
    quiet["hosts"]["hosts"] = {"zeitz-rt01": {"changes": [], "unknown": ["Load the installed ruleset again"]}}
    quiet["cloud"]["steps"] = []
    quiet["summary"] = change.summary(quiet)
    # Commands whose output decides are no planned change.
    assert quiet["summary"]["changes"] is False
    assert report.render(quiet, "text").rstrip().endswith("no change anywhere")


def test_mask_replaces_secret_values_everywhere():
    doc = {"a": ["x s3cret y", {"b": "s3cret"}], "n": 1}
    assert change.mask(doc, ["s3cret"]) == {"a": ["x [secret] y", {"b": "[secret]"}], "n": 1}


def test_apply_refuses_a_stale_plan_and_changes_nothing(site_fleet, monkeypatch):
    doc = change.make_plan(site_fleet, "zeitz", hosts=False)
    change.save(site_fleet, "zeitz", doc)
    _joiner(site_fleet)
    calls = []
    monkeypatch.setattr("hubkit.render.render_fleet", lambda *a, **k: calls.append(a))
    with pytest.raises(HubkitError, match=r"the fleet changed since the plan was made \(layers differ\)"):
        change.apply(site_fleet, "zeitz", yes=True)
    assert calls == []


def test_apply_needs_a_plan_for_that_target(site_fleet):
    with pytest.raises(UsageError, match="no plan for hub zeitz"):
        change.apply(site_fleet, "zeitz", yes=True)
    change.save(site_fleet, "zeitz", change.make_plan(site_fleet, "zeitz", hosts=False))
    with pytest.raises(UsageError, match="made for the site, not the lab"):
        change.apply(site_fleet, "zeitz", lab=True)
    with pytest.raises(UsageError, match="needs confirmation"):
        change.apply(site_fleet, "zeitz")


def test_a_plan_file_that_is_not_one_names_the_file(site_fleet, tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    with pytest.raises(HubkitError, match=rf"{bad}:1:1: not a hubkit plan"):
        change.load(site_fleet, "zeitz", bad)


def test_cli_plan_json_and_markdown(site_fleet, run_cli, tmp_path):
    out = tmp_path / "p.json"
    res = run_cli(site_fleet, "plan", "zeitz", "--no-hosts", "--json", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert json.loads(out.read_text()) == doc == change.load(site_fleet, "zeitz")
    md = run_cli(site_fleet, "plan", "zeitz", "--no-hosts", "--format", "markdown")
    assert md.exit_code == 0 and "#### Cloud" in md.stdout and "Not checked: not asked for" in md.stdout
