"""`hubkit audit`: evidence bundle (evidence.json) and report (report.html) for one hub.

    result = run_audit(fleet_root, "zeitz", lab=True)
    result.report, result.evidence, result.counts

The 26 rows are in ``catalog``, the evidence model and status rules in
``model``, the static checks in ``checks`` (one module per area, over the
``parsers`` of the rendered formats and the ``sources`` an audit gathers),
the live checks in ``live``, the manual form in ``manual``, the build archive
in ``archive``, the secret scan in ``scan``, collection in ``evidence`` and
the HTML in ``report``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hubkit import __version__
from hubkit.atomic import write_atomic
from hubkit.audit import archive, live, manual, scan
from hubkit.audit.catalog import ROWS
from hubkit.audit.checks import run_all
from hubkit.audit.evidence import collect, finding_dict, provenance
from hubkit.audit.model import (DESIGNED, FAIL, LIVE, MANUAL, NA, PASS, RECORDED, RENDERED, STATUSES,
                                Evidence, Row, evaluate)
from hubkit.errors import HubkitError

AUDIT_DIR = "audit"


@dataclass
class AuditResult:
    hub_id: str
    out_dir: Path
    rows: list[Row]
    counts: dict[str, int]

    @property
    def report(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def evidence(self) -> Path:
        return self.out_dir / "evidence.json"

    @property
    def ok(self) -> bool:
        return self.counts.get(FAIL, 0) == 0

    def rows_with(self, status: str) -> list[Row]:
        return [r for r in self.rows if r.status == status]


def link(spec, items: list[Evidence]) -> list[Evidence]:
    """The evidence items behind one row: those carrying one of the row's link tags."""
    tags = set(spec.tags)
    return [e for e in items if tags & set(e.tags)]


def build_rows(hub, items: list[Evidence], entries: dict | None = None, no_live_reason: str = "") -> list[Row]:
    from hubkit import topology
    roles = {h.role for h in topology.build(hub).hosts()}
    registry = live.registry(roles)
    rows = []
    for spec in ROWS:
        available = [c for c in registry if set(c.tags) & set(spec.tags)]
        form = manual.state(spec, hub, (entries or {}).get(spec.num, [])) if spec.manual else None
        rows.append(evaluate(spec, hub, link(spec, items), available, form, no_live_reason))
    return rows


