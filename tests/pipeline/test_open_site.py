"""Opening and decommissioning a real site (no --lab) without ever reaching one.

Without the Pulumi CLI `open` must stop before it writes anything; with
--skip-cloud it goes on and says so in the journal, `status` and the audit.
Every run that would contact a site's hosts runs in an empty network
namespace (``unshare -n``): bootstrap and decommission's concentrator run
fail at their first connection instead of sending anything.

One site opening serves the tests after the first (CI time); they run in
file order and build on each other, the decommission last.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from hubkit.open.journal import Journal, journal_path

from .conftest import CANARY_PASSWORD, all_text_under, hubkit, secret_values

LOGS: list[str] = []


def path_without_pulumi() -> str:
    """PATH minus every directory that holds a `pulumi` executable."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not shutil.which("pulumi", path=d))


# A machine without the engine: PATH without it, and hubkit's own bin dir pointed elsewhere.
NO_PULUMI = {"PATH": path_without_pulumi(), "HUBKIT_PULUMI_BIN": "/nonexistent/hubkit-pulumi-bin"}


def tree(root) -> dict[str, tuple[bytes | None, int]]:
    """Every file and directory under ``root`` with its bytes and mode."""
    out = {".": (None, root.stat().st_mode)}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
    return out


@pytest.mark.parametrize("args,code,says", [
    (("open", "zeitz", "--yes"), 3, "the `pulumi` executable was not found on PATH"),
    (("open", "zeitz"), 3, "the `pulumi` executable was not found on PATH"),
    (("open", "zeitz", "--yes", "--from", "cloud"), 3, "the `pulumi` executable was not found on PATH"),
    # --skip-cloud: the cloud is no longer a reason to stop, changing real hosts still needs --yes.
    (("open", "zeitz", "--skip-cloud"), 2, "bootstrapping the site's delivered hosts needs confirmation"),
    # Hosts never bootstrapped need the installer credential, decided before anything is written.
    (("open", "zeitz", "--skip-cloud", "--yes"), 3, "were never bootstrapped"),
])
def test_refused_open_exits_before_writing_anything(rendered, args, code, says):
    before = tree(rendered)
    r = hubkit(rendered, *args, env=NO_PULUMI, offline=True)
    assert r.returncode == code, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    if code == 3:  # the hint names the way forward
        assert "--skip-cloud" in r.stderr or "--installer-key" in r.stderr
    assert tree(rendered) == before
    assert not journal_path(rendered, "zeitz").exists()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The example fleet with zeitz opened for a real site with --skip-cloud, without network."""
    from hubkit import secrets
    from hubkit.fleet.repo import load_fleet
    from hubkit.render import render_fleet
    from hubkit.scaffold import init_fleet
    root = tmp_path_factory.mktemp("site") / "fleet"
    init_fleet(root)
    hub = load_fleet(root).hub("zeitz").model
    secrets.init_secrets(root, "zeitz", [m.username for m in hub.staff], CANARY_PASSWORD)
    render_fleet(load_fleet(root), ["zeitz"])
    key = root.parent / "installer_ed25519"
    key.write_text("a stand-in: no host is ever reached\n")
    r = hubkit(root, "-vv", "open", "zeitz", "--yes", "--skip-cloud", "--installer-key", str(key),
               env=NO_PULUMI, offline=True)
    LOGS.append(r.stdout + r.stderr)
    return root, r


def test_skip_cloud_open_goes_on_to_the_site_and_journals_the_skip(site):
    root, r = site
    # The first step that contacts the site fails for want of a network: nothing else could.
    assert r.returncode == 1, r.stderr[-3000:]
    assert "opening zeitz without cloud services (--skip-cloud)" in r.stderr
    assert re.search(r"↷ cloud\s+skipped: --skip-cloud: the identity group and users, DNS zone, "
                     r"backup container and monitoring were not provisioned", r.stderr)
    assert re.search(r"✗ bootstrap .*bootstrap failed on zeitz-rt01 \(unreachable\)", r.stderr)
    states = Journal(journal_path(root, "zeitz")).states()
    assert states["cloud"].result == "skipped" and states["cloud"].done
    assert states["cloud"].reason.startswith("--skip-cloud: ") and "not provisioned" in states["cloud"].reason
    assert states["bootstrap"].result == "failed"
    cloud = json.loads((root / ".hubkit" / "runs" / "zeitz" / "cloud.json").read_text())
    assert cloud["mode"] == "skipped"
    assert not (root / ".hubkit" / "runs" / "zeitz" / "plan.json").exists()  # nothing planned either


def test_open_json_reports_each_step_and_the_failure(site):
    root, _r = site
    key = root.parent / "installer_ed25519"
    r = hubkit(root, "open", "zeitz", "--yes", "--skip-cloud", "--installer-key", str(key), "--json",
               env=NO_PULUMI, offline=True)
    assert r.returncode == 1, r.stderr[-3000:]
    doc = json.loads(r.stdout)  # stdout is the document only; the step lines stay on stderr
    assert doc["hub"] == "zeitz" and doc["lab"] is False and doc["ok"] is False
    by_step = {s["step"]: s for s in doc["steps"]}
    assert by_step["cloud"]["result"] == "skipped" and by_step["bootstrap"]["result"] == "failed"
    assert all(isinstance(s["duration_s"], float) for s in doc["steps"])
    assert doc["failed"]["step"] == "bootstrap" and doc["failed"]["exit_code"] == 1
    assert doc["slowest_tasks"] == []  # configure never ran: no timings to show
    assert "✗ bootstrap" in r.stderr


def test_status_shows_the_cloud_was_not_provisioned(site, run_cli):
    root, _ = site
    rows = {h["id"]: h for h in json.loads(run_cli(root, "status", "--json").output)["hubs"]}
    cloud = rows["zeitz"]["cloud"]
    assert cloud["mode"] == "skipped" and cloud["provisioned"] is False
    assert cloud["detail"].startswith("NOT provisioned (skipped): --skip-cloud")
    assert rows["naumburg"]["cloud"] is None
    assert rows["zeitz"]["open"]["result"] == "failed at bootstrap"
    table = run_cli(root, "status").output
    assert re.search(r"zeitz .*SKIPPED \(not provisioned\)", table)


def test_audit_says_the_cloud_services_were_not_provisioned(site):
    root, _ = site
    r = hubkit(root, "audit", "zeitz")
    LOGS.append(r.stdout + r.stderr)
    doc = json.loads((root / "audit" / "zeitz" / "evidence.json").read_text())
    assert doc["cloud"]["mode"] == "skipped"
    assert "were NOT provisioned: the cloud step was skipped (--skip-cloud" in doc["scope"]["planned"]
    planned = [e for e in doc["evidence"] if e["kind"] == "planned"]
    assert planned and all("the cloud services were not provisioned" in e["detail"] for e in planned)
    html = (root / "audit" / "zeitz" / "report.html").read_text()
    assert "were NOT provisioned: the cloud step was skipped" in html


def test_no_secret_in_any_output_journal_or_log(site):
    root, _ = site
    texts = all_text_under(root)
    assert ".hubkit/journal/zeitz.jsonl" in texts
    for secret in secret_values(root, "zeitz"):
        for name, text in texts.items():
            assert secret not in text, f"secret found in {name}"
        assert all(secret not in log for log in LOGS)


def test_decommission_stops_when_the_concentrator_cannot_be_reached(site):
    root, _ = site
    before = {p: t for p, t in tree(root).items() if not p.startswith((".hubkit/runs", ".hubkit/locks"))}
    r = hubkit(root, "decommission", "zeitz", "--yes", offline=True)
    assert r.returncode == 1, r.stderr
    assert "could not remove the peer of zeitz from dc-core" in r.stderr
    assert "nothing else was done" in r.stderr and "--skip-concentrator" in r.stderr
    # The same playbook a lab run uses, against the rendered inventory's concentrator.
    log = (root / ".hubkit" / "runs" / "zeitz" / "decommission.log").read_text()
    assert "Remove the hub's peer and routes from the concentrator" in log and "dc-core" in log
    after = {p: t for p, t in tree(root).items() if not p.startswith((".hubkit/runs", ".hubkit/locks"))}
    assert after == before  # no archive, hub file and build tree in place


def test_decommission_without_the_vault_password_refuses_before_anything(site):
    root, _ = site
    before = tree(root)
    r = hubkit(root, "decommission", "zeitz", "--yes", env={"HUBKIT_VAULT_PASSWORD": ""}, offline=True)
    assert r.returncode == 3, r.stderr
    assert "cannot remove the peer of zeitz from dc-core: no vault password" in r.stderr
    assert tree(root) == before


def test_decommission_skipping_the_concentrator_archives_and_says_so(site):
    root, _ = site
    r = hubkit(root, "decommission", "zeitz", "--yes", "--skip-concentrator", offline=True)
    assert r.returncode == 0, r.stderr
    assert "--skip-concentrator: the peer of zeitz and its routes were left on dc-core" in r.stderr
    arch = root / "archive" / "zeitz"
    for p in ("build/manifest.json", "journal/zeitz.jsonl", "runs/cloud.json", "runs/decommission.log",
              "secrets/zeitz.vault.yml", "cloud-to-destroy.txt"):
        assert (arch / p).is_file(), p
    assert not (root / "hubs" / "zeitz.yaml").exists()
