"""Gather an audit's evidence from the fleet repo and the other parts' records.

Sources (all read, nothing re-computed that another part owns):
- the hub's merged description with provenance (``hubkit.fleet``);
- validation findings (``hubkit.rules``);
- the render tree and its manifest (``build/<id>/``, ``hubkit.render``);
- the offline cloud plan and its policy findings (``hubkit.cloud``), and the
  record of what happened to the cloud services (``.hubkit/runs/<id>/cloud.json``);
- the last configure recap (``.hubkit/runs/<id>/configure.json``);
- the last verify result with BSI tags (``.hubkit/runs/<id>/verify.json``);
- git history of the hub's files when the fleet is a git repository.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.audit import live
from hubkit.audit.model import Evidence
from hubkit.audit.sources import Sources
from hubkit.errors import FindingsError, HubkitError
from hubkit.runs import runs_dir


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise HubkitError(f"{path}:1:1: not valid JSON",
                          "re-run the step that writes it (it is replaced atomically)") from None


@dataclass
class Collected:
    """Everything the report and evidence.json are built from (plain data)."""

    hub_id: str
    src: Sources
    record: object                       # HubRecord
    validation: list = field(default_factory=list)       # Finding
    render: dict = field(default_factory=dict)
    verify: dict | None = None
    verify_note: str = ""
    live: list[Evidence] = field(default_factory=list)
    plan_note: str = ""
    lab: dict | None = None              # what the live evidence ran against
    manual_note: str = ""                # whether the manual form was read or created


def _finding_dict(f) -> dict:
    d = {"code": f.code, "severity": f.severity, "message": f.message, "hint": f.hint}
    if f.origin:
        d["origin"] = str(f.origin)
    return d


def provenance(tree, prefix: str = "") -> list[dict]:
    """Every leaf of the merged hub with the file:line:col that set it."""
    from hubkit.fleet.yamlload import YList, YMap
    out = []
    if isinstance(tree, YMap):
        for k in tree:
            path = f"{prefix}.{k}" if prefix else str(k)
            v = tree[k]
            if isinstance(v, (YMap, YList)) and len(v):
                out.extend(provenance(v, path))
            else:
                origin = tree.value_origins.get(k)
                out.append({"path": path, "value": _plain(v), "origin": str(origin) if origin else ""})
    elif isinstance(tree, YList):
        for i, v in enumerate(tree):
            path = f"{prefix}.{i}"
            if isinstance(v, (YMap, YList)) and len(v):
                out.extend(provenance(v, path))
            else:
                origin = tree.item_origins[i] if i < len(tree.item_origins) else None
                out.append({"path": path, "value": _plain(v), "origin": str(origin) if origin else ""})
    return out


def _plain(v):
    from hubkit.fleet.yamlload import plain
    v = plain(v)
    return v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)


def git_history(fleet_root: Path, files: list[str]) -> dict | None:
    """Commits touching the hub's files, and any uncommitted change to them."""
    root = Path(fleet_root)
    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    log = subprocess.run(["git", "-C", str(root), "log", "--date=short",
                          "--format=%H%x1f%an%x1f%ad%x1f%s", "--", *files],
                         capture_output=True, text=True, timeout=30)
    commits = []
    for line in log.stdout.splitlines():
        parts = line.split("\x1f")
        if len(parts) == 4:
            commits.append({"commit": parts[0], "author": parts[1], "date": parts[2], "subject": parts[3]})
    st = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", *files],
                        capture_output=True, text=True, timeout=30)
    dirty = sorted(line[3:] for line in st.stdout.splitlines() if line.strip())
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return {"files": files, "commits": commits, "dirty": dirty,
            "head": head.stdout.strip() if head.returncode == 0 else ""}


def _render_state(fleet, hub_id: str) -> dict:
    from hubkit.render import check_fleet
    from hubkit.render.tree import verify_manifest
    bdir = Path(fleet.root) / "build" / hub_id
    out = {"dir": f"build/{hub_id}", "exists": bdir.is_dir(), "manifest": None,
           "up_to_date": False, "differences": [], "problems": []}
    if not bdir.is_dir():
        return out
    out["manifest"] = read_json(bdir / "manifest.json")
    out["problems"] = verify_manifest(bdir)
    try:
        [res] = check_fleet(fleet, [hub_id])
        out["up_to_date"] = not res.differs
        out["differences"] = sorted(res.changed + res.new + res.missing)
        out["input_hash"] = res.input_hash
    except FindingsError:
        out["up_to_date"] = False
    return out