def counts_of(rows: list[Row]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for r in rows:
        out[r.status] += 1
    out["manual_filled"] = sum(1 for r in rows if r.status == MANUAL and r.manual and not r.manual["open"])
    return out


STATUS_MEANING = {
    PASS: "every linked check passed and at least one ran live against the hub",
    DESIGNED: "only the rendered configuration or the plan shows it: it would satisfy the requirement; "
              "nothing has shown that it does",
    FAIL: "a linked check failed",
    MANUAL: "a person must attach the named evidence (audit/<id>/manual.yaml), or no evidence could be collected",
    NA: "does not apply to this hub (the reason is given)",
}


def scope(col, items: list[Evidence], rows: list[Row], secret_scan) -> dict:
    """What was verified live, designed only, manual and not applicable: said plainly, with the rows."""
    live = [e for e in items if e.kind == LIVE]
    v = col.verify or {}
    summary = v.get("summary") or {}
    in_lab = col.lab is not None or bool((col.src.configure or {}).get("lab"))
    where = "the hub's lab on this machine" if in_lab else "the hosts in the rendered inventory"
    ran = [c for c in v.get("checks", []) if c.get("status") != "skipped"]
    if live:
        live_text = (f"{len(ran)} verify checks ran live against {where} "
                     f"({summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
                     f"{summary.get('error', 0)} errors, {summary.get('skipped', 0)} skipped).")
    else:
        live_text = "Nothing was verified live: " + (col.verify_note or "no verify result") + "."
    if col.lab and not col.lab.get("running"):
        live_text += " The lab is no longer running; the results are from its last verify run."
    return {
        "live": live_text,
        "rendered": (f"{sum(1 for e in items if e.kind == RENDERED)} static checks read the rendered "
                     f"configuration in build/{col.hub_id}/ (what would be deployed; not proof that "
                     "it runs)."),
        "planned": cloud_scope(col.src.cloud),
        "recorded": (f"{sum(1 for e in items if e.kind == RECORDED)} checks read repository records "
                     "(manifest hashes, configure recap, git history)."),
        "not_covered": ("Physical devices (firmware, disks, desktops, kernel hardening) and restore tests are "
                        "outside what hubkit can observe; those rows are manual: a person attaches the evidence "
                        f"in audit/{col.hub_id}/manual.yaml ({col.manual_note})."),
        "rows": {s: [r.num for r in rows if r.status == s] for s in STATUSES},
        "meaning": STATUS_MEANING,
        "secret_scan": secret_scan.as_dict(),
        "stand_in": _stand_in(col, in_lab),
        "lab": col.lab,
    }


def _stand_in(col, in_lab: bool) -> str | None:
    """What the lab ran in place of a vendor device: its live evidence is the stand-in's."""
    from hubkit.lab.standin import for_hub
    s = for_hub(col.record.model) if in_lab else None
    if s is None:
        return None
    return (f"{s.note()}. The switch rows' live evidence comes from that Linux stand-in, not from "
            f"the {s.dialect} device; the {s.dialect} config itself is evidenced by the static "
            "switch.ios:* items.")


CLOUD_SERVICES = "The hub's cloud services (identity group and users, DNS zone, backup container, monitoring)"
PLAN_IS_INTENT = ("The planned evidence below is the offline Pulumi plan under mocks: intent, "
                  "not real state.")


def cloud_scope(cloud) -> str:
    """What happened to the cloud services, from their record (hubkit.cloud.record), in plain words."""
    if cloud is None:
        return (f"{CLOUD_SERVICES} were not provisioned by `hubkit open` (no cloud run is recorded). "
                + PLAN_IS_INTENT)
    if cloud.mode == "provisioned":
        return (f"{CLOUD_SERVICES} were provisioned ({cloud.detail}). Verify reads the identity realm back "
                f"live (its identity checks); for the rest: {PLAN_IS_INTENT[0].lower()}{PLAN_IS_INTENT[1:]}")
    if cloud.mode == "skipped":
        return f"{CLOUD_SERVICES} were NOT provisioned: the cloud step was skipped ({cloud.detail}). " \
               + PLAN_IS_INTENT
    if cloud.mode == "planned":
        return f"{CLOUD_SERVICES} were planned only, not provisioned ({cloud.detail}). " + PLAN_IS_INTENT
    return f"{CLOUD_SERVICES} were destroyed ({cloud.detail}). " + PLAN_IS_INTENT


def bundle(col, rows: list[Row], items: list[Evidence], secret_scan) -> dict:
    rec = col.record
    hub = rec.model
    return {
        "hubkit_version": __version__,
        "hub": {
            "id": hub.id, "name": hub.name, "municipality": hub.municipality,
            "layers": list(rec.layers),
            "description": json.loads(hub.model_dump_json()),
            "provenance": provenance(rec.tree),
        },
        "scope": scope(col, items, rows, secret_scan),
        "summary": counts_of(rows),
        "bsi": [r.as_dict() for r in rows],
        "evidence": [e.as_dict() for e in sorted(items, key=lambda e: e.id)],
        "render": col.render,
        "configure": col.src.configure,
        "verify": {"result": col.verify, "note": col.verify_note,
                   "source": f".hubkit/runs/{col.hub_id}/verify.json"},
        "cloud_plan": col.src.plan,
        "cloud": col.src.cloud.model_dump() if col.src.cloud is not None else None,
        "findings": {
            "validation": [finding_dict(f) for f in col.validation],
            "policy": [finding_dict(f) for f in col.src.plan_findings],
        },
        "git": col.src.git,
        "archive": col.src.archive,
    }


def run_audit(fleet_root: Path, hub_id: str, lab: bool = False, out: Path | None = None,
              vault_password: str | None = None) -> AuditResult:
    """Audit hub ``hub_id``.  ``vault_password``: for the secret scan (None: the report says it did not run)."""
    from hubkit.audit.report import render_html

    fleet_root = Path(fleet_root)
    secret_scan = scan.prepare(fleet_root, hub_id, vault_password)
    col = collect(fleet_root, hub_id, lab=lab)
    hub = col.record.model
    entries, form = manual.read(fleet_root, hub_id, [s for s in ROWS if s.manual and not s.applies(hub)], hub)
    col.manual_note = f"fill in who, when and what, then run `hubkit audit {hub_id}` again"
    tarball, col.src.archive = archive.build_archive(col.src.build_dir, hub_id, col.src.manifest)
    items = run_all(col.src) + col.live
    ids = [e.id for e in items]
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise HubkitError(f"duplicate evidence ids {dup}", "this is a bug in hubkit.audit.checks")
    rows = build_rows(hub, items, entries, no_live_reason=col.verify_note)
    doc = bundle(col, rows, items, secret_scan)
    evidence_text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    svg_path = fleet_root / "build" / hub_id / "docs" / "topology.svg"
    svg = svg_path.read_text(encoding="utf-8") if svg_path.is_file() else None
    html = render_html(doc, rows, items, svg)
    # Defence in depth: no secret value may leave in a report, whatever a source contained.
    evidence_text, h1 = scan.scrub(evidence_text, secret_scan)
    html, h2 = scan.scrub(html, secret_scan)
    if h1 or h2:
        raise scan.refuse(hub_id, h1 + h2)
    out_dir = Path(out) / hub_id if out is not None else fleet_root / AUDIT_DIR / hub_id
    write_atomic(out_dir / col.src.archive["path"], tarball)
    if form is not None:
        write_atomic(manual.form_path(fleet_root, hub_id), form)
    write_atomic(out_dir / "evidence.json", evidence_text)
    write_atomic(out_dir / "report.html", html)
    return AuditResult(hub_id, out_dir, rows, counts_of(rows))


__all__ = ["AuditResult", "run_audit", "build_rows", "link", "AUDIT_DIR", "STATUS_MEANING"]
