"""Opening and closing hubs: open, audit, status, decommission."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import click

from hubkit.cli import (access_kwargs, access_options, complete_hub_ids, exit_with, installer_credential,
                        installer_options, json_option, pass_ctx)
from hubkit.errors import EXIT_FINDINGS, UsageError

# Short forms for the status table; `status --json` has the full sentence.
CLOUD_LABEL = {"provisioned": "provisioned", "planned": "planned only (lab)",
               "skipped": "SKIPPED (not provisioned)", "destroyed": "destroyed"}
SYMBOL = {"ok": "✓", "failed": "✗", "interrupted": "!", "skipped": "↷", "disabled": "-", "not_run": "-"}


def _ci() -> bool:
    from hubkit.cli import is_ci
    return is_ci()


class _Display:
    """Step lines on stderr; a rich spinner for the running foreground step on a TTY outside CI.

    A background step (the cloud step) says its start and its end as plain lines while
    the spinner of the foreground step goes on; events come from both threads.
    """

    def __init__(self):
        self.live = not _ci() and sys.stderr.isatty()
        self.status = None
        self.spinning = ""  # the spinner's line, to restart it after a background step's line
        self.finished = []  # StepReports in order, also when a later step fails (open --json)
        self.lock = threading.Lock()

    def __call__(self, kind: str, rep) -> None:
        with self.lock:
            if kind == "start":
                where = ", in the background" if rep.background else ""
                line = f"  … {rep.step:<9} running ({rep.message}{where})"
                if self.live and not rep.background:
                    self._spin(line)
                else:
                    self._echo(line)
                return
            if not rep.background:
                self._spin("")
            self.finished.append(rep)
            timing = f"{rep.duration_s:6.1f}s" if rep.result in ("ok", "failed", "interrupted") else "       "
            what = {"skipped": "skipped: ", "disabled": "skipped: ", "not_run": "not run: "}.get(rep.result, "")
            self._echo(f"  {SYMBOL.get(rep.result, '?')} {rep.step:<9} {timing}  {what}{rep.message}")

    def _spin(self, line: str) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        self.spinning = line
        if line:
            from rich.console import Console
            self.status = Console(stderr=True).status(line)
            self.status.start()

    def _echo(self, line: str) -> None:
        spinning = self.spinning
        if spinning:
            self._spin("")
        click.echo(line, err=True)
        if spinning:
            self._spin(spinning)


def _summary(fleet_root: Path, hub_id: str) -> dict | None:
    try:
        return json.loads((fleet_root / "audit" / hub_id / "evidence.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def _print_audit(doc: dict, report: Path) -> int:
    s = doc["summary"]
    click.echo(f"report: {report}")
    click.echo(f"BSI checks: {s['pass']} pass (verified live), {s.get('designed', 0)} designed only, "
               f"{s['fail']} fail, {s['manual']} manual ({s.get('manual_filled', 0)} filled in), "
               f"{s['not_applicable']} not applicable")
    for status, label in (("fail", "FAIL    "), ("designed", "designed"), ("manual", "manual  ")):
        for r in doc["bsi"]:
            if r["status"] == status:
                click.echo(f"  {label} #{r['num']:<2} {r['title']}: {r['note']}")
    scan = (doc.get("scope") or {}).get("secret_scan") or {}
    if scan and not scan.get("ran"):
        click.echo(f"  {scan['note']}")
    return s["fail"]


@click.command("open")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--lab", is_flag=True, help="Open the hub in its lab on this machine (needs root).")
@click.option("--yes", is_flag=True, help="Confirm real changes (provisioning, configuring real hosts).")
@click.option("--skip-cloud", is_flag=True,
              help="Do not provision the cloud services (no Pulumi run); journal, status and audit say so.")
@click.option("--from", "from_step", metavar="STEP", default=None,
              help="Re-run from STEP on: validate, secrets, render, lab, cloud, bootstrap, configure, verify, audit.")
@click.option("--vault-password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read the vault password from FILE instead of $HUBKIT_VAULT_PASSWORD.")
@click.option("--factory", is_flag=True,
              help="With --lab: boot the hosts as delivered (root + installer key) and bootstrap them.")
@installer_options
@access_options
@json_option
@pass_ctx
def open_cmd(ctx, hub_id, lab, yes, skip_cloud, from_step, vault_password_file, factory, installer_key,
             ask_password, installer_user, user, private_key, jump, as_json):
    """Open hub ID end to end: validate, secrets, render, lab, cloud, bootstrap, configure, verify, audit.

    A re-run skips steps whose inputs are unchanged and which succeeded; after
    a failure or Ctrl-C it resumes at the step that stopped.  A missing
    prerequisite (the pulumi CLI for a real opening, a needed --yes) stops it
    before anything is written.

    The step lines (with each step's wall time) go to stderr; when configure
    ran, its ten slowest tasks follow.  --json prints the steps, the slowest
    tasks, the audit summary and the cloud record on stdout instead.

    Example: HUBKIT_VAULT_PASSWORD=... sudo -E hubkit open zeitz --lab
    """
    from hubkit.lock import hub_lock
    from hubkit.open.steps import steps
    from hubkit.open import STEP_NAMES, RunContext, StepFailed, preflight, run_pipeline

    if from_step is not None and from_step not in STEP_NAMES:
        raise UsageError(f"unknown step {from_step!r} for --from", f"one of: {', '.join(STEP_NAMES)}")
    root = Path(ctx.fleet_root)
    ctx.fleet().hub(hub_id)  # unknown hub: usage error before taking any lock
    if vault_password_file is not None:
        import os

        from hubkit import secrets
        # Every step (and Ansible, through its env script) reads the environment.
        os.environ[secrets.ENV_PASSWORD] = secrets.vault_password(vault_password_file)  # the one reader
    if factory and not lab:
        raise UsageError("--factory is for the lab", "a real site's hosts are as delivered; use --installer-key")
    rctx = RunContext(root, hub_id, lab=lab, yes=yes, verbose=ctx.verbose, skip_cloud=skip_cloud, factory=factory,
                      access=access_kwargs(lab, user=user, private_key=private_key, jump=jump),
                      credential=installer_credential(installer_key, ask_password, installer_user))
    # Before the lock: taking it writes .hubkit/locks/, and a refused run writes nothing.
    preflight(steps(), rctx, from_step)
    click.echo(f"opening {hub_id}{' in the lab' if lab else ''}"
               f"{' without cloud services (--skip-cloud)' if skip_cloud else ''}", err=True)
    failed = None
    display = _Display()
    started = time.monotonic()
    with hub_lock(root, hub_id, command="open"):
        try:
            run_pipeline(steps(), rctx, from_step=from_step, on_event=display)
        except StepFailed as e:
            failed = e
        except KeyboardInterrupt:
            click.echo(f"interrupted; the journal is saved: `hubkit open {hub_id}"
                       f"{' --lab' if lab else ''}` resumes at the interrupted step", err=True)
            raise
    from hubkit.cloud import record
    from hubkit.open.summary import open_document
    audit = _summary(root, hub_id) if failed is None else None
    cloud = record.read(root, hub_id) if failed is None else None
    doc = open_document(root, hub_id, lab=lab, steps=display.finished, failed=failed, audit=audit, cloud=cloud,
                        wall_s=time.monotonic() - started)
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    if failed is not None:
        click.echo(failed.format(), err=True)
    else:
        n_skip = sum(1 for s in display.finished if s.result == "skipped")
        click.echo(f"{len(display.finished)} steps in {doc['duration_s']:.1f}s "
                   f"({n_skip} skipped: inputs unchanged)", err=True)
    if not as_json:
        from hubkit.cli.configure import slowest_lines
        for line in slowest_lines(doc["slowest_tasks"], "configure's slowest tasks"):
            click.echo(line, err=True)
    fails = 0
    if audit is not None:
        fails = audit["summary"]["fail"]
        if not as_json:
            _print_audit(audit, root / "audit" / hub_id / "report.html")
            if cloud is not None:
                click.echo(f"cloud services: {cloud.describe()}")
    if failed is not None:
        exit_with(failed.exit_code)
    if fails:
        exit_with(EXIT_FINDINGS)


@click.command("audit")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--lab", is_flag=True,
              help="Require live evidence from the lab (verifies the running lab if results are stale).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write <DIR>/<id>/ instead of audit/<id>/ in the fleet.")
@click.option("--vault-password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read the vault password (for the secret scan) from FILE instead of $HUBKIT_VAULT_PASSWORD.")
@json_option
@pass_ctx
def audit_cmd(ctx, hub_id, lab, out, vault_password_file, as_json):
    """Write audit/ID/report.html and evidence.json: the 26 BSI rows with their evidence.

    Without a vault password the audit runs and its summary says the secret
    scan did not run; a wrong one is exit 3.  Exit 1 when any row fails.

    Example: hubkit audit zeitz --lab
    """
    from hubkit.audit import run_audit
    from hubkit.secrets import vault_password
    res = run_audit(ctx.fleet_root, hub_id, lab=lab, out=out,
                    vault_password=vault_password(vault_password_file, required=False))
    doc = json.loads(res.evidence.read_text())
    if as_json:
        click.echo(json.dumps({"hub": hub_id, "report": str(res.report), "evidence": str(res.evidence),
                               "summary": doc["summary"], "bsi": doc["bsi"]}, indent=2, sort_keys=True))
    else:
        _print_audit(doc, res.report)
    if not res.ok:
        exit_with(EXIT_FINDINGS)


@click.command("status")
@click.argument("ids", nargs=-1, metavar="[ID...]", shell_complete=complete_hub_ids)
@json_option
@pass_ctx
def status_cmd(ctx, ids, as_json):
    """Fleet table: validated, rendered (hash, up to date), configure, verify, lab, audit.

    Example: hubkit status --json
    """
    from hubkit.status import fleet_status
    rows = fleet_status(ctx.fleet(), ids)
    if as_json:
        click.echo(json.dumps({"hubs": rows}, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    def at(v):  # UTC, minutes are enough in a table
        return (v or "")[:16].replace("T", " ")

    t = Table("hub", "valid", "rendered", "cloud", "configure", "verify", "lab", "audit", "last open (UTC)",
              box=None)
    for r in rows:
        rendered = "no"
        if r["rendered"]:
            rendered = f"{r['hash']} " + {True: "up to date", False: "STALE", None: "?"}[r["up_to_date"]]
        c, v, a, o, cl = r["configure"], r["verify"], r["audit"], r["open"], r["cloud"]
        t.add_row(
            r["id"], "yes" if r["validated"] else f"no ({r['findings']})", rendered,
            CLOUD_LABEL.get(cl["mode"], cl["mode"]) if cl else "-",
            (("ok" if c["ok"] else "FAILED") + f" changed={c['changed']} {at(c['at'])}") if c else "-",
            (f"{v['passed']} passed, {v['failed'] + v['error']} failed {at(v['at'])}") if v else "-",
            "running" if r["lab_running"] else "-",
            (f"{a.get('pass', 0)} pass / {a.get('designed', 0)} designed / {a.get('fail', 0)} fail / "
             f"{a.get('manual', 0)} manual") if a else "-",
            (f"{o['result']} {at(o['at'])}") if o else "-",
        )
    Console(width=200).print(t)


@click.command("decommission")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--lab", is_flag=True, help="The hub was only opened in the lab: no cloud stack to destroy; "
                                          "its peer is removed from the lab's concentrator.")
@click.option("--yes", is_flag=True, help="Do it without asking (required when not interactive).")
@click.option("--skip-concentrator", is_flag=True,
              help="Leave the hub's WireGuard peer on the concentrator (unreachable, or removed by hand).")
@json_option
@pass_ctx
def decommission_cmd(ctx, hub_id, lab, yes, skip_concentrator, as_json):
    """Remove the hub's peer from its concentrator, destroy/list cloud resources, bring the lab
    down, archive records, release prefixes.

    Example: hubkit decommission zeitz --lab --yes
    """
    from hubkit.decommission import decommission, plan_actions
    ctx.fleet().hub(hub_id)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"decommissioning {hub_id} needs confirmation and this is not interactive",
                             "pass --yes")
        click.echo(f"decommission {hub_id} will:", err=True)
        for a in plan_actions(ctx.fleet_root, hub_id):
            click.echo(f"  - {a}", err=True)
        if not click.confirm("continue?", err=True):
            click.echo("nothing done", err=True)
            exit_with(EXIT_FINDINGS)
    res = decommission(ctx.fleet_root, hub_id, lab=lab, skip_concentrator=skip_concentrator,
                       on_step=None if as_json else (lambda step, msg: click.echo(msg, err=True)))
    if as_json:
        click.echo(json.dumps(res.as_dict(), indent=2, sort_keys=True))
        return
    if res.cloud == "listed":
        click.echo(f"an operator must destroy {len(res.cloud_resources)} cloud resource(s), listed in "
                   f"{res.archive.name}/cloud-to-destroy.txt:")
        for r in res.cloud_resources:
            click.echo(f"  {r}")
    click.echo(f"decommissioned {hub_id}: archive {res.archive}")


def register(cli):
    for cmd in (open_cmd, audit_cmd, status_cmd, decommission_cmd):
        cli.add_command(cmd)
