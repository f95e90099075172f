"""Where the parts keep the records of their last run: ``.hubkit/runs/<id>/`` in the fleet.

configure.json, verify.json, plan.json, cloud.json and the run logs live
there; status, open and the audit read them.  The one place that spells the
path.
"""

from __future__ import annotations

from pathlib import Path

RUNS = Path(".hubkit") / "runs"


def runs_rel(hub_id: str) -> Path:
    """The hub's records relative to the fleet root (as shown in reports and archives)."""
    return RUNS / hub_id


def runs_dir(fleet_root: Path, hub_id: str) -> Path:
    """The hub's records, absolute (logs are handed to tools that run elsewhere)."""
    return Path(fleet_root).resolve() / RUNS / hub_id
