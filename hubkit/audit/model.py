"""Plain data of an audit: evidence items, row definitions and the status rules.

The five statuses, and what each one promises an auditor:
- ``pass``: every check linked to the row passed, and at least one of them ran
  live against the hub (its lab or the site).  A live check that exists for
  the row but ran nowhere (not shown here) keeps the row from passing.
- ``designed``: only rendered or planned evidence exists, and it passed: the
  configuration would satisfy the requirement; nothing has shown that it does.
- ``fail``: a linked check failed.
- ``manual``: a person must provide evidence (the form names what), or no
  evidence at all could be collected (the note says how to collect it).
- ``not_applicable``: the requirement does not apply to this hub (with the reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PASS, DESIGNED, FAIL, MANUAL, NA = "pass", "designed", "fail", "manual", "not_applicable"
STATUSES = (PASS, DESIGNED, FAIL, MANUAL, NA)

# How an evidence item was obtained: the report says which rows rest on what.
LIVE = "live"          # a verify check run against the lab (or site)
RENDERED = "rendered"  # a static check of the rendered configuration
PLANNED = "planned"    # the offline cloud plan and its policies
RECORDED = "recorded"  # repository facts: manifest, git history, run records, the build archive
STATIC_KINDS = (RENDERED, PLANNED, RECORDED)


@dataclass(frozen=True)
class Evidence:
    id: str          # stable, unique in one audit, used as the HTML anchor
    kind: str        # live | rendered | planned | recorded
    ok: bool
    title: str
    detail: str = ""
    ref: str = ""    # where to look: file:line, verify node id, plan URN
    tags: tuple[str, ...] = ()  # BSI requirement ids: what links the item to its rows
    check: str = ""  # the check that produced it: a static check id, or a verify check "suite::test"
    # A live check that did not run here: why.  ``applies`` False: it does not apply to this
    # hub or host (no guest host, ...); True: it applies but could not be shown here (the lab).
    skipped: str = ""
    applies: bool = True

    @property
    def state(self) -> str:
        return "skipped" if self.skipped else ("passed" if self.ok else "failed")

    @property
    def failed(self) -> bool:
        return not self.ok and not self.skipped

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "ok": self.ok, "state": self.state, "title": self.title,
                "detail": self.detail, "ref": self.ref, "tags": list(self.tags), "check": self.check,
                **({"skipped": self.skipped, "applies": self.applies} if self.skipped else {})}


@dataclass(frozen=True)
class ManualForm:
    """What a person must attach for a row the hub cannot show (audit/<id>/manual.yaml)."""

    evidence: str                 # the exact evidence, e.g. "a dated restore-test record"
    per: str = "hub"              # "hub", or "workstation": one entry per physical workstation


@dataclass(frozen=True)
class RowSpec:
    num: int
    title: str
    requirements: tuple[str, ...]
    # The BSI ids that link a check to this row (default: the requirements).  A few ids
    # stand in two rows of the team's list; each is given to one row only, so that a
    # check lands where it belongs (hubkit.audit.catalog says which).
    link_tags: tuple[str, ...] | None = None
    manual: ManualForm | None = None
    # How to collect automatic evidence when there is none.
    collect: str = "run `hubkit open ID --lab` (or `hubkit verify ID` then `hubkit audit ID`)"
    # Returns a reason when the row does not apply to this hub.
    applies: Callable[[object], str | None] = field(default=lambda hub: None)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.link_tags if self.link_tags is not None else self.requirements


@dataclass(frozen=True)
class LiveCheck:
    """A verify check the suites define (found in playbooks/, whether or not it ran)."""

    id: str                       # "suite::test_name"
    tags: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True)
class LiveState:
    """What happened to one live check of a row in this audit."""

    id: str
    state: str       # passed | failed | not run | not shown | not applicable
    detail: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "detail": self.detail}


@dataclass(frozen=True)
class Row:
    num: int
    title: str
    requirements: tuple[str, ...]
    status: str
    note: str
    evidence: tuple[Evidence, ...]
    live: tuple[LiveState, ...] = ()
    manual: dict | None = None   # {"evidence", "per", "filled": [...], "missing": [...]}

    @property
    def basis(self) -> str:
        """The strongest kind of evidence that ran for the row, for the report's 'basis' column."""
        kinds = {e.kind for e in self.evidence if not e.skipped}
        for k in (LIVE, RENDERED, PLANNED, RECORDED):
            if k in kinds:
                return k
        return "manual" if self.manual and self.manual.get("filled") else "none"

    @property
    def checks(self) -> list[str]:
        """Every check behind the row: static ids and live check ids, sorted."""
        return sorted({e.check for e in self.evidence if e.check} | {s.id for s in self.live})

    def as_dict(self) -> dict:
        return {"num": self.num, "title": self.title, "requirements": list(self.requirements),
                "status": self.status, "note": self.note, "basis": self.basis,
                "evidence": [e.id for e in self.evidence], "checks": self.checks,
                "live": [s.as_dict() for s in self.live], "manual": self.manual}


