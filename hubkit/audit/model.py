"""Plain data of an audit: evidence items, check definitions and their results.

Status rules (the heart of the report's honesty):
- ``not_applicable`` only with a written reason, decided from the hub model;
- ``fail`` when any linked evidence failed;
- ``manual`` when part of the requirement can only be shown by a human (the
  check says what), or when no evidence was collected at all;
- ``pass`` only when at least one linked evidence item exists and all passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PASS, FAIL, NA, MANUAL = "pass", "fail", "not_applicable", "manual"
STATUSES = (PASS, FAIL, MANUAL, NA)

# How an evidence item was obtained: the report says which rows rest on what.
LIVE = "live"          # a verify check run against the lab (or site)
RENDERED = "rendered"  # a static check of the rendered configuration
PLANNED = "planned"    # the offline cloud plan and its policies
RECORDED = "recorded"  # repository facts: validation, manifest, git history


@dataclass(frozen=True)
class Evidence:
    id: str          # stable, unique in one audit, used as the HTML anchor
    kind: str        # live | rendered | planned | recorded
    ok: bool
    title: str
    detail: str = ""
    ref: str = ""    # where to look: file:line, verify node id, plan URN
    tags: tuple[str, ...] = ()  # BSI requirement ids (verify) or static check ids

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "ok": self.ok, "title": self.title,
                "detail": self.detail, "ref": self.ref, "tags": list(self.tags)}


@dataclass(frozen=True)
class Check:
    num: int
    title: str
    requirements: tuple[str, ...]
    # BSI tags on verify checks that evidence this row (default: requirements).
    verify_tags: tuple[str, ...] | None = None
    # Ids of static/planned/recorded evidence items that back this row.
    evidence: tuple[str, ...] = ()
    # What a human must provide even when all automatic evidence passes.
    manual: str | None = None
    # What to provide when no evidence was collected at all.
    missing: str = "run `hubkit open ID --lab` (or `hubkit verify`) to collect live evidence"
    # Behaviour that only a live run shows: without live evidence the row is manual.
    needs_live: bool = False
    # Returns a reason when the check does not apply to this hub.
    applies: Callable[[object], str | None] = field(default=lambda hub: None)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.verify_tags if self.verify_tags is not None else self.requirements


@dataclass(frozen=True)
class Row:
    num: int
    title: str
    requirements: tuple[str, ...]
    status: str
    note: str
    evidence: tuple[Evidence, ...]

    @property
    def basis(self) -> str:
        """The strongest kind of evidence behind the row, for the report's 'basis' column."""
        kinds = {e.kind for e in self.evidence}
        for k in (LIVE, RENDERED, PLANNED, RECORDED):
            if k in kinds:
                return k
        return "none"

    def as_dict(self) -> dict:
        return {"num": self.num, "title": self.title, "requirements": list(self.requirements),
                "status": self.status, "note": self.note, "basis": self.basis,
                "evidence": [e.id for e in self.evidence]}


def evaluate(check: Check, hub, items: list[Evidence]) -> Row:
    """One BSI row from the evidence linked to it.  See the module docstring."""
    def row(status, note):
        return Row(check.num, check.title, check.requirements, status, note, tuple(items))

    reason = check.applies(hub)
    if reason:
        return row(NA, reason)
    failed = [e for e in items if not e.ok]
    if failed:
        return row(FAIL, "failed: " + "; ".join(e.title for e in failed))
    if check.manual:
        return row(MANUAL, check.manual)
    if not items:
        return row(MANUAL, "no evidence collected: " + check.missing)
    if check.needs_live and not any(e.kind == LIVE for e in items):
        return row(MANUAL, "only rendered/planned evidence; not verified live: " + check.missing)
    kinds = {k: sum(1 for e in items if e.kind == k) for k in (LIVE, RENDERED, PLANNED, RECORDED)}
    return row(PASS, f"{len(items)} evidence item(s) passed ("
               + ", ".join(f"{n} {k}" for k, n in kinds.items() if n) + ")")
