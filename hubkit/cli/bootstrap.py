"""`hubkit bootstrap`: take a hub's delivered hosts over (root + installer credential -> admins)."""

from __future__ import annotations

import json

import click

from hubkit.cli import (access_kwargs, access_options, complete_hub_ids, exit_with, installer_credential,
                        installer_options, json_option, pass_ctx)
from hubkit.errors import EXIT_FINDINGS


@click.command("bootstrap")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--lab", is_flag=True, help="The hub's lab (a factory lab supplies its installer key).")
@click.option("--limit", default="", metavar="HOST,...", help="Only these hosts.")
@installer_options
@access_options
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="Wait this long for another run on this hub to finish.")
@json_option
@pass_ctx
def bootstrap_cmd(ctx, hub_id, lab, limit, installer_key, ask_password, installer_user, user, private_key,
                  jump, wait, as_json):
    """Take delivered hosts (fresh Debian, root login) over: the hub's admins with their keys
    and sudo, host keys recorded in known_hosts/ID, root and password logins off.

    Hosts already bootstrapped (recorded key, admin login works) are skipped; a host
    whose key differs from the record is refused.  The installer credential is never stored.

    Example: hubkit bootstrap zeitz --installer-key ~/keys/zeitz-installer
    """
    from hubkit.bootstrap import bootstrap
    cred = installer_credential(installer_key, ask_password, installer_user)
    hosts = tuple(h.strip() for h in limit.split(",") if h.strip())
    res = bootstrap(ctx.fleet_root, hub_id, lab=lab, credential=cred, limit=hosts, verbosity=ctx.verbose,
                    wait=wait, **access_kwargs(lab, user=user, private_key=private_key, jump=jump))
    if as_json:
        click.echo(json.dumps(res.as_dict(), indent=2, sort_keys=True))
    else:
        for h in res.hosts:
            click.echo(f"{h.name:24} {h.status:13} {h.message}".rstrip())
        click.echo(f"host keys: {res.known_hosts}")
    if not res.ok:
        click.echo(f"error: bootstrap failed on {', '.join(h.name for h in res.hosts if h.status not in ('already', 'bootstrapped', 'vendor'))}"
                   + (f" (log: {res.log_path})" if res.log_path else ""), err=True)
        exit_with(EXIT_FINDINGS)


def register(cli):
    cli.add_command(bootstrap_cmd)
