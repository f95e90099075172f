"""`hubkit status`: one row per hub from the records the other parts leave behind.

Read-only and cheap: validation, a render check (fresh render compared with
build/<id>/ in memory), the cloud/configure/verify records, the lab ledger,
the audit summary and the open journal.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hubkit.errors import FindingsError, HubkitError
from hubkit.open.journal import Journal, journal_path
from hubkit.runs import runs_dir


def _mtime(path: Path) -> str | None:
    try:
        ts = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _render(fleet, hub_id: str, valid: bool) -> dict:
    root = Path(fleet.root) / "build" / hub_id
    manifest = _json(root / "manifest.json")
    out = {"rendered": manifest is not None, "hash": (manifest or {}).get("input_hash", "")[:12] or None,
           "up_to_date": None}
    if manifest is not None and valid:
        from hubkit.render import check_fleet
        try:
            [res] = check_fleet(fleet, [hub_id])
            out["up_to_date"] = not res.differs
        except (FindingsError, HubkitError):
            out["up_to_date"] = None
    return out


def _configure(runs: Path) -> dict | None:
    c = _json(runs / "configure.json")
    if c is None:
        return None
    changed = sum(h.get("changed", 0) for h in (c.get("hosts") or {}).values())
    return {"at": _mtime(runs / "configure.json"), "ok": c.get("rc") == 0 and not c.get("failed_hosts"),
            "lab": bool(c.get("lab")), "hosts": len(c.get("hosts") or {}), "changed": changed}


def _verify(runs: Path) -> dict | None:
    v = _json(runs / "verify.json")
    if v is None:
        return None
    s = v.get("summary") or {}
    return {"at": _mtime(runs / "verify.json"), "ok": not s.get("failed") and not s.get("error")
            and s.get("passed", 0) > 0, **{k: s.get(k, 0) for k in ("passed", "failed", "error", "skipped")}}


def _cloud(fleet_root: Path, hub_id: str) -> dict | None:
    """What last happened to the cloud services (hubkit.cloud.record): provisioned, planned
    only, skipped or destroyed, with the sentence saying why."""
    from hubkit.cloud import record
    try:
        rec = record.read(fleet_root, hub_id)
    except HubkitError as e:  # one broken record must not hide the fleet's other rows
        return {"mode": "unreadable", "detail": e.message, "provisioned": False, "at": None}
    if rec is None:
        return None
    return {"mode": rec.mode, "detail": rec.describe(), "provisioned": rec.provisioned,
            "at": _mtime(record.record_path(fleet_root, hub_id))}


def _lab(hub_id: str) -> bool:
    try:
        from hubkit.lab.lab import healthy
        return bool(healthy(hub_id))
    except (OSError, HubkitError):
        return False


def _audit(fleet_root: Path, hub_id: str) -> dict | None:
    path = Path(fleet_root) / "audit" / hub_id / "evidence.json"
    e = _json(path)
    if e is None:
        return None
    return {"at": _mtime(path), **(e.get("summary") or {})}


def _open(fleet_root: Path, hub_id: str) -> dict | None:
    run = Journal(journal_path(fleet_root, hub_id)).last_run()
    if not run:
        return None
    bad = next((e for e in run if e.get("result") in ("failed", "interrupted")), None)
    return {"at": run[-1].get("at"), "result": f"{bad['result']} at {bad['step']}" if bad else
            ("ok" if run[-1].get("step") == "audit" else f"stopped after {run[-1].get('step')}")}


def fleet_status(fleet, ids=()) -> list[dict]:
    from hubkit.rules import validate
    rows = []
    for rec in fleet.select(list(ids)):
        found = [f for f in validate(fleet, [rec.id]) if f.severity == "error"]
        valid = rec.model is not None and not found
        runs = runs_dir(fleet.root, rec.id)
        rows.append({
            "id": rec.id,
            "validated": valid,
            "findings": len(found),
            **_render(fleet, rec.id, valid),
            "cloud": _cloud(fleet.root, rec.id),
            "configure": _configure(runs),
            "verify": _verify(runs),
            "lab_running": _lab(rec.id),
            "audit": _audit(fleet.root, rec.id),
            "open": _open(fleet.root, rec.id),
        })
    return rows
