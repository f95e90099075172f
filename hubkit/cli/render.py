"""`hubkit render` and `hubkit diff`: build trees from validated hubs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubkit.cli import complete_hub_ids, exit_with, json_option, pass_ctx
from hubkit.errors import EXIT_FINDINGS

_out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                           help="Write DIR/<id>/ instead of <fleet>/build/<id>/.")


def _progress(total: int):
    """A rich progress bar on stderr, or None when quiet (CI or not a TTY)."""
    import sys

    from hubkit.cli import is_ci  # defined after command discovery in hubkit.cli
    if is_ci() or not sys.stderr.isatty() or total < 2:
        return None, None
    from rich.console import Console
    from rich.progress import Progress
    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("render", total=total)
    return bar, (lambda hub_id: bar.update(task, advance=1, description=f"render {hub_id}"))


@click.command("render")
@click.argument("ids", nargs=-1, metavar="[ID...]", shell_complete=complete_hub_ids)
@click.option("--all", "all_hubs", is_flag=True, help="Render every hub of the fleet.")
@_out_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and list files that differ from a fresh render.")
@click.option("--force", is_flag=True,
              help="Render every selected hub, also those whose tree is an intact render of unchanged inputs.")
@json_option
@pass_ctx
def render_cmd(ctx, ids, all_hubs, out, check, force, as_json):
    """Render hubs into build/<id>/ (inventory, configs, switch, Pulumi, handbook, manifest).

    A hub whose inputs (its merged description, public key, the templates and
    hubkit itself) are unchanged since the render recorded in its manifest,
    and whose files still match that manifest, is skipped.

    Example: hubkit render zeitz && hubkit render --all --check
    """
    from hubkit import render
    fleet = ctx.fleet()
    if check:
        results = render.check_fleet(fleet, ids, all_hubs, out, force=force)
    else:
        n = len(fleet.hubs) if all_hubs else len(ids)
        bar, progress = _progress(n)
        if bar:
            with bar:
                results = render.render_fleet(fleet, ids, all_hubs, out, progress=progress, force=force)
        else:
            results = render.render_fleet(fleet, ids, all_hubs, out, force=force)
    differs = [r for r in results if r.differs]
    if as_json:
        click.echo(json.dumps({"hubs": [r.as_dict() for r in results], "check": check},
                              indent=2, sort_keys=True))
    else:
        for r in results:
            if r.skipped:
                state = "up to date (inputs unchanged, files match the manifest)"
            elif check:
                state = "differs" if r.differs else "up to date"
            else:
                state = f"written ({len(r.changed) + len(r.new) + len(r.missing)} changed)" \
                    if r.written else "unchanged"
            click.echo(f"{r.hub}: {r.files} files, {state}  {r.path}")
            if check:
                for label, paths in (("changed", r.changed), ("new", r.new), ("missing", r.missing)):
                    for p in paths:
                        click.echo(f"  {label:8} {p}")
    if check and differs:
        click.echo(f"{len(differs)} hub(s) differ from a fresh render; run `hubkit render` "
                   "and commit the result", err=True)
        exit_with(EXIT_FINDINGS)


@click.command("diff")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@_out_option
@json_option
@pass_ctx
def diff_cmd(ctx, hub_id, out, as_json):
    """Unified diff of a fresh render of ID against the tree on disk (exit 1 when they differ).

    Example: hubkit diff zeitz | less
    """
    from hubkit import render
    res, text = render.diff_hub(ctx.fleet(), hub_id, out)
    if as_json:
        click.echo(json.dumps({**res.as_dict(), "diff": text}, indent=2, sort_keys=True))
    else:
        for label, paths in (("new", res.new), ("deleted", res.missing)):
            for p in paths:
                click.echo(f"{label} file: {p}")
        click.echo(text, nl=False)
    if res.differs:
        exit_with(EXIT_FINDINGS)


def register(cli):
    cli.add_command(render_cmd)
    cli.add_command(diff_cmd)
