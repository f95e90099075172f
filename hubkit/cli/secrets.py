"""`hubkit secrets init`: generate a hub's WireGuard keys and staff passwords into its vault."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubkit.cli import access_kwargs, access_options, complete_hub_ids, json_option, pass_ctx


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


@secrets_group.command("rotate")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--wireguard", is_flag=True, help="New hub key pair; router and concentrator updated now.")
@click.option("--staff", "staff_user", metavar="USER", default=None,
              help="New initial password for USER (set by the next configure, change forced at next login).")
@click.option("--lab", is_flag=True, help="Apply to the hub's lab (WireGuard).")
@click.option("--vault-password-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File holding the vault password (default: $HUBKIT_VAULT_PASSWORD).")
@access_options
@json_option
@pass_ctx
def rotate_cmd(ctx, hub_id, wireguard, staff_user, lab, vault_password_file, user, private_key, jump, as_json):
    """Rotate the hub's WireGuard keys (applied at once) or a staff member's initial password.

    An interrupted WireGuard rotation is finished by running the same command again.

    Example: sudo -E hubkit secrets rotate zeitz --wireguard --lab
    """
    from hubkit import rotate, secrets
    from hubkit.errors import UsageError
    if wireguard == (staff_user is not None):
        raise UsageError("give --wireguard or --staff USER", "one rotation per command")
    password = secrets.vault_password(vault_password_file)
    if staff_user is not None:
        res = rotate.rotate_staff(ctx.fleet_root, hub_id, staff_user, password)
    else:
        say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
        res = rotate.rotate_wireguard(ctx.fleet_root, hub_id, password, lab=lab, say=say,
                                      **access_kwargs(lab, user=user, private_key=private_key, jump=jump))
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True))
    elif staff_user is not None:
        click.echo(f"rotated: {', '.join(res['rotated'])}; {res['next']}")
    else:
        click.echo(f"rotated the WireGuard key of {hub_id}: handshake with the new key "
                   f"{res['handshake_age_s']} s ago; the former key is no longer a peer of the concentrator")


def register(cli):
    cli.add_command(secrets_group)
