"""`hubkit plan` and `hubkit apply`: one change plan across every layer, and its apply."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubkit.cli import (access_kwargs, access_options, complete_hub_ids, exit_with, installer_credential,
                        installer_options, json_option, pass_ctx)
from hubkit.cli.cloud import _print_summary, _progress, lab_option, vault_option
from hubkit.errors import EXIT_FINDINGS


@click.command("plan")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--offline", is_flag=True,
              help="Only the cloud part, under Pulumi's mocks: intent plus policies (no engine, no lab, no site).")
@lab_option
@click.option("--cloud-only", is_flag=True, help="Only the cloud part, as a real preview.")
@click.option("--no-hosts", is_flag=True, help="Skip the hosts' check-mode run.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="markdown: a merge-request comment; json: the plan document.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the plan document here (it is always kept for `hubkit apply`).")
@vault_option
@access_options
@json_option
@pass_ctx
def plan_cmd(ctx, hub_id, offline, lab, cloud_only, no_hosts, fmt, out, vault_password_file, user, private_key,
             jump, as_json):
    """What a change to the fleet would do: rendered files, host tasks, cloud resources.

    Changes nothing.  The plan is kept (.hubkit/runs/ID/change-plan.json) with the hash of
    its inputs; `hubkit apply ID` carries out exactly that, and refuses if the fleet changed.

    Example: sudo -E hubkit plan zeitz --lab --format markdown > plan.md
    """
    from hubkit.cloud import run
    fleet = ctx.fleet()
    if offline:
        the_plan, found = run.offline_plan(fleet, hub_id, vault_password_file)
        if as_json:
            doc = the_plan.to_json()
            doc["findings"] = [{"code": f.code, "message": f.message, "hint": f.hint} for f in found]
            click.echo(json.dumps(doc, sort_keys=True, indent=2))
        else:
            click.echo(the_plan.to_text(), nl=False)
            for f in found:
                click.echo(f.format())
        if found:
            click.echo(f"{len(found)} policy finding(s)", err=True)
            exit_with(EXIT_FINDINGS)
        return
    if cloud_only:
        summary = run.real_run(fleet, hub_id, "preview", vault_password_file, on_output=_progress(ctx.verbose),
                               lab=lab)
        _print_summary(summary, as_json)
        return
    from hubkit import change
    from hubkit.change import report
    if vault_password_file is not None:
        import os

        from hubkit import secrets
        os.environ[secrets.ENV_PASSWORD] = secrets.vault_password(vault_password_file)
    doc = change.make_plan(ctx.fleet_root, hub_id, lab=lab, hosts=not no_hosts,
                           **access_kwargs(lab, user=user, private_key=private_key, jump=jump))
    path = change.save(ctx.fleet_root, hub_id, doc)
    if out is not None:
        change.save(ctx.fleet_root, hub_id, doc, out)
    click.echo(report.render(doc, "json" if as_json else fmt), nl=False)
    click.echo(f"plan kept in {path}; `hubkit apply {hub_id}{' --lab' if lab else ''}` carries it out", err=True)
    if any(h.get("failures") for h in doc["hosts"]["hosts"].values()):
        exit_with(EXIT_FINDINGS)


@click.command("apply")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@lab_option
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The plan to carry out (default: the last `hubkit plan ID`).")
@click.option("--yes", is_flag=True, help="Confirm changes to a real site.")
@installer_options
@access_options
@json_option
@pass_ctx
def apply_cmd(ctx, hub_id, lab, plan_file, yes, installer_key, ask_password, installer_user, user, private_key,
              jump, as_json):
    """Carry out a reviewed plan: render, provision, configure, verify (under the hub lock).

    Refused when the fleet changed since the plan was made.

    Example: sudo -E hubkit apply zeitz --lab
    """
    from hubkit import change
    say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    res = change.apply(ctx.fleet_root, hub_id, lab=lab, plan_file=plan_file, yes=yes, say=say,
                       credential=installer_credential(installer_key, ask_password, installer_user),
                       **access_kwargs(lab, user=user, private_key=private_key, jump=jump))
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True))
    else:
        for host, tasks in res["hosts_changed"].items():
            click.echo(f"{host}: {len(tasks)} task(s) changed: {'; '.join(tasks)}")
        if not res["hosts_changed"]:
            click.echo("no host changed")
        click.echo(f"cloud: {res['cloud'] or 'no change'}")
        click.echo(f"as planned: {'yes' if res['as_planned'] else 'NO (see --json: hosts_planned vs hosts_changed)'}")
        v = res["verify"]
        click.echo(f"verify: {v['passed']} passed, {v['failed']} failed, {v['skipped']} skipped")
    if not res["ok"]:
        exit_with(EXIT_FINDINGS)


def register(cli):
    cli.add_command(plan_cmd)
    cli.add_command(apply_cmd)
