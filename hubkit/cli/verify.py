"""`hubkit verify`: the role suites and hub probes, as a table, JSON or JUnit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hubkit.cli import access_kwargs, access_options, complete_hub_ids, exit_with, json_option, pass_ctx
from hubkit.errors import EXIT_FINDINGS


def _progress():
    from hubkit.cli import is_ci
    if is_ci() or not sys.stderr.isatty():
        return (lambda *a: None), (lambda: None)
    from rich.console import Console
    console = Console(stderr=True)
    status = console.status("verify: connecting")
    done: list[str] = []

    def on_event(kind, what):
        if kind == "done":
            done.append(what)
            status.update(f"verify: {len(done)} group(s) done (last: {what})")
        else:
            status.update(f"verify: {what}")

    status.start()
    return on_event, status.stop


@click.command("verify")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--lab", is_flag=True, help="Verify the hub's lab (run from its mgmt netns; needs root).")
@click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JUnit XML to FILE.")
@click.option("-k", "keyword", metavar="EXPR", help="Only checks matching this pytest -k expression.")
@access_options
@json_option
@pass_ctx
def verify_cmd(ctx, hub_id, lab, junit, keyword, user, private_key, jump, as_json):
    """Prove the hub works and is secure: testinfra suites per role plus real-traffic probes.

    Exit 1 when any check fails, 3 when there is no lab (--lab) or no rendered inventory.
    The result is kept in .hubkit/runs/ID/verify.json for the audit.

    Example: sudo hubkit verify zeitz --lab --junit verify.xml
    """
    from hubkit import verify
    from hubkit.verify import report as verify_report

    target = verify.resolve(ctx.fleet_root, hub_id, lab,
                            **access_kwargs(lab, user=user, private_key=private_key, jump=jump))
    on_event, stop = _progress()
    try:
        result = verify.run(target, keyword=keyword, on_event=on_event)
    finally:
        stop()
    if keyword and not result.checks:
        from hubkit.errors import UsageError
        raise UsageError(f"no check matches -k {keyword!r}",
                         "see the check ids in `hubkit verify ID --json`, e.g. -k sshd or -k guest")
    if not keyword:
        # A filtered run is not the hub's verification: keep the audit's last full result.
        verify.save_last(ctx.fleet_root, result)
    if junit:
        from hubkit.atomic import write_atomic
        write_atomic(junit, verify_report.to_junit(result))
    if as_json:
        click.echo(verify_report.dumps(result), nl=False)
    else:
        click.echo(verify_report.to_text(result), nl=False)
    if not result.ok:
        exit_with(EXIT_FINDINGS)


def register(cli):
    cli.add_command(verify_cmd)
