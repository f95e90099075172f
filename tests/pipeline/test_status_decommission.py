"""status, decommission (no lab), IPAM release warnings, lock refusal.

A real site's open and decommission (no Pulumi CLI, --skip-cloud, the
concentrator) are in test_open_site.py.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from hubkit import ipam
from hubkit.open.journal import Journal, journal_path

from .conftest import hubkit


def test_status_reports_each_stage(rendered, run_cli):
    from hubkit.audit import run_audit
    run_audit(rendered, "zeitz")
    r = run_cli(rendered, "status", "--json")
    assert r.exit_code == 0
    rows = {h["id"]: h for h in json.loads(r.output)["hubs"]}
    assert set(rows) == {"naumburg", "wittenberg", "zeitz"}
    z = rows["zeitz"]
    assert z["validated"] and z["rendered"] and z["up_to_date"] is True and len(z["hash"]) == 12
    assert z["configure"] is None and z["verify"] is None and z["lab_running"] is False
    summary = json.loads((rendered / "audit" / "zeitz" / "evidence.json").read_text())["summary"]
    assert {k: z["audit"][k] for k in summary} == summary and z["audit"]["designed"] > 0
    assert rows["naumburg"]["rendered"] is False
    # A changed hub file makes the render stale.
    hub = rendered / "hubs" / "zeitz.yaml"
    hub.write_text(hub.read_text().replace("quota_gb: 200", "quota_gb: 300"))
    z = {h["id"]: h for h in json.loads(run_cli(rendered, "status", "--json").output)["hubs"]}["zeitz"]
    assert z["up_to_date"] is False
    table = run_cli(rendered, "status")
    assert "STALE" in table.output and "zeitz" in table.output


def test_open_refused_while_another_run_holds_the_lock(rendered, tmp_path):
    key = tmp_path / "installer"
    key.write_text("a stand-in: no host is ever reached\n")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from hubkit.lock import hub_lock\n"
         "with hub_lock(sys.argv[1], 'zeitz', command='open'):\n"
         "    print('held', flush=True); sys.stdin.read()", str(rendered)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # Offline and past every preflight: if the lock ever let it through, configure
        # could still not reach a real host.
        r = hubkit(rendered, "open", "zeitz", "--skip-cloud", "--yes", "--installer-key", str(key), offline=True)
        assert r.returncode == 1
        assert f"PID {holder.pid}" in r.stderr and "'open'" in r.stderr and "locked" in r.stderr
        assert not journal_path(rendered, "zeitz").exists()  # refused before doing anything
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_decommission_refuses_without_yes_when_not_interactive(rendered):
    r = hubkit(rendered, "decommission", "zeitz")
    assert r.returncode == 2 and "pass --yes" in r.stderr
    assert (rendered / "hubs" / "zeitz.yaml").is_file()


def test_decommission_archives_moves_and_releases(rendered):
    from hubkit.audit import run_audit
    run_audit(rendered, "zeitz")
    # The concentrator run is test_open_site.py's and the lab test's: here nothing is reachable.
    r = hubkit(rendered, "decommission", "zeitz", "--yes", "--skip-concentrator", offline=True)
    assert r.returncode == 0, r.stderr
    arch = rendered / "archive" / "zeitz"
    assert (arch / "build" / "manifest.json").is_file()
    assert (arch / "audit" / "report.html").is_file()
    assert (arch / "secrets" / "zeitz.vault.yml").is_file()
    # No pulumi CLI here: the resources an operator must destroy are listed.
    listed = (arch / "cloud-to-destroy.txt").read_text()
    assert "keycloak:index/user:User zeitz-" in listed and "must destroy" in r.stdout
    for gone in ("build/zeitz", "audit/zeitz", "hubs/zeitz.yaml", "secrets/zeitz.vault.yml"):
        assert not (rendered / gone).exists(), gone
    assert (rendered / "hubs" / "_decommissioned" / "zeitz.yaml").is_file()
    rel = ipam.releases(rendered)
    assert {r["prefix"] for r in rel} == {"10.64.0.0/22", "10.255.0.2"}
    assert all(r["hub"] == "zeitz" and r["released"] == dt.date.today() for r in rel)
    # The loader ignores the decommissioned hub; validate still passes.
    assert hubkit(rendered, "validate").returncode == 0


def test_new_hub_on_recently_released_prefix_warns(rendered):
    assert hubkit(rendered, "decommission", "zeitz", "--yes", "--skip-concentrator",
                  offline=True).returncode == 0
    r = hubkit(rendered, "new", "querfurt", "--name", "DigitalHub Querfurt", "--municipality",
               "Querfurt", "--workplaces", "3")
    assert r.returncode == 0, r.stderr
    assert "site_prefix: 10.64.0.0/22" in (rendered / "hubs" / "querfurt.yaml").read_text()
    assert "warning: 10.64.0.0/22 overlaps 10.64.0.0/22, released by hub zeitz 0 day(s) ago" in r.stderr


def test_release_warning_expires_after_90_days(tmp_path):
    ipam.record_release(tmp_path, "old", ["10.64.4.0/22"], dt.date(2026, 1, 1))
    assert ipam.release_warnings(tmp_path, ["10.64.4.0/22"], today=dt.date(2026, 3, 31))
    assert ipam.release_warnings(tmp_path, ["10.64.4.0/22"], today=dt.date(2026, 4, 1)) == []
    assert ipam.release_warnings(tmp_path, ["10.64.8.0/22"], today=dt.date(2026, 1, 2)) == []


def test_ctrl_c_in_open_exits_130_and_leaves_a_resumable_journal(fleet_root, vault_env, run_cli, monkeypatch):
    from hubkit.open import steps as open_steps
    from hubkit.open import Step

    def interrupted(ctx):
        raise KeyboardInterrupt

    toy = [Step("validate", lambda ctx: "valid", lambda ctx: 1),
           Step("render", interrupted, lambda ctx: 1)]
    monkeypatch.setattr(open_steps, "steps", lambda: toy)
    r = run_cli(fleet_root, "open", "zeitz")
    assert r.exit_code == 130
    assert "resumes at the interrupted step" in r.output
    states = Journal(journal_path(fleet_root, "zeitz")).states()
    assert states["validate"].done and states["render"].result == "interrupted"
    # The lock was released: the next run gets it and resumes at render.
    toy[1] = Step("render", lambda ctx: "done", lambda ctx: 1)
    r = run_cli(fleet_root, "open", "zeitz")
    assert r.exit_code == 0, r.output
    assert "resuming: last attempt interrupted" in r.output
