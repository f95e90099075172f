"""`hubkit configure`: converge a hub (or its lab) with the Ansible playbooks."""

from __future__ import annotations

import json
import sys

import click

from hubkit.cli import (access_kwargs, access_options, complete_hub_ids, exit_with, installer_credential,
                        installer_options, json_option, pass_ctx)
from hubkit.errors import EXIT_FINDINGS


def is_ci() -> bool:
    # hubkit.cli.is_ci is defined after the CLI modules are discovered: import it late.
    from hubkit.cli import is_ci as _is_ci
    return _is_ci()


class _Progress:
    """Per-host/task progress on stderr (rich), silent under CI or without a TTY."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.live = None
        self.tasks: dict[str, str] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.current = ""

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=8,
                             transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "task_start":
            self.current = ev.get("task", "")
        elif kind == "result":
            host = ev["host"]
            self.tasks[host] = ev.get("task", "")
            c = self.counts.setdefault(host, {"ok": 0, "changed": 0, "failed": 0})
            status = ev.get("status")
            if status in ("failed", "unreachable"):
                c["failed"] += 1
            elif status == "ok":
                c["ok"] += 1
                c["changed"] += 1 if ev.get("changed") else 0
        if self.live is not None:
            self.live.update(self._render())

    def _render(self):
        from rich.table import Table
        t = Table(title=f"configure: {self.current}", title_justify="left", box=None)
        for col in ("host", "ok", "changed", "failed", "last task"):
            t.add_column(col)
        for host in sorted(self.tasks):
            c = self.counts.get(host, {})
            t.add_row(host, str(c.get("ok", 0)), str(c.get("changed", 0)), str(c.get("failed", 0)),
                      self.tasks[host][:60])
        return t


def slowest_lines(rows: list[dict], title: str = "slowest tasks") -> list[str]:
    """The slowest-tasks table as text lines (configure's recap and open's summary)."""
    if not rows:
        return []
    out = [f"{title} (host-seconds summed over the hosts that ran each task; slowest host):"]
    for r in rows:
        what = f"{r['role']}: " if r.get("role") else ""
        kind = " (handler)" if r.get("handler") else ""
        out.append(f"  {r['total_s']:7.2f}s  {r['hosts']:>2} host(s)  max {r['max_s']:6.2f}s {r['max_host']:<14} "
                   f"{what}{r['task']}{kind}")
    return out


def _recap(result) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(stderr=False, highlight=False, no_color=is_ci() or not sys.stdout.isatty())
    t = Table(title=f"configure {result.hub_id}{' (check)' if result.check else ''}: recap",
              title_justify="left")
    for col in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
        t.add_column(col, justify="left" if col == "host" else "right")
    for host, r in sorted(result.hosts.items()):
        t.add_row(host, *(str(v) for v in r.as_dict().values()))
    console.print(t)
    for f in result.failures:
        console.print(f"{f['status']}: {f['host']}: {f['task']}: {f['msg']}")
    if result.failed_hosts:
        console.print(f"FAILED hosts: {', '.join(result.failed_hosts)} "
                      f"(re-run with --limit {','.join(result.failed_hosts)}; "
                      f"full output in {result.log_path})")
    else:
        changed = sum(r.changed for r in result.hosts.values())
        console.print(f"ok: {len(result.hosts)} host(s), {changed} change(s) in {result.duration_s:.1f} s")
    for line in slowest_lines(result.slowest_tasks()):
        console.print(line, markup=False)


@click.command("configure")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--lab", is_flag=True, help="Converge the hub's running lab (hubkit lab up ID).")
@click.option("--check", is_flag=True, help="Dry run: report what would change, change nothing.")
@click.option("--diff", is_flag=True, help="Show file differences (secrets stay hidden).")
@click.option("--limit", default="", metavar="HOST,...", help="Only these hosts.")
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="Wait this long for another run on this hub to finish.")
@access_options
@installer_options
@json_option
@pass_ctx
def configure_cmd(ctx, hub_id, lab, check, diff, limit, wait, user, private_key, jump, installer_key,
                  ask_password, installer_user, as_json):
    """Converge a hub with the Ansible playbooks (site.yml) from its rendered build.

    Needs `hubkit render ID`, secrets/ID.vault.yml and HUBKIT_VAULT_PASSWORD.
    Hosts never bootstrapped are bootstrapped first when an installer
    credential is given (a factory lab gives its own), else exit 3.
    Ansible's verbosity follows hubkit's -v (up to -vvvv); its full output
    goes to .hubkit/runs/ID/configure.log.

    Example: hubkit configure zeitz --lab --json
    """
    from hubkit.configure import configure

    from hubkit.lab.standin import before_configure

    hub = ctx.fleet().hub(hub_id).model
    # A cisco-ios switch: its rendered config is checked first (a failure stops here),
    # and in the lab a Linux bridge stands in for it (docs/lab.md).
    for note in before_configure(ctx.fleet_root / "build" / hub_id, hub, lab) if hub else ():
        click.echo(f"note: {note}", err=True)
    hosts = tuple(h.strip() for h in limit.split(",") if h.strip())
    show = not as_json and not is_ci() and sys.stderr.isatty()
    with _Progress(show) as progress:
        result = configure(ctx.fleet_root, hub_id, lab=lab, check=check, diff=diff, limit=hosts,
                           verbosity=ctx.verbose, wait=wait, listener=progress,
                           credential=installer_credential(installer_key, ask_password, installer_user),
                           **access_kwargs(lab, user=user, private_key=private_key, jump=jump))
    if result.bootstrapped:
        click.echo(f"bootstrapped first: {', '.join(result.bootstrapped)}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        _recap(result)
    if not result.succeeded:
        if as_json:
            for f in result.failures:
                click.echo(f"{f['status']}: {f['host']}: {f['task']}: {f['msg']}", err=True)
            click.echo(f"error: failed hosts: {', '.join(result.failed_hosts) or '(none; ansible exit '}"
                       f"{'' if result.failed_hosts else str(result.rc) + ')'}", err=True)
        exit_with(EXIT_FINDINGS)


def register(cli):
    cli.add_command(configure_cmd)
