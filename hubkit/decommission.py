"""`hubkit decommission`: close a hub down and keep its records.

Order (each step safe to repeat if a run is interrupted):
1. cloud: destroy the stack when the pulumi CLI is present, else list what an
   operator must destroy (from the offline plan);
2. lab: bring the hub's lab down if one exists;
3. archive build/<id>/, audit/<id>/, .hubkit/runs/<id>/, the journal and the
   (still encrypted) secrets into archive/<id>/ (staged, then renamed);
4. move hubs/<id>.yaml to hubs/_decommissioned/ (the loader ignores that
   directory, so the hub's prefixes become free) and record the release in
   hubs/_decommissioned/released.yaml, which IPAM reads to warn before a
   prefix is reused within 90 days.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.errors import HubkitError
from hubkit.fleet.repo import DECOMMISSIONED_DIR, HUBS_DIR
from hubkit.ipam import record_release
from hubkit.lock import hub_lock

ARCHIVE_DIR = "archive"


@dataclass
class DecommissionResult:
    hub_id: str
    archive: Path
    cloud: str                      # destroyed | listed | skipped
    cloud_resources: list[str] = field(default_factory=list)
    lab: str = "none"               # down | none
    archived: list[str] = field(default_factory=list)
    hub_file: str = ""
    released: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"hub": self.hub_id, "archive": str(self.archive), "cloud": self.cloud,
                "cloud_resources": self.cloud_resources, "lab": self.lab, "archived": self.archived,
                "hub_file": self.hub_file, "released": self.released}


def plan_actions(fleet_root: Path, hub_id: str) -> list[str]:
    """What decommission will do, for the confirmation prompt."""
    root = Path(fleet_root)
    out = ["destroy its cloud stack (or list what an operator must destroy)"]
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
        (f".hubkit/runs/{hub_id}", "runs"),
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


def decommission(fleet_root: Path, hub_id: str, lab: bool = False, say=None,
                 today: dt.date | None = None) -> DecommissionResult:
    """Decommission ``hub_id``.  The caller has already confirmed (``--yes`` or a prompt)."""
    from hubkit.fleet.repo import load_fleet
    say = say or (lambda msg: None)
    root = Path(fleet_root)
    fleet = load_fleet(root)
    rec = fleet.hub(hub_id)
    hub_file = root / HUBS_DIR / f"{hub_id}.yaml"
    if rec.model is None:
        raise HubkitError(f"hub {hub_id} does not validate; its prefixes cannot be released safely",
                          f"fix {rec.path} first (`hubkit validate {hub_id}`)")
    with hub_lock(root, hub_id, command="decommission"):
        status, resources, msg = _cloud(fleet, hub_id, lab)
        say(msg)
        lab_state = "none"
        from hubkit.lab.state import State
        if State.load(hub_id) is not None:
            from hubkit import lab as lab_api
            lab_api.down(hub_id)
            lab_state = "down"
            say(f"lab {hub_id} is down")
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
        say(f"archived {len(archived)} item(s) into {target.relative_to(root)}")
        dest_dir = root / HUBS_DIR / DECOMMISSIONED_DIR
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{hub_id}.yaml"
        if dest.exists():
            dest = dest_dir / f"{hub_id}.{target.name}.yaml"
        hub = rec.model
        released = [str(hub.network.site_prefix), str(hub.vpn.tunnel_address.ip)]
        record_release(root, hub_id, released, today or dt.date.today())
        os.rename(hub_file, dest)
        say(f"moved {HUBS_DIR}/{hub_id}.yaml to {dest.relative_to(root)}; released {', '.join(released)}")
    return DecommissionResult(hub_id, target, status, resources, lab_state, archived,
                              str(dest.relative_to(root)), released)
