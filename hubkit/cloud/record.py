"""What happened to a hub's cloud services: ``.hubkit/runs/<id>/cloud.json``.

One small record, replaced atomically by whoever last acted on the stack:
`hubkit open`'s cloud step (provisioned, planned only in the lab, or skipped
with ``--skip-cloud``) and `hubkit provision`/`destroy`.  `status` shows it
and the audit says from it, in plain words, whether the cloud services exist;
the journal only knows what `open` did, not a later `provision`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hubkit.atomic import write_atomic
from hubkit.runs import runs_dir
from hubkit.errors import HubkitError

RECORD = "cloud.json"
Mode = Literal["provisioned", "planned", "skipped", "destroyed"]


class CloudRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode
    # Why (skipped), or what was done, in one sentence; never a secret.
    detail: str
    # Pulumi's change counts of a real run ({"create": 26}); empty otherwise.
    changes: dict[str, int] = {}
    # Resources in the offline plan (planned only); None when no plan was made.
    resources: int | None = None

    @property
    def provisioned(self) -> bool:
        return self.mode == "provisioned"

    def describe(self) -> str:
        """One line for `status` and the audit."""
        head = {"provisioned": "provisioned", "planned": "planned only, not provisioned",
                "skipped": "NOT provisioned (skipped)", "destroyed": "destroyed"}[self.mode]
        return f"{head}: {self.detail}"


def record_path(fleet_root: Path, hub_id: str) -> Path:
    return runs_dir(fleet_root, hub_id) / RECORD


def write(fleet_root: Path, hub_id: str, record: CloudRecord) -> Path:
    path = record_path(fleet_root, hub_id)
    write_atomic(path, json.dumps(record.model_dump(), indent=2, sort_keys=True) + "\n")
    return path


def read(fleet_root: Path, hub_id: str) -> CloudRecord | None:
    """The record, None when nothing was recorded; a broken file is an error naming it."""
    path = record_path(fleet_root, hub_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return CloudRecord.model_validate_json(text)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ())) or "document"
        raise HubkitError(f"{path}:1:1: not a cloud record ({where}: {err['msg']})",
                          "it is rewritten by the next `hubkit open` cloud step or `hubkit provision`; "
                          "delete it if it was edited by hand") from None
