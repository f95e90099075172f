"""`hubkit audit` on a rendered hub: static evidence, self-contained report, no secrets."""

from __future__ import annotations

import json
import re

import pytest

from hubkit.audit import run_audit

from .conftest import CANARY_PASSWORD, secret_values


def test_audit_writes_report_and_evidence(rendered, run_cli):
    r = run_cli(rendered, "audit", "zeitz")
    out = rendered / "audit" / "zeitz"
    assert (out / "report.html").is_file() and (out / "evidence.json").is_file()
    doc = json.loads((out / "evidence.json").read_text())
    assert len(doc["bsi"]) == 26
    assert set(doc) >= {"hub", "render", "configure", "verify", "cloud_plan", "findings", "git",
                        "hubkit_version", "scope", "summary", "evidence"}
    assert doc["hub"]["provenance"] and all(":" in p["origin"] for p in doc["hub"]["provenance"])
    assert any(p["path"] == "network.site_prefix" and p["origin"].startswith("hubs/zeitz.yaml:")
               for p in doc["hub"]["provenance"])
    assert doc["render"]["up_to_date"] is True and doc["render"]["problems"] == []
    assert doc["cloud_plan"]["mode"] == "offline" and doc["cloud_plan"]["resources"]
    # Never deployed: nothing is live, so no row passes; rendered evidence makes rows designed only.
    assert "Nothing was verified live" in doc["scope"]["live"]
    by_num = {row["num"]: row for row in doc["bsi"]}
    assert doc["summary"]["pass"] == 0 and doc["scope"]["rows"]["pass"] == []
    assert by_num[4]["status"] == "designed" and by_num[4]["basis"] == "rendered"
    assert "router::test_default_deny (no verify result yet)" in by_num[4]["note"]
    assert {r["num"] for r in doc["bsi"] if r["status"] == "manual"} == {19, 20, 21, 24, 25}
    assert doc["summary"]["designed"] == 21 and doc["summary"]["manual_filled"] == 0
    # The report explains the statuses at the top and lists, per row, the checks behind it.
    html = (out / "report.html").read_text()
    assert 'id="statuses"' in html and "nothing has shown that it does" in html
    assert "router::test_default_deny" in html and "nft.default_deny" in by_num[4]["checks"]
    ids = {e["id"] for e in doc["evidence"]}
    for row in doc["bsi"]:
        assert set(row["evidence"]) <= ids
    assert r.exit_code == (1 if doc["summary"]["fail"] else 0)


def test_report_is_self_contained(rendered):
    res = run_audit(rendered, "zeitz")
    html = res.report.read_text()
    assert 'id="bsi-table"' in html and html.count('data-status="') == 26
    assert "<svg" in html and "zeitz-rt01" in html
    for bad in ("http://", "https://", "src=", "<script", "<link", "@import", "url(", "<iframe"):
        assert bad not in html, bad
    assert not re.search(r'href="(?!#)', html)
    assert "@media print" in html


def test_audit_output_is_deterministic(rendered):
    a = run_audit(rendered, "zeitz")
    first = (a.report.read_bytes(), a.evidence.read_bytes())
    b = run_audit(rendered, "zeitz")
    assert (b.report.read_bytes(), b.evidence.read_bytes()) == first
    assert str(rendered) not in first[0].decode() and str(rendered) not in first[1].decode()


def test_broken_rendered_firewall_fails_its_rows(rendered):
    nft = rendered / "build" / "zeitz" / "hosts" / "zeitz-rt01" / "etc" / "nftables.conf"
    nft.write_text(nft.read_text().replace("hook forward priority filter; policy drop;",
                                           "hook forward priority filter; policy accept;"))
    doc = json.loads(run_audit(rendered, "zeitz").evidence.read_text())
    row4 = doc["bsi"][3]
    assert row4["status"] == "fail" and "nft.default_deny:forward" in row4["evidence"]
    # The manifest no longer matches either, and the integrity row says so.
    assert doc["bsi"][16]["status"] == "fail"


def test_live_verify_results_count_with_their_bsi_tags(rendered):
    from hubkit.audit import live
    runs = rendered / ".hubkit" / "runs" / "zeitz"
    runs.mkdir(parents=True)
    # Every live check of row 1 (guest isolation) passed; one of row 9 failed.
    row1 = [c for c in live.registry() if "NET.1.1.A5" in c.tags]
    checks = [{"id": c.id, "host": "hub", "status": "passed", "bsi": list(c.tags), "message": ""} for c in row1]
    checks.append({"id": "common::test_only_expected_listeners", "host": "zeitz-rt01", "status": "failed",
                   "bsi": ["NET.3.2.A4"], "message": "port 8080 open"})
    (runs / "verify.json").write_text(json.dumps({"hub": "zeitz", "checks": checks,
                                                  "summary": {"passed": len(row1), "failed": 1}}))
    doc = json.loads(run_audit(rendered, "zeitz").evidence.read_text())
    assert doc["bsi"][0]["status"] == "pass" and doc["bsi"][0]["basis"] == "live"
    assert doc["bsi"][8]["status"] == "fail"
    assert "verify:zeitz-rt01:common::test_only_expected_listeners" in doc["bsi"][8]["evidence"]
    # Row 4's live checks did not run in this result: designed, naming them.
    assert doc["bsi"][3]["status"] == "designed" and "router::test_default_deny (did not run)" in doc["bsi"][3]["note"]


