"""What `hubkit open` reports when it is done: the `--json` document and the slowest tasks.

The steps are the StepReports the run finished; the slowest tasks come from the
configure record this run wrote (.hubkit/runs/<id>/configure.json), so open
shows the same figures `hubkit configure` shows, from the callback's timings.
"""

from __future__ import annotations

import json
from pathlib import Path

from hubkit.runs import runs_dir


def configure_slowest(fleet_root: Path, hub_id: str) -> list[dict]:
    """The ten slowest tasks of the hub's last configure run ([] when none is recorded)."""
    try:
        doc = json.loads((runs_dir(fleet_root, hub_id) / "configure.json").read_text())
    except (FileNotFoundError, ValueError):
        return []
    rows = doc.get("slowest_tasks") if isinstance(doc, dict) else None
    return rows if isinstance(rows, list) else []


def configure_ran(steps) -> bool:
    """Whether this run converged (configure ran, not skipped): only then are its timings news."""
    return any(s.step == "configure" and s.result in ("ok", "failed") for s in steps)


def open_document(fleet_root: Path, hub_id: str, *, lab: bool, steps, failed, audit: dict | None,
                  cloud) -> dict:
    """The `open --json` document: the finished steps (StepReport) with their wall time, the
    slowest tasks when this run converged, the audit summary and the cloud record."""
    rows = [{"step": s.step, "result": s.result, "duration_s": round(s.duration_s, 2), "message": s.message}
            for s in steps]
    return {
        "hub": hub_id,
        "lab": lab,
        "ok": failed is None and not (audit or {}).get("summary", {}).get("fail"),
        "steps": rows,
        "duration_s": round(sum(r["duration_s"] for r in rows), 2),
        "failed": None if failed is None else {"step": failed.step, "message": failed.message,
                                               "hint": failed.hint, "exit_code": failed.exit_code},
        "slowest_tasks": configure_slowest(fleet_root, hub_id) if configure_ran(steps) else [],
        "audit": None if audit is None else audit.get("summary"),
        "cloud": None if cloud is None else {"mode": cloud.mode, "detail": cloud.detail},
    }