def _plan(fleet, hub_id: str):
    from hubkit.cloud.run import offline_plan
    plan, found = offline_plan(fleet, hub_id)
    return plan.to_json(), found


def _verify_state(fleet_root: Path, hub_id: str, lab: bool) -> tuple[dict | None, str]:
    """The last verify result if it is newer than the render tree it verified."""
    path = runs_dir(fleet_root, hub_id) / "verify.json"
    data = read_json(path)
    if data is None:
        return None, "no verify result yet"
    manifest = Path(fleet_root) / "build" / hub_id / "manifest.json"
    configure = runs_dir(fleet_root, hub_id) / "configure.json"
    vt = path.stat().st_mtime
    if manifest.is_file() and manifest.stat().st_mtime > vt:
        return None, "the last verify result predates the current render (stale, not used)"
    if configure.is_file() and configure.stat().st_mtime > vt:
        return None, "the last verify result predates the last configure run (stale, not used)"
    return data, ""


def run_verify(fleet_root: Path, hub_id: str) -> dict:
    """Verify the running lab now (``audit --lab`` without fresh results)."""
    from hubkit import verify
    target = verify.resolve(fleet_root, hub_id, lab=True)
    result = verify.run(target)
    verify.save_last(fleet_root, result)
    return result.to_json()


def collect(fleet_root: Path, hub_id: str, lab: bool = False) -> Collected:
    from hubkit import topology
    from hubkit.fleet.repo import load_fleet
    from hubkit.rules import validate

    fleet = load_fleet(fleet_root)
    rec = fleet.hub(hub_id)
    found = validate(fleet, [hub_id])
    if rec.model is None or any(f.severity == "error" for f in found):
        raise FindingsError(found or rec.findings)
    hub = rec.model
    topo = topology.build(hub)
    render = _render_state(fleet, hub_id)
    if not render["exists"]:
        raise HubkitError(f"hub {hub_id} is not rendered (build/{hub_id} is missing)",
                          f"run `hubkit render {hub_id}` first")
    plan, plan_findings = _plan(fleet, hub_id)
    from hubkit.cloud import record
    cloud = record.read(fleet_root, hub_id)
    configure = read_json(runs_dir(fleet_root, hub_id) / "configure.json")
    verify, note = _verify_state(fleet_root, hub_id, lab)
    lab_info = None
    if lab:
        from hubkit.lab import lab as lab_mod
        if not lab_mod.healthy(hub_id):
            if verify is None:
                raise _no_lab(hub_id)
        elif verify is None:
            verify, note = run_verify(fleet_root, hub_id), "verified now against the running lab"
        st = lab_mod.status(hub_id) if lab_mod.healthy(hub_id) else None
        lab_info = {"id": hub_id, "mode": st["mode"] if st else None,
                    "hosts": sorted(h["name"] for h in st["hosts"]) if st else [],
                    "running": st is not None}
    # The hub's files and its rendered build: what is deployed must be what was committed.
    git = git_history(fleet_root, [*rec.layers, f"build/{hub_id}"])
    src = Sources(hub=hub, topo=topo, build_dir=Path(fleet_root) / "build" / hub_id,
                  build_rel=f"build/{hub_id}", manifest=render["manifest"], plan=plan,
                  plan_findings=plan_findings, git=git, configure=configure, cloud=cloud)
    return Collected(hub_id, src, rec, found, render, verify, note,
                     live.evidence(verify) if verify else [], lab=lab_info)


def _no_lab(hub_id: str):
    from hubkit.errors import PrerequisiteError
    return PrerequisiteError(f"--lab: no running lab and no fresh verify result for hub {hub_id}",
                             f"run `hubkit lab up {hub_id}` and `hubkit configure {hub_id} --lab`, "
                             f"or `hubkit open {hub_id} --lab`")


finding_dict = _finding_dict