def base_id(check: str) -> str:
    """A verify check's id without its parameters: ``probes::test_x[staff]`` -> ``probes::test_x``."""
    return check.split("[", 1)[0]


def live_states(available: list[LiveCheck], items: list[Evidence]) -> tuple[LiveState, ...]:
    """Per live check of the row: passed, failed, or why it did not run (over all hosts and parameters)."""
    by_check: dict[str, list[Evidence]] = {}
    for e in items:
        if e.kind == LIVE and e.check:
            by_check.setdefault(base_id(e.check), []).append(e)
    out = []
    for cid in sorted({c.id for c in available} | set(by_check)):
        got = by_check.get(cid, [])
        ran = [e for e in got if not e.skipped]
        unshown = sorted({e.skipped for e in got if e.skipped and e.applies})
        na = sorted({e.skipped for e in got if e.skipped and not e.applies})
        if any(e.failed for e in ran):
            state, why = "failed", "; ".join(sorted({e.id for e in ran if e.failed}))
        elif ran:
            state = "passed"
            why = f"{len(ran)} run(s)" + (f"; not shown for some: {'; '.join(unshown)}" if unshown else "") \
                + (f"; not applicable to some: {'; '.join(na)}" if na else "")
        elif unshown:
            state, why = "not shown", "; ".join(unshown)
        elif na:
            state, why = "not applicable", "; ".join(na)
        else:
            state, why = "not run", ""
        out.append(LiveState(cid, state, why))
    return tuple(out)


def evaluate(spec: RowSpec, hub, items: list[Evidence], available: list[LiveCheck] = (),
             manual: dict | None = None, no_live_reason: str = "") -> Row:
    """One BSI row from the evidence linked to it.  See the module docstring.

    ``available``: the live checks the suites define for the row; ``manual``: the
    state of the row's manual form (hubkit.audit.manual); ``no_live_reason``: why
    no live check ran in this audit at all (said on rows that could have had one).
    """
    live = live_states(list(available), items)

    def row(status, note):
        return Row(spec.num, spec.title, spec.requirements, status, note, tuple(items), live, manual)

    reason = spec.applies(hub)
    if reason:
        return row(NA, reason)
    failed = [e for e in items if e.failed]
    if failed:
        return row(FAIL, "failed: " + "; ".join(sorted({e.title for e in failed})))
    if spec.manual is not None:
        state = manual or {}
        filled = "; ".join(state.get("filled_text", [])) or "not filled in yet"
        return row(MANUAL, f"a person must attach: {spec.manual.evidence} (form: audit/<id>/manual.yaml, "
                           f"row {spec.num}; {filled})")
    ran_live = [s for s in live if s.state == "passed"]
    blocking = [s for s in live if s.state in ("not run", "not shown")]
    static = [e for e in items if e.kind in STATIC_KINDS]
    if ran_live and not blocking:
        return row(PASS, f"live: {', '.join(s.id for s in ran_live)} passed"
                   + (f"; {len(static)} static item(s) passed" if static else ""))
    if not live:
        why = "no live check exists for this row: the rendered configuration is all hubkit can show"
    elif blocking:
        why = "not shown live: " + "; ".join(f"{s.id} ({s.detail or no_live_reason or 'did not run'})"
                                             for s in blocking)
    else:  # every live check of the row is not applicable to this hub: nothing live to show
        why = "its live checks do not apply to this hub: " + "; ".join(f"{s.id} ({s.detail})" for s in live)
    if static:
        return row(DESIGNED, f"designed only ({len(static)} rendered/planned/recorded item(s) passed); {why}")
    return row(MANUAL, f"no evidence collected; {why}; to collect it: {spec.collect}")
