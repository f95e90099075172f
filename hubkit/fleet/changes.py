"""Which hubs a change touches: the files changed since a git ref, mapped to hubs.

A fleet's CI pipeline validates and plans only the hubs a merge request
touches.  A hub's inputs are its own file, the layers it merges (fleet.yaml
feeds every hub, a region file every hub of that region) and its secrets
(public key and vault).  Changes are read with git against REF, including
uncommitted and untracked files, so the answer matches the working tree that
the commands then read.  Fleet-wide rules (overlaps, uniqueness) still look at
the whole fleet; only the per-hub selection narrows.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import PurePosixPath

from hubkit.errors import PrerequisiteError, UsageError
from hubkit.fleet.repo import FLEET_FILE, REGIONS_DIR, Fleet

SECRETS_DIR = "secrets"


def _git(fleet: Fleet, *args: str) -> str:
    if shutil.which("git") is None:
        raise PrerequisiteError("--changed-since needs git, which is not installed",
                                "install git (apt-get install git)")
    p = subprocess.run(["git", "-C", str(fleet.root), *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise UsageError(f"git {' '.join(args[:2])} failed in {fleet.root}: {p.stderr.strip()}",
                         "run inside the fleet's git checkout and give a ref it has "
                         "(in CI, fetch the base commit: a shallow clone may lack it)")
    return p.stdout


def changed_files(fleet: Fleet, ref: str) -> list[str]:
    """Paths relative to the fleet root that differ from ``ref`` (committed or not) or are untracked."""
    if ref.startswith("-"):
        raise UsageError(f"{ref!r} is not a git ref", "give a branch, tag or commit, e.g. origin/main")
    try:
        _git(fleet, "rev-parse", "--is-inside-work-tree")
    except UsageError:
        raise UsageError(f"{fleet.root} is not inside a git checkout",
                         "--changed-since compares with a git ref: run it in the fleet's clone") from None
    try:
        _git(fleet, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except UsageError:
        raise UsageError(f"unknown git ref {ref!r} in {fleet.root}",
                         "give a branch, tag or commit the checkout has; in CI, fetch the base "
                         "commit first (a shallow clone may lack it)") from None
    diff = _git(fleet, "diff", "--name-only", "--no-renames", "--relative", ref, "--", ".")
    new = _git(fleet, "ls-files", "--others", "--exclude-standard", "--", ".")
    return sorted(set(diff.splitlines()) | set(new.splitlines()))


def hubs_for_paths(fleet: Fleet, paths: list[str]) -> list[str]:
    """The hubs of ``fleet`` whose inputs include any of ``paths`` (sorted ids)."""
    by_layer: dict[str, set[str]] = {}
    for rec in fleet.hubs.values():
        for layer in {rec.path, *rec.layers}:
            by_layer.setdefault(layer, set()).add(rec.id)
    out: set[str] = set()
    for path in paths:
        if path == FLEET_FILE:
            return sorted(fleet.hubs)
        out.update(by_layer.get(path, ()))
        parts = PurePosixPath(path).parts
        if len(parts) == 2 and parts[0] == REGIONS_DIR and path.endswith(".yaml"):
            # Also hubs that name a region whose file was just deleted or added.
            region = parts[1][:-len(".yaml")]
            out.update(r.id for r in fleet.hubs.values()
                       if r.tree is not None and r.tree.get("region") == region)
        elif len(parts) == 2 and parts[0] == SECRETS_DIR and parts[1].split(".", 1)[0] in fleet.hubs:
            out.add(parts[1].split(".", 1)[0])
    return sorted(out)


def changed_hubs(fleet: Fleet, ref: str) -> list[str]:
    """Hubs whose inputs changed since ``ref``."""
    return hubs_for_paths(fleet, changed_files(fleet, ref))
