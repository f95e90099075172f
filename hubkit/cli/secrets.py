"""`hubkit secrets init`: generate a hub's WireGuard keys and staff passwords into its vault."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubkit.cli import complete_hub_ids, json_option, pass_ctx


@click.group("secrets")
def secrets_group():
    """Hub secrets in ansible-vault files (secrets/<id>.vault.yml).

    Example: HUBKIT_VAULT_PASSWORD=... hubkit secrets init zeitz
    """


@secrets_group.command("init")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--rotate", "rotate", multiple=True, metavar="KEY",
              help="Replace one secret: 'wg' or 'staff:<username>' (repeatable).")
@click.option("--vault-password-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File holding the vault password (default: $HUBKIT_VAULT_PASSWORD).")
@json_option
@pass_ctx
def init_cmd(ctx, hub_id, rotate, vault_password_file, as_json):
    """Create the hub's WireGuard keypair and initial staff passwords; keep existing ones.

    Example: hubkit secrets init zeitz --rotate staff:zz-lead --vault-password-file ~/.hubkit-vault
    """
    from hubkit import secrets
    from hubkit.errors import FindingsError
    from hubkit.rules import validate

    password = secrets.vault_password(vault_password_file)
    fleet = ctx.fleet()
    rec = fleet.hub(hub_id)
    if rec.model is None:
        raise FindingsError(validate(fleet, [hub_id]))
    res = secrets.init_secrets(fleet.root, hub_id, [s.username for s in rec.model.staff],
                               password, tuple(rotate))
    if as_json:
        click.echo(json.dumps(res.as_dict(), indent=2, sort_keys=True))
        return
    for what, names in (("created", res.created), ("rotated", res.rotated), ("kept", res.kept)):
        if names:
            click.echo(f"{what}: {', '.join(names)}")
    click.echo(f"wrote {secrets.SECRETS_DIR}/{hub_id}.vault.yml and {secrets.SECRETS_DIR}/{hub_id}.pub")


def register(cli):
    cli.add_command(secrets_group)