def test_stale_verify_result_is_not_used(rendered):
    import os
    runs = rendered / ".hubkit" / "runs" / "zeitz"
    runs.mkdir(parents=True)
    v = runs / "verify.json"
    v.write_text(json.dumps({"hub": "zeitz", "checks": [{"id": "t", "host": "hub", "status": "passed",
                                                         "bsi": ["NET.3.1.A1"]}], "summary": {}}))
    os.utime(v, (1, 1))  # older than the render
    doc = json.loads(run_audit(rendered, "zeitz").evidence.read_text())
    assert doc["bsi"][8]["status"] == "designed" and "stale" in doc["bsi"][8]["note"]
    assert "stale" in doc["verify"]["note"]


def test_no_secret_in_report_or_evidence(rendered):
    res = run_audit(rendered, "zeitz", vault_password=CANARY_PASSWORD)
    text = res.report.read_text() + res.evidence.read_text()
    for s in secret_values(rendered, "zeitz"):
        assert s not in text


def test_audit_refuses_to_write_a_leaked_secret(rendered):
    import pytest

    from hubkit.errors import HubkitError
    leak = secret_values(rendered, "zeitz")[1]
    runs = rendered / ".hubkit" / "runs" / "zeitz"
    runs.mkdir(parents=True)
    (runs / "configure.json").write_text(json.dumps({"hosts": {}, "changed_tasks": [{"msg": leak}], "rc": 0}))
    with pytest.raises(HubkitError, match="secret"):
        run_audit(rendered, "zeitz", vault_password=CANARY_PASSWORD)
    assert not (rendered / "audit" / "zeitz" / "report.html").exists()


def test_git_history_is_evidence_when_the_fleet_is_a_repo(rendered):
    import subprocess
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q", str(rendered)], check=True, env=env)
    subprocess.run(["git", "-C", str(rendered), "add", "fleet.yaml", "hubs", "regions"], check=True, env=env)
    subprocess.run(["git", "-C", str(rendered), "commit", "-qm", "zeitz: first version"], check=True, env=env)
    doc = json.loads(run_audit(rendered, "zeitz").evidence.read_text())
    assert doc["git"]["commits"][0]["subject"] == "zeitz: first version"
    assert "git.history" in doc["bsi"][16]["evidence"]


@pytest.fixture
def naumburg(fleet_root, vault_env):
    """naumburg (cisco-ios switch) rendered; no lab, no verify."""
    from hubkit import secrets
    from hubkit.fleet.repo import load_fleet
    from hubkit.render import render_fleet
    hub = load_fleet(fleet_root).hub("naumburg").model
    secrets.init_secrets(fleet_root, "naumburg", [m.username for m in hub.staff], CANARY_PASSWORD)
    render_fleet(load_fleet(fleet_root), ["naumburg"])
    return fleet_root


def _rows(doc) -> dict[int, dict]:
    return {row["num"]: row for row in doc["bsi"]}


def test_ios_switch_config_is_rendered_evidence_of_its_rows(naumburg, rendered):
    doc = json.loads(run_audit(naumburg, "naumburg").evidence.read_text())
    ios = {e["id"]: e for e in doc["evidence"] if e["id"].startswith("switch.ios:")}
    assert len(ios) == 8 and all(e["ok"] and e["kind"] == "rendered" for e in ios.values())
    assert ios["switch.ios:no_telnet"]["ref"].startswith("build/naumburg/switch/cisco-ios.cfg:")
    rows = _rows(doc)
    assert {"switch.ios:trunk", "switch.ios:vlans"} <= set(rows[3]["evidence"])
    assert "switch.ios:unused_ports" in rows[9]["evidence"]
    assert "switch.ios:ssh_v2" in rows[10]["evidence"] and rows[10]["status"] == "designed"
    # Not a lab audit: no stand-in was involved.
    assert doc["scope"]["stand_in"] is None
    # A Linux-bridge hub deploys no IOS config: none of it counts as evidence there.
    zeitz = json.loads(run_audit(rendered, "zeitz").evidence.read_text())
    assert not [e for e in zeitz["evidence"] if e["id"].startswith("switch.ios")]


def test_broken_ios_config_fails_its_row(naumburg):
    cfg = naumburg / "build" / "naumburg" / "switch" / "cisco-ios.cfg"
    cfg.write_text(cfg.read_text().replace("transport input ssh", "transport input telnet ssh"))
    doc = json.loads(run_audit(naumburg, "naumburg").evidence.read_text())
    row = _rows(doc)[10]
    assert row["status"] == "fail" and "IOS switch config: remote logins over SSH only" in row["note"]


