"""Fleet commands: init, new, validate, explain, list."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubkit.cli import changed_since_option, complete_hub_ids, exit_with, json_option, pass_ctx, select_hubs
from hubkit.errors import EXIT_FINDINGS


@click.command("init")
@click.argument("path", type=click.Path(path_type=Path))
def init_cmd(path: Path):
    """Write the example fleet (Zeitz and two more hubs) into PATH.

    Example: hubkit init ./fleet
    """
    from hubkit.scaffold import init_fleet
    files = init_fleet(path)
    click.echo(f"wrote example fleet to {path} ({len(files)} files)")


@click.command("new")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--name", required=True, help="Display name, e.g. 'DigitalHub Zeitz'.")
@click.option("--municipality", required=True)
@click.option("--workplaces", required=True, type=click.IntRange(min=1))
@click.option("--region", default=None, help="Region layer in regions/<R>.yaml.")
@pass_ctx
def new_cmd(ctx, hub_id, name, municipality, workplaces, region):
    """Scaffold hubs/ID.yaml with addresses allocated from the fleet pools.

    Example: hubkit new querfurt --name "DigitalHub Querfurt" --municipality Querfurt --workplaces 5
    """
    from hubkit.scaffold import new_hub
    target = new_hub(ctx.fleet(), hub_id, name, municipality, workplaces, region)
    click.echo(f"wrote {target}")
    # Prefixes released by `hubkit decommission` less than 90 days ago: warn, do not refuse.
    from hubkit.ipam import release_warnings
    model = ctx.fleet().hub(hub_id).model
    if model is not None:
        for w in release_warnings(ctx.fleet_root, [model.network.site_prefix, model.vpn.tunnel_address.ip]):
            click.echo(f"warning: {w}", err=True)


@click.command("validate")
@click.argument("ids", nargs=-1, metavar="[ID...]", shell_complete=complete_hub_ids)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "sarif", "codequality"]),
              default="text", show_default=True,
              help="codequality: GitLab's Code Quality report; sarif: code scanning annotations.")
@changed_since_option
@pass_ctx
def validate_cmd(ctx, ids, fmt, changed_since):
    """Validate hubs (all of them without IDs): schema plus fleet-wide rules.

    With --changed-since, only hubs whose inputs changed are validated; the
    fleet-wide rules still compare them with every other hub.

    Example: hubkit validate zeitz --format sarif > hubkit.sarif
    """
    from hubkit import findings as fmts
    from hubkit.rules import RULES, validate

    fleet = ctx.fleet()
    selection = select_hubs(fleet, ids, changed_since)
    found = validate(fleet, selection, exactly=selection is not None)
    hubs = [r.id for r in fleet.select(selection)] if selection else [] if selection is not None \
        else sorted(fleet.hubs)
    if fmt == "text":
        click.echo(fmts.to_text(found), nl=False)
        if not found:
            since = f" (changed since {changed_since})" if changed_since is not None else ""
            click.echo(f"ok: {len(hubs)} hub(s) valid{since}", err=True)
    elif fmt == "json":
        click.echo(fmts.to_json(found, hubs), nl=False)
    elif fmt == "junit":
        click.echo(fmts.to_junit(found, hubs), nl=False)
    elif fmt == "codequality":
        click.echo(fmts.to_codequality(found), nl=False)
    else:
        from hubkit.fleet.codes import LOAD_CODES
        table = [(c, t, h) for c, (t, h) in sorted(LOAD_CODES.items())]
        table += [(r.code, r.title, r.hint) for r in RULES]
        click.echo(fmts.to_sarif(found, table), nl=False)
    if found:
        exit_with(EXIT_FINDINGS)


@click.command("explain")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.argument("key", metavar="KEY.PATH")
@json_option
@pass_ctx
def explain_cmd(ctx, hub_id, key, as_json):
    """Show a merged value and every file:line that set or overrode it.

    Example: hubkit explain zeitz network.segments.guest.vlan
    """
    from hubkit.fleet.explain import explain
    ex = explain(ctx.fleet().hub(hub_id), key)
    if as_json:
        click.echo(json.dumps({"hub": ex.hub, "key": ex.key, "value": ex.value,
                               "chain": [str(o) for o in ex.chain]},
                              indent=2, sort_keys=True, default=str))
        return
    click.echo(f"{ex.hub} {ex.key} = {json.dumps(ex.value, sort_keys=True, default=str)}")
    for i, origin in enumerate(ex.chain):
        verb = "set by" if i == 0 else "overridden by"
        mark = "  (effective)" if i == len(ex.chain) - 1 else ""
        click.echo(f"  {verb:14} {origin}{mark}")


@click.command("list")
@json_option
@click.option("-q", "--quiet", is_flag=True, help="Print only hub ids, one per line (for shell loops).")
@changed_since_option
@pass_ctx
def list_cmd(ctx, as_json, quiet, changed_since):
    """List hubs with id, name, municipality, prefix and workplaces.

    Example: for h in $(hubkit list -q --changed-since origin/main); do hubkit plan "$h" --offline; done
    """
    fleet = ctx.fleet()
    selection = select_hubs(fleet, (), changed_since)
    recs = fleet.select(selection) if selection else [] if selection is not None else fleet.select([])
    if quiet:
        for rec in recs:
            click.echo(rec.id)
        return
    from hubkit.rules import validate
    # "valid" means what `hubkit validate ID` would say: schema and rules.
    invalid = {f.hub for f in validate(fleet)}
    rows = []
    for rec in recs:
        m = rec.model
        rows.append({
            "id": rec.id,
            "name": m.name if m else None,
            "municipality": m.municipality if m else None,
            "site_prefix": str(m.network.site_prefix) if m else None,
            "workplaces": m.workplaces if m else None,
            "valid": m is not None and rec.id not in invalid,
        })
    if as_json:
        click.echo(json.dumps({"hubs": rows}, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("id", "name", "municipality", "prefix", "workplaces", box=None)
    for r in rows:
        table.add_row(r["id"], r["name"] or "(invalid)", r["municipality"] or "",
                      r["site_prefix"] or "", str(r["workplaces"] or ""))
    Console(width=120).print(table)


def register(cli):
    for cmd in (init_cmd, new_cmd, validate_cmd, explain_cmd, list_cmd):
        cli.add_command(cmd)
