"""Lab commands: up, down, status, exec, ssh, list, image build|status|prune."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from hubkit.cli import complete_hub_ids, json_option, pass_ctx


def is_ci() -> bool:
    # hubkit.cli.is_ci is defined after module discovery runs; import it late.
    from hubkit.cli import is_ci as _is_ci
    return _is_ci()


def _progress(total_hosts: int):
    """A rich progress display on stderr (quiet in CI / without a TTY); returns (callback, stop)."""
    if is_ci() or not sys.stderr.isatty():
        return (lambda *a: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    prog = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = prog.add_task("lab: wiring", total=total_hosts)
    state = {"booting": [], "ready": []}

    def on_event(kind, detail=""):
        if kind == "booting":
            state["booting"].append(detail)
            prog.update(task, description=f"lab: booting {detail}")
        elif kind == "ssh-banner":
            prog.update(task, advance=1, description=f"lab: sshd up on {detail}")
        elif kind == "ready":
            prog.update(task, description=f"lab: {detail} answers SSH")
        else:
            prog.update(task, description=f"lab: {kind} {detail}")

    prog.start()
    return on_event, prog.stop


@click.group("lab")
def lab_group():
    """Run a hub as real Linux hosts on this machine (needs root).

    Example: sudo hubkit lab up zeitz
    """


@lab_group.command("up")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.option("--rebuild", is_flag=True, help="Tear a running lab down and create it again.")
@click.option("--factory", is_flag=True,
              help="Boot the hub's hosts as delivered: root with an installer key, no admins "
                   "(then `hubkit bootstrap ID --lab`).")
@click.option("--keycloak", "with_keycloak", is_flag=True,
              help="Also start the lab's Keycloak and wait for it (else it starts on first use).")
@pass_ctx
def up_cmd(ctx, hub_id, rebuild, factory, with_keycloak):
    """Bring the lab of hub ID up; a running lab is left alone.

    Example: sudo hubkit lab up zeitz --factory
    """
    from hubkit import lab
    from hubkit.lab import prereq
    from hubkit.errors import FindingsError
    from hubkit.rules import validate
    prereq.require_root()
    fleet = ctx.fleet()
    record = fleet.hub(hub_id)
    errors = [f for f in validate(fleet, [hub_id]) if f.severity == "error"]
    if errors:
        raise FindingsError(errors)  # an invalid hub gets no lab (exit 1)
    n = len(record.model.workstations) + 3 if record.model else 0
    on_event, stop = _progress(n)
    try:
        res = lab.up(record, rebuild=rebuild, on_event=on_event, factory=factory)
    finally:
        stop()
    st = lab.status(hub_id)
    if res["noop"]:
        click.echo(f"lab {hub_id} already up ({len(st['hosts'])} hosts); --rebuild recreates it")
    else:
        click.echo(f"lab {hub_id} up in {res['seconds']} s: {len(st['hosts'])} hosts, mode {st['mode']}"
                   + (", factory state (run `hubkit bootstrap` next)" if factory else ""))
    if res.get("sysctl"):
        click.echo(f"note: machine-wide setting changed: {res['sysctl']}", err=True)
    if res.get("standin"):
        click.echo(f"note: lab stand-in: {res['standin']}", err=True)
    if with_keycloak:
        from hubkit.lab import keycloak
        keycloak.start(hub_id)
        waited = keycloak.wait_ready(hub_id)
        click.echo(f"keycloak: {keycloak.service(hub_id).url} answered after {waited:.1f} s "
                   f"(admin password: {keycloak.service(hub_id).admin_password_file})")
    click.echo(f"ssh_config: {st['ssh_config']}\ninventory: {st['inventory']}")


@lab_group.command("down")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
def down_cmd(hub_id):
    """Stop the lab of hub ID and remove everything its ledger lists.

    Example: sudo hubkit lab down zeitz
    """
    from hubkit import lab
    res = lab.down(hub_id)
    click.echo(f"lab {hub_id} down in {res['seconds']} s: removed {res['netns']} netns, "
               f"{res['links']} links, {res['mounts']} mounts, {res['cgroups']} cgroups")
    restored = res.get("inotify_restored")
    if restored is not None:
        old, done = restored
        click.echo(f"last lab gone: fs.inotify.max_user_instances -> {old}" if done else
                   f"last lab gone: fs.inotify.max_user_instances was changed by someone else since "
                   f"'lab up' raised it; left as it is (it was {old} before)")


@lab_group.command("status")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@json_option
def status_cmd(hub_id, as_json):
    """Show the hosts of a lab, their addresses and state, and the artifact paths.

    Example: sudo hubkit lab status zeitz --json
    """
    from hubkit import lab
    from hubkit.lab import prereq
    prereq.require_root()
    st = lab.status(hub_id)
    if as_json:
        click.echo(json.dumps(st, indent=2, sort_keys=True))
        return
    click.echo(f"lab {st['id']}: {st['phase']}, mode {st['mode']}, image {st['image']}")
    for h in st["hosts"]:
        click.echo(f"  {h['name']:<18} {h['role']:<12} {h['state']:<8} {h['mgmt_address'] or '-':<15} "
                   f"{h['netns']:<22} {' '.join(h['addresses'])}")
    click.echo(f"ssh_config: {st['ssh_config']}\ninventory: {st['inventory']}\n"
               f"mgmt netns: {st['netns_mgmt']} (ip netns exec {st['netns_mgmt']} ...)")


@lab_group.command("list")
@json_option
def list_cmd(as_json):
    """List the labs on this machine.

    Example: hubkit lab list
    """
    from hubkit import lab
    labs = lab.list_labs()
    if as_json:
        click.echo(json.dumps(labs, indent=2, sort_keys=True))
        return
    for l in labs:
        click.echo(f"{l['id']:<16} {l['phase']:<9} {l['mode'] or '-':<7} {l['hosts']} hosts")
    if not labs:
        click.echo("no labs", err=True)


@lab_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.argument("host")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(hub_id, host, cmd):
    """Run CMD on HOST of the lab (over SSH from the mgmt netns); exits with its exit code.

    Example: sudo hubkit lab exec zeitz zeitz-rt01 -- ip -br addr
    """
    from hubkit import lab
    from hubkit.lab import prereq
    prereq.require_root()
    argv = lab.exec_argv(hub_id, host, list(cmd))
    raise SystemExit(subprocess.run(argv).returncode)


@lab_group.command("ssh")
@click.argument("hub_id", metavar="ID", shell_complete=complete_hub_ids)
@click.argument("host")
def ssh_cmd(hub_id, host):
    """Open an interactive shell on HOST (the mgmt host gives a shell in its netns).

    Example: sudo hubkit lab ssh zeitz zeitz-rt01
    """
    from hubkit import lab
    from hubkit.lab import prereq
    prereq.require_root()
    argv = lab.exec_argv(hub_id, host, [], tty=True)
    os.execvp(argv[0], argv)


@lab_group.group("image")
def image_group():
    """The cached base image (debootstrapped Debian bookworm).

    Example: sudo hubkit lab image build
    """


@image_group.command("build")
def image_build_cmd():
    """Install host prerequisites (apt) and build the base image unless cached.

    Example: sudo hubkit lab image build
    """
    from hubkit.lab import image
    say = (lambda m: None) if is_ci() else (lambda m: click.echo(f"image: {m}", err=True))
    img, built = image.build(progress=say)
    m = img.meta
    verb = "built" if built else "cached"
    click.echo(f"image {img.hash} {verb}: {img.path} ({m['size_bytes'] / 1e6:.0f} MB"
               f"{', ' + str(m['build_seconds']) + ' s' if built else ''})")


@image_group.command("status")
@json_option
def image_status_cmd(as_json):
    """Show cached images, which one is current and which a lab uses.

    Example: hubkit lab image status --json
    """
    from hubkit.lab import image
    st = image.status()
    if as_json:
        click.echo(json.dumps(st, indent=2, sort_keys=True))
        return
    click.echo(f"cache {st['cache']}: current {st['current_hash']} "
               f"({'built' if st['current_built'] else 'not built'})")
    for i in st["images"]:
        flags = ",".join(f for f in ("current", "in_use") if i[f]) or "-"
        click.echo(f"  {i['hash']} {(i['size_bytes'] or 0) / 1e6:.0f} MB {flags}")


@image_group.command("prune")
@click.option("--all", "all_images", is_flag=True, help="Also remove the current image if no lab uses it.")
def image_prune_cmd(all_images):
    """Remove cached images that no lab uses (keeps the current one unless --all).

    Example: sudo hubkit lab image prune
    """
    from hubkit.lab import image
    removed = image.prune(all_images)
    click.echo(f"removed {len(removed)} image(s){': ' + ' '.join(removed) if removed else ''}")


def register(cli):
    cli.add_command(lab_group)
