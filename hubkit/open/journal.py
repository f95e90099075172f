"""The per-hub run journal: `.hubkit/journal/<id>.jsonl`, one JSON object a line.

Every step of `hubkit open` appends a ``start`` entry before it runs and an
``end`` entry (result ok | failed | skipped | interrupted) after it; a step
skipped on purpose (``open --skip-cloud``) also carries a ``reason``.  A step
killed with SIGKILL leaves a ``start`` without an ``end``; that is read as
"not done", so the next run resumes there.  Lines are appended with O_APPEND
and fsynced, so a crash can at worst lose the entry being written, never
corrupt earlier ones; a torn last line is ignored on read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

JOURNAL_DIR = Path(".hubkit") / "journal"

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"
DONE = {OK, SKIPPED}


def journal_path(fleet_root: Path, hub_id: str) -> Path:
    return Path(fleet_root) / JOURNAL_DIR / f"{hub_id}.jsonl"


def digest(data) -> str:
    """sha256 of a JSON-able value (sorted keys), the form every input hash takes."""
    blob = json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class StepState:
    """What the journal says about one step's most recent attempt."""

    step: str
    done: bool  # last attempt ended ok/skipped
    input_hash: str | None
    result: str  # ok | failed | skipped | interrupted | incomplete
    message: str = ""
    at: str = ""
    duration_s: float | None = None
    reason: str = ""  # why a step was skipped on purpose (empty: it ran, or nothing changed)


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn line from a killed writer
                if isinstance(entry, dict) and "step" in entry:
                    out.append(entry)
        return out

    def append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **entry}
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def states(self) -> dict[str, StepState]:
        """Latest state per step, in journal order."""
        out: dict[str, StepState] = {}
        for e in self.entries():
            step = e["step"]
            if e.get("event") == "start":
                out[step] = StepState(step, False, e.get("input_hash"), "incomplete",
                                      "the run stopped during this step", e.get("at", ""))
            elif e.get("event") == "end":
                result = e.get("result", FAILED)
                out[step] = StepState(step, result in DONE, e.get("input_hash"), result,
                                      e.get("message", ""), e.get("at", ""), e.get("duration_s"),
                                      e.get("reason", ""))
        return out

    def last_run(self) -> list[dict]:
        """The end entries of the most recent run, in order."""
        entries = self.entries()
        if not entries:
            return []
        run = entries[-1].get("run")
        return [e for e in entries if e.get("run") == run and e.get("event") == "end"]
