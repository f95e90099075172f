"""`hubkit decommission`: close a hub down and keep its records.

Order (each step safe to repeat if a run is interrupted):
1. concentrator: remove the hub's WireGuard peer and its tunnel routes from the
   concentrator (`core`) with ``playbooks/decommission.yml``, run like configure
   runs site.yml (the rendered inventory, in the lab with the lab's connection
   overlay) and limited to the core: the same run in the lab and at a site.
   It comes first because it is the step that needs a host to answer: if it
   fails, nothing else has changed;
2. cloud: destroy the stack when the pulumi CLI is present, else list what an
   operator must destroy (from the offline plan);
3. lab: bring the hub's lab down if one exists (after step 1, so the lab's
   concentrator is cleaned while it still runs, as a real one would be);
4. archive build/<id>/, audit/<id>/, .hubkit/runs/<id>/, the journal and the
   (still encrypted) secrets into archive/<id>/ (staged, then renamed);
5. move hubs/<id>.yaml to hubs/_decommissioned/ (the loader ignores that
   directory, so the hub's prefixes become free) and record the release in
   hubs/_decommissioned/released.yaml, which IPAM reads to warn before a
   prefix is reused within 90 days.

Everything that can be checked without changing anything (the render, the
vault password, the running lab) is checked before step 1, so a refused run
leaves the hub as it was.  ``on_step(step, message)`` is called after each
step (the CLI prints the message; the lab test reads dc-core right after
"concentrator", while the lab still runs).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hubkit.errors import HubkitError, PrerequisiteError
from hubkit.fleet.repo import DECOMMISSIONED_DIR, HUBS_DIR
from hubkit.ipam import record_release
from hubkit.lock import hub_lock
from hubkit.paths import PLAYBOOKS
from hubkit.runs import runs_dir, runs_rel

if TYPE_CHECKING:
    from hubkit.configure import AnsibleRun

ARCHIVE_DIR = "archive"
REMOVE_PEER = PLAYBOOKS / "decommission.yml"


@dataclass
class DecommissionResult:
    hub_id: str
    archive: Path
    cloud: str                      # destroyed | listed | skipped
    cloud_resources: list[str] = field(default_factory=list)
    concentrator: str = "skipped"   # removed | absent | skipped
    concentrator_detail: str = ""
    lab: str = "none"               # down | none
    archived: list[str] = field(default_factory=list)
    hub_file: str = ""
    released: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"hub": self.hub_id, "archive": str(self.archive), "cloud": self.cloud,
                "cloud_resources": self.cloud_resources, "lab": self.lab, "archived": self.archived,
                "concentrator": self.concentrator, "concentrator_detail": self.concentrator_detail,
                "hub_file": self.hub_file, "released": self.released}


@dataclass(frozen=True)
class PeerRemoval:
    """The Ansible run that removes the hub's peer from its concentrator, or why there is none."""

    hub_id: str
    host: str                 # the concentrator's inventory name (vpn.concentrator.hostname)
    lab: bool
    run: AnsibleRun | None = None
    skip_reason: str = ""


def plan_peer_removal(fleet_root: Path, hub, lab: bool, skip: bool) -> PeerRemoval:
    """Build the removal run (checks its prerequisites, changes nothing)."""
    from hubkit import configure
    host = hub.vpn.concentrator.hostname
    if skip:
        return PeerRemoval(hub.id, host, lab, skip_reason=(
            f"--skip-concentrator: the peer of {hub.id} and its routes were left on {host}; "
            f"the `core` verify suite of any hub on {host} reports them until they are removed"))
    target = None
    if lab:
        from hubkit.lab.lab import healthy
        if not healthy(hub.id):
            return PeerRemoval(hub.id, host, lab, skip_reason=(
                f"no running lab: its concentrator {host} went down with it"))
        target = configure.lab_target(hub.id)
    try:
        run = configure.build_run(fleet_root, hub.id, lab=target, limit=(host,), playbook=REMOVE_PEER)
    except PrerequisiteError as e:
        raise PrerequisiteError(f"cannot remove the peer of {hub.id} from {host}: {e.message}",
                                f"{e.hint}; or pass --skip-concentrator to leave the peer "
                                "(and remove it by hand)") from None
    return PeerRemoval(hub.id, host, lab, run)


def remove_peer(fleet_root: Path, removal: PeerRemoval) -> tuple[str, str]:
    """Run the removal: (removed | absent | skipped, message).  HubkitError when it failed."""
    from hubkit import configure
    if removal.run is None:
        return "skipped", removal.skip_reason
    log_path = runs_dir(fleet_root, removal.hub_id) / "decommission.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    res = configure.execute(removal.run, log_path=log_path, lab=removal.lab, limit=(removal.host,))
    if not res.succeeded or removal.host not in res.hosts:
        # Ansible's message ends with the line that says what went wrong (ssh's error).
        why = "; ".join(f"{f['status']}: {_last_line(f['msg'])}" for f in res.failures[:1]) or \
            f"ansible-playbook exit {res.rc}"
        raise HubkitError(f"could not remove the peer of {removal.hub_id} from {removal.host} "
                          f"({why}); nothing else was done",
                          f"see {log_path}; fix the connection and re-run `hubkit decommission "
                          f"{removal.hub_id}`, or pass --skip-concentrator and remove the peer by hand")
    if res.hosts[removal.host].changed:
        return "removed", (f"removed the WireGuard peer of {removal.hub_id} and its tunnel routes "
                           f"from {removal.host}")
    return "absent", f"{removal.host} had no peer or tunnel route of {removal.hub_id}: nothing to remove"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def plan_actions(fleet_root: Path, hub_id: str) -> list[str]:
    """What decommission will do, for the confirmation prompt."""
    root = Path(fleet_root)
    out = ["remove its WireGuard peer and tunnel routes from its concentrator (Ansible, core host only)",
           "destroy its cloud stack (or list what an operator must destroy)"]
    from hubkit.lab.state import State
    if State.load(hub_id) is not None:
        out.append(f"bring its lab down ({hub_id})")
    out.append(f"archive {', '.join(p for p, _ in _archivable(root, hub_id)) or 'its records'} "
               f"into {ARCHIVE_DIR}/{hub_id}/")
    out.append(f"move {HUBS_DIR}/{hub_id}.yaml to {HUBS_DIR}/{DECOMMISSIONED_DIR}/ and release its prefixes")
    return out


