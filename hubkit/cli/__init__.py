"""The `hubkit` command line: parse, call the core, map errors to exit codes.

Exit codes (the only place they are decided):
  0 ok · 1 findings or a failed operation · 2 usage · 3 missing prerequisite.

Command groups live in sibling modules (``hubkit/cli/<area>.py``); each one
defines ``register(cli)``.  They are discovered here so that areas can be
added without touching this file.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from hubkit import __version__
from hubkit.errors import EXIT_USAGE, HubkitError, UsageError


@dataclass
class Context:
    fleet_root: Path
    verbose: int

    def fleet(self):
        from hubkit.fleet.repo import load_fleet
        return load_fleet(self.fleet_root)


class HubkitGroup(click.Group):
    """Maps HubkitError subclasses to their exit codes, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HubkitError as e:
            click.echo(e.format(), err=True)
            raise click.exceptions.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130) from None


pass_ctx = click.make_pass_decorator(Context)


def exit_with(code: int) -> None:
    """End a command with ``code`` (used for 'findings' results)."""
    raise click.exceptions.Exit(code)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


def complete_hub_ids(ctx, param, incomplete: str):
    """Shell completion of hub IDs: the hubs/*.yaml of the fleet given by --fleet,
    $HUBKIT_FLEET or the current directory (file names only: nothing is parsed)."""
    root = ctx.find_root().params.get("fleet_root") or Path(os.environ.get("HUBKIT_FLEET", "."))
    try:
        names = sorted(n[:-5] for n in os.listdir(Path(root) / "hubs")
                       if n.endswith(".yaml") and not n.startswith("."))
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def access_options(f):
    """--user/--private-key/--jump: how the operator reaches a real site (not the lab)."""
    f = click.option("--jump", envvar="HUBKIT_SSH_JUMP", default=None, metavar="[USER@]HOST[:PORT]",
                     help="Jump host, as `ssh -J` takes it (env HUBKIT_SSH_JUMP).")(f)
    f = click.option("--private-key", envvar="HUBKIT_SSH_KEY", default=None,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Your SSH private key (env HUBKIT_SSH_KEY; default: ssh-agent / ~/.ssh).")(f)
    f = click.option("--user", envvar="HUBKIT_SSH_USER", default=None, metavar="ADMIN",
                     help="Admin to connect as (env HUBKIT_SSH_USER; default: the hub's first admin).")(f)
    return f


def access_kwargs(lab: bool, **given) -> dict:
    """The operator's --user/--private-key/--jump; in the lab, values from the environment
    are ignored (the lab has its own key) while explicit options are refused by the core."""
    ctx = click.get_current_context()
    from click.core import ParameterSource
    return {k: (None if lab and ctx.get_parameter_source(k) == ParameterSource.ENVIRONMENT else v)
            for k, v in given.items()}


def installer_options(f):
    """How root logs in on a delivered host (bootstrap): a key file or a password prompt."""
    f = click.option("--installer-user", default="root", show_default=True,
                     help="The account the delivered host lets in.")(f)
    f = click.option("--installer-password", "ask_password", is_flag=True,
                     help="Ask for the installer password (or take $HUBKIT_INSTALLER_PASSWORD); "
                          "never stored or logged.")(f)
    f = click.option("--installer-key", envvar="HUBKIT_INSTALLER_KEY", default=None,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Private key the delivered hosts accept for root (env HUBKIT_INSTALLER_KEY).")(f)
    return f


def installer_credential(installer_key, ask_password: bool, installer_user: str):
    from hubkit.bootstrap import InstallerCredential
    if installer_key is not None and ask_password:
        raise UsageError("give --installer-key or --installer-password, not both")
    if ask_password:
        pw = os.environ.get("HUBKIT_INSTALLER_PASSWORD") or click.prompt(
            f"installer password for {installer_user}", hide_input=True)
        return InstallerCredential(user=installer_user, password=pw)
    if installer_key is not None:
        return InstallerCredential(user=installer_user, key=installer_key)
    return None


def changed_since_option(f):
    return click.option(
        "--changed-since", "changed_since", metavar="REF", default=None,
        help="Only hubs whose inputs changed since git REF (fleet.yaml and region files count "
             "for every hub they feed; uncommitted and untracked files count too).")(f)


def select_hubs(fleet, ids, changed_since: str | None):
    """Hub ids named on the command line, or changed since a git ref; None means all hubs."""
    if changed_since is None:
        return list(ids) or None
    if ids:
        raise UsageError("give hub IDs or --changed-since, not both",
                         "e.g. `hubkit validate --changed-since origin/main`")
    from hubkit.fleet.changes import changed_hubs
    return changed_hubs(fleet, changed_since)


@click.group(cls=HubkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--fleet", "fleet_root", type=click.Path(file_okay=False, path_type=Path),
              envvar="HUBKIT_FLEET", default=".", show_default=True,
              help="Fleet repository (env HUBKIT_FLEET).")
@click.option("-v", "--verbose", count=True, help="More output; repeat for debug logs.")
@click.version_option(__version__, prog_name="hubkit")
@click.pass_context
def cli(ctx, fleet_root: Path, verbose: int):
    """hubkit: open a DigitalHub from one reviewed YAML file.

    Example: hubkit --fleet ./fleet validate
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = Context(fleet_root=fleet_root, verbose=verbose)


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _discover() -> None:
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{mod}").register(cli)


_discover()


def main() -> None:
    # click reports usage errors with exit 2 itself; make sure of it.
    try:
        cli.main(prog_name="hubkit", standalone_mode=True)
    except SystemExit as e:
        if e.code is None:
            raise SystemExit(0) from None
        if isinstance(e.code, str):
            click.echo(e.code, err=True)
            raise SystemExit(EXIT_USAGE) from None
        raise