def test_lab_audit_says_the_switch_was_a_stand_in(naumburg):
    runs = naumburg / ".hubkit" / "runs" / "naumburg"
    runs.mkdir(parents=True)
    (runs / "configure.json").write_text(json.dumps({"hub": "naumburg", "lab": True, "rc": 0}))
    res = run_audit(naumburg, "naumburg")
    doc = json.loads(res.evidence.read_text())
    note = doc["scope"]["stand_in"]
    assert note.startswith("naumburg-sw01 is a cisco-ios switch at the site; in the lab a Linux bridge "
                           "stands in for it: switch-cisco-ios.yml is skipped")
    assert 'id="stand-in"' in res.report.read_text() and "Lab stand-in" in res.report.read_text()


def test_wrong_vault_password_is_exit_3_and_writes_nothing(rendered, run_cli):
    r = run_cli(rendered, "audit", "zeitz", env={"HUBKIT_VAULT_PASSWORD": "not-the-password"})
    assert r.exit_code == 3
    assert "the vault password does not open secrets/zeitz.vault.yml" in r.output
    assert "Traceback" not in r.output
    assert not (rendered / "audit" / "zeitz" / "report.html").exists()


def test_without_a_vault_password_the_report_says_the_scan_did_not_run(rendered, run_cli, monkeypatch):
    monkeypatch.delenv("HUBKIT_VAULT_PASSWORD")
    r = run_cli(rendered, "audit", "zeitz")
    assert r.exit_code == 0, r.output
    assert "The secret scan did NOT run: no vault password was given" in r.output
    doc = json.loads((rendered / "audit" / "zeitz" / "evidence.json").read_text())
    assert doc["scope"]["secret_scan"]["ran"] is False
    html = (rendered / "audit" / "zeitz" / "report.html").read_text()
    assert 'id="secret-scan" class="scan-off">The secret scan did NOT run' in html
    # With the password (here from a file, the one reader's whitespace rule) the scan runs.
    pw = rendered / "pw.txt"
    pw.write_text(f"  {CANARY_PASSWORD}\n")
    r = run_cli(rendered, "audit", "zeitz", "--vault-password-file", str(pw))
    assert r.exit_code == 0, r.output
    doc = json.loads((rendered / "audit" / "zeitz" / "evidence.json").read_text())
    assert doc["scope"]["secret_scan"]["ran"] is True and "none found" in doc["scope"]["secret_scan"]["note"]


def test_manual_form_is_written_once_filled_in_and_shown(rendered):
    run_audit(rendered, "zeitz", vault_password=CANARY_PASSWORD)
    form = rendered / "audit" / "zeitz" / "manual.yaml"
    text = form.read_text()
    assert "  24:\n    - item: hub\n      who:\n" in text and "    - item: zeitz-ws01\n" in text
    filled = text.replace("  24:\n    - item: hub\n      who:\n      when:\n      what:\n",
                          "  24:\n    - item: hub\n      who: A. Admin (IT lead)\n      when: 2026-01-05\n"
                          "      what: restored zeitz-backup/2026-01-04 to a scratch container, files intact\n")
    form.write_text(filled)
    doc = json.loads(run_audit(rendered, "zeitz", vault_password=CANARY_PASSWORD).evidence.read_text())
    row24 = _rows(doc)[24]
    assert row24["status"] == "manual" and row24["basis"] == "planned"
    assert row24["manual"]["filled"] == [{"item": "hub", "who": "A. Admin (IT lead)", "when": "2026-01-05",
                                          "what": "restored zeitz-backup/2026-01-04 to a scratch container, "
                                                  "files intact", "where": None}]
    assert row24["manual"]["open"] == [] and "1 of 1 item(s) filled" in row24["note"]
    assert _rows(doc)[19]["manual"]["open"] == ["zeitz-gw01", "zeitz-ws01", "zeitz-ws02", "zeitz-ws03", "zeitz-ws04"]
    assert doc["summary"]["manual_filled"] == 1
    assert form.read_text() == filled  # input: never overwritten


@pytest.mark.parametrize("change, message", [
    (("      when:\n", "      when: yesterday\n"), "when: Input should be a valid date"),
    (("      who:\n", "      who: X\n      colour: red\n"), "Extra inputs are not permitted"),
    (("    - item: hub\n", "    - item: zeitz-rt99\n"), "'zeitz-rt99' is not an item of this row"),
    (("  24:\n    - item: hub\n      who:\n", "  24:\n    - item: hub\n      who: X\n"), "when, what missing"),
])
def test_bad_manual_form_names_file_line_col(rendered, run_cli, change, message):
    run_audit(rendered, "zeitz", vault_password=CANARY_PASSWORD)
    form = rendered / "audit" / "zeitz" / "manual.yaml"
    text = form.read_text()
    # Only the row-24 block: its one entry is the last in the file.
    head, _, block = text.rpartition("  24:\n")
    old, new = change
    block = ("  24:\n" + block).replace(old, new, 1) if old.startswith("  24") else "  24:\n" + block.replace(old, new, 1)
    form.write_text(head + block)
    r = run_cli(rendered, "audit", "zeitz")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert re.search(r"audit/zeitz/manual\.yaml:\d+:\d+: error HK301: ", r.output), r.output
    assert message in r.output