def _archivable(root: Path, hub_id: str) -> list[tuple[str, str]]:
    """(source relative to the fleet, name inside the archive) that exist."""
    cands = [
        (f"build/{hub_id}", "build"),
        (f"audit/{hub_id}", "audit"),
        (str(runs_rel(hub_id)), "runs"),
        (f".hubkit/journal/{hub_id}.jsonl", f"journal/{hub_id}.jsonl"),
        (f"secrets/{hub_id}.vault.yml", f"secrets/{hub_id}.vault.yml"),
        (f"secrets/{hub_id}.pub", f"secrets/{hub_id}.pub"),
    ]
    return [(s, d) for s, d in cands if (root / s).exists()]


def _archive_target(root: Path, hub_id: str) -> Path:
    base = root / ARCHIVE_DIR / hub_id
    if not base.exists():
        return base
    n = 2
    while (root / ARCHIVE_DIR / f"{hub_id}-{n}").exists():
        n += 1
    return root / ARCHIVE_DIR / f"{hub_id}-{n}"


def _cloud(fleet, hub_id: str, lab_only: bool) -> tuple[str, list[str], str]:
    from hubkit.cloud import provision
    from hubkit.cloud import run as cloud
    if lab_only:
        return "skipped", [], "--lab: the hub was only opened in the lab; no cloud stack was provisioned"
    try:
        provision.check_prerequisites()
    except HubkitError as e:
        plan, _found = cloud.offline_plan(fleet, hub_id)
        items = [f"{r.type} {r.name}" for r in plan.resources if r.custom]
        return "listed", items, (f"cannot destroy automatically ({e.message}); an operator must "
                                 f"destroy these {len(items)} resources of stack {hub_id}")
    cloud.real_run(fleet, hub_id, "destroy")
    return "destroyed", [], f"cloud stack {hub_id} destroyed"


def decommission(fleet_root: Path, hub_id: str, lab: bool = False, skip_concentrator: bool = False,
                 on_step: Callable[[str, str], None] | None = None,
                 today: dt.date | None = None) -> DecommissionResult:
    """Decommission ``hub_id``.  The caller has already confirmed (``--yes`` or a prompt)."""
    from hubkit.fleet.repo import load_fleet
    say = on_step or (lambda step, msg: None)
    root = Path(fleet_root)
    fleet = load_fleet(root)
    rec = fleet.hub(hub_id)
    hub_file = root / HUBS_DIR / f"{hub_id}.yaml"
    if rec.model is None:
        raise HubkitError(f"hub {hub_id} does not validate; its prefixes cannot be released safely",
                          f"fix {rec.path} first (`hubkit validate {hub_id}`)")
    removal = plan_peer_removal(root, rec.model, lab, skip_concentrator)
    with hub_lock(root, hub_id, command="decommission"):
        peer_state, peer_msg = remove_peer(root, removal)
        say("concentrator", peer_msg)
        status, resources, msg = _cloud(fleet, hub_id, lab)
        say("cloud", msg)
        lab_state = "none"
        from hubkit.lab.state import State
        if State.load(hub_id) is not None:
            from hubkit import lab as lab_api
            lab_api.down(hub_id)
            lab_state = "down"
            say("lab", f"lab {hub_id} is down")
        target = _archive_target(root, hub_id)
        staging = root / ARCHIVE_DIR / f".{hub_id}.staging"
        staging.mkdir(parents=True, exist_ok=True)
        archived = []
        for src, dest in _archivable(root, hub_id):
            d = staging / dest
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(root / src), str(d))
            archived.append(src)
        if resources:
            (staging / "cloud-to-destroy.txt").write_text(
                f"# Cloud resources of hub {hub_id} an operator must destroy (from the offline plan)\n"
                + "".join(f"{r}\n" for r in resources))
        os.rename(staging, target)
        say("archive", f"archived {len(archived)} item(s) into {target.relative_to(root)}")
        dest_dir = root / HUBS_DIR / DECOMMISSIONED_DIR
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{hub_id}.yaml"
        if dest.exists():
            dest = dest_dir / f"{hub_id}.{target.name}.yaml"
        hub = rec.model
        released = [str(hub.network.site_prefix), str(hub.vpn.tunnel_address.ip)]
        record_release(root, hub_id, released, today or dt.date.today())
        os.rename(hub_file, dest)
        say("release", f"moved {HUBS_DIR}/{hub_id}.yaml to {dest.relative_to(root)}; "
                       f"released {', '.join(released)}")
    return DecommissionResult(hub_id, target, status, resources, peer_state, peer_msg, lab_state, archived,
                              str(dest.relative_to(root)), released)
