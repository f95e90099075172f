"""Cloud commands: provision, destroy (the plan is `hubkit plan`, hubkit/cli/change.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hubkit.cli import complete_hub_ids, json_option, pass_ctx
from hubkit.errors import UsageError

vault_option = click.option(
    "--vault-password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File holding the vault password (else env HUBKIT_VAULT_PASSWORD).")
wait_option = click.option("--wait", type=click.FloatRange(min=0), default=0, show_default=True,
                           help="Seconds to wait for another run's hub lock.")


def _progress(verbose: int):
    """Engine output → stderr; quiet in CI or without a TTY unless -v."""
    # is_ci is defined after hubkit.cli discovers this module: look it up at call time.
    from hubkit.cli import is_ci
    if verbose == 0 and (is_ci() or not sys.stderr.isatty()):
        return None
    from rich.console import Console
    console = Console(stderr=True, highlight=False)
    return lambda line: console.print(line.rstrip("\n"), markup=False)


lab_option = click.option("--lab", is_flag=True,
                          help="Against the lab's Keycloak (the identity part for real; started on first use).")


def _changes_text(changes: dict) -> str:
    real = {k: v for k, v in changes.items() if k != "same"}
    return ", ".join(f"{k}={v}" for k, v in real.items()) or "no changes"


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True, indent=2))
        return
    if summary.get("cancelled"):
        click.echo(f"{summary['action']} of hub {summary['hub']} cancelled")
        return
    if "realm" in summary:
        r = summary["realm"]
        click.echo(f"realm (stack {r['stack']}): {_changes_text(r['changes'])}")
        for step in r.get("steps", []):
            click.echo(f"  {step['op']:8} {step['type']} {step['name']}")
    click.echo(f"{summary['action']} of hub {summary['hub']} (stack {summary['stack']}): "
               f"{_changes_text(summary['changes'])}")
    for step in summary.get("steps", []):
        diff = f"  [{', '.join(step['diffs'])}]" if step.get("diffs") else ""
        click.echo(f"  {step['op']:8} {step['type']} {step['name']}{diff}")
    for key, value in summary["outputs"].items():
        click.echo(f"  {key}: {value}")
    if "real" in summary:
        click.echo(f"ran for real: {', '.join(summary['real']) or 'nothing'}"
                   + (f"; planned only (no server here): {', '.join(summary['planned_only'])}"
                      if summary.get("planned_only") else ""))


@click.command("provision")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@lab_option
@click.option("--clear-pending", is_flag=True,
              help="First resolve operations an interrupted run left pending (removes half-made objects).")
@vault_option
@wait_option
@json_option
@pass_ctx
def provision_cmd(ctx, hub_id, lab, clear_pending, vault_password_file, wait, as_json):
    """Create or update the hub's cloud services (pulumi up through the Automation API).

    Example: PULUMI_CONFIG_PASSPHRASE=... hubkit provision zeitz --lab --json
    """
    from hubkit.cloud import run
    summary = run.real_run(ctx.fleet(), hub_id, "up", vault_password_file, wait=wait,
                           on_output=_progress(ctx.verbose), lab=lab, clear_pending=clear_pending)
    _print_summary(summary, as_json)


@click.command("destroy")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@lab_option
@wait_option
@json_option
@pass_ctx
def destroy_cmd(ctx, hub_id, yes, lab, wait, as_json):
    """Delete every cloud resource of the hub's stack.

    Example: hubkit destroy zeitz --yes
    """
    from hubkit.cloud import run

    def confirm() -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("destroy needs confirmation", "pass --yes when not running interactively")
        return click.confirm(f"Delete all cloud resources of hub {hub_id}?", default=False, err=True)

    summary = run.real_run(ctx.fleet(), hub_id, "destroy", wait=wait,
                           on_output=_progress(ctx.verbose), confirm=confirm, lab=lab)
    _print_summary(summary, as_json)


def register(cli: click.Group) -> None:
    for cmd in (provision_cmd, destroy_cmd):
        cli.add_command(cmd)
