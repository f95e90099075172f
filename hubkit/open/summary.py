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
                  cloud, wall_s: float) -> dict:
    """The `open --json` document: the finished steps (StepReport, in chain order) with their
    wall time, the run's wall time (``duration_s``: less than the steps' sum when a background
    step overlapped others), the slowest tasks when this run converged, the audit summary and
    the cloud record."""
    from hubkit.open import STEP_NAMES
    order = {n: i for i, n in enumerate(STEP_NAMES)}
    rows = [{"step": s.step, "result": s.result, "duration_s": round(s.duration_s, 2), "message": s.message,
             "background": s.background}
            for s in sorted(steps, key=lambda s: order.get(s.step, len(order)))]
    return {
        "hub": hub_id,
        "lab": lab,
        "ok": failed is None and not (audit or {}).get("summary", {}).get("fail"),
        "steps": rows,
        "duration_s": round(wall_s, 2),
        "failed": None if failed is None else {"step": failed.step, "message": failed.message,
                                               "hint": failed.hint, "exit_code": failed.exit_code},
        "slowest_tasks": configure_slowest(fleet_root, hub_id) if configure_ran(steps) else [],
        "audit": None if audit is None else audit.get("summary"),
        "cloud": None if cloud is None else {"mode": cloud.mode, "detail": cloud.detail},
    }
