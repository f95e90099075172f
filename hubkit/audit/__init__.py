"""`hubkit audit`: evidence bundle (evidence.json) and report (report.html) for one hub.

    result = run_audit(fleet_root, "zeitz", lab=True)
    result.report, result.evidence, result.counts

The 26 checks are in ``catalog``, the evidence model and status rules in
``model``, static checks of the rendered config in ``static``, collection in
``evidence`` and the HTML in ``report``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hubkit import __version__
from hubkit.audit.catalog import CHECKS
from hubkit.audit.evidence import collect, environment_secrets, finding_dict, provenance
from hubkit.audit.model import LIVE, RECORDED, RENDERED, STATUSES, Evidence, Row, evaluate
from hubkit.audit.static import run_all
from hubkit.errors import HubkitError

AUDIT_DIR = "audit"
REDACTED = "[redacted]"


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
        return self.counts.get("fail", 0) == 0

    def rows_with(self, status: str) -> list[Row]:
        return [r for r in self.rows if r.status == status]


def link(check, items: list[Evidence]) -> list[Evidence]:
    """The evidence items backing one check: by static id (prefix) or BSI tag (verify)."""
    out = []
    tags = set(check.tags)
    for e in items:
        if e.kind == LIVE and e.tags:
            if tags & set(e.tags):
                out.append(e)
        elif any(e.id == x or e.id.startswith(x + ":") for x in check.evidence):
            out.append(e)
    return out


def build_rows(hub, items: list[Evidence]) -> list[Row]:
    return [evaluate(c, hub, link(c, items)) for c in CHECKS]


def counts_of(rows: list[Row]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for r in rows:
        out[r.status] += 1
    return out


def scope(col, items: list[Evidence]) -> dict:
    """What was verified live, and what was only rendered or planned: said plainly."""
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
        "not_covered": ("Physical devices (firmware, disks, desktops), identity-realm settings and "
                        "restore tests are outside what hubkit can observe; those rows are manual."),
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
            "switch.ios_* items.")


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


def bundle(col, rows: list[Row], items: list[Evidence]) -> dict:
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
        "scope": scope(col, items),
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
    }


def _scrub(text: str, secrets: list[str]) -> tuple[str, int]:
    hits = 0
    for s in secrets:
        if s in text:
            hits += text.count(s)
            text = text.replace(s, REDACTED)
    return text, hits


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_audit(fleet_root: Path, hub_id: str, lab: bool = False, out: Path | None = None) -> AuditResult:
    from hubkit.audit.report import render_html

    fleet_root = Path(fleet_root)
    col = collect(fleet_root, hub_id, lab=lab)
    items = run_all(col.src) + col.live
    ids = [e.id for e in items]
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise HubkitError(f"duplicate evidence ids {dup}", "this is a bug in hubkit.audit.static")
    rows = build_rows(col.record.model, items)
    doc = bundle(col, rows, items)
    evidence_text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    svg_path = fleet_root / "build" / hub_id / "docs" / "topology.svg"
    svg = svg_path.read_text(encoding="utf-8") if svg_path.is_file() else None
    html = render_html(doc, rows, items, svg)
    # Defence in depth: no secret value may leave in a report, whatever a source contained.
    secrets = environment_secrets(fleet_root, hub_id)
    evidence_text, h1 = _scrub(evidence_text, secrets)
    html, h2 = _scrub(html, secrets)
    if h1 or h2:
        raise HubkitError(f"a secret of hub {hub_id} appeared in the audit sources ({h1 + h2} hit(s)); "
                          "nothing was written",
                          "find which record carries it (configure/verify output) and fix that part")
    out_dir = Path(out) / hub_id if out is not None else fleet_root / AUDIT_DIR / hub_id
    _write(out_dir / "evidence.json", evidence_text)
    _write(out_dir / "report.html", html)
    return AuditResult(hub_id, out_dir, rows, counts_of(rows))


__all__ = ["AuditResult", "run_audit", "build_rows", "link", "AUDIT_DIR"]
