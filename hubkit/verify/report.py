"""Results of `hubkit verify`: the check record, and its JSON, JUnit and text forms.

The pytest processes write their outcomes through ``hubkit.verify.plugin`` as
JSON (never screen text); this module merges them and formats them.  All
output is deterministic: checks sorted by host then id, JSON with sorted keys,
no timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

STATUSES = ("passed", "failed", "error", "skipped")
# Probes are hub-wide: they are reported under this pseudo host.
HUB_HOST = "hub"


@dataclass(frozen=True, order=True)
class Check:
    host: str
    id: str
    status: str
    bsi: tuple[str, ...] = ()
    message: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "host": self.host, "status": self.status,
                "bsi": list(self.bsi), "message": self.message}

    @classmethod
    def from_json(cls, d: dict) -> Check:
        status = d.get("status", "error")
        if status not in STATUSES:
            status = "error"
        return cls(host=str(d.get("host", "")), id=str(d.get("id", "")), status=status,
                   bsi=tuple(sorted(set(d.get("bsi") or ()))), message=str(d.get("message") or ""))


@dataclass
class VerifyResult:
    hub_id: str
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self):
        self.checks = sorted(self.checks)

    @property
    def summary(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for c in self.checks:
            out[c.status] += 1
        return out

    @property
    def ok(self) -> bool:
        s = self.summary
        return s["failed"] == 0 and s["error"] == 0 and s["passed"] > 0

    def failed(self) -> list[Check]:
        """Failed and errored checks, hosts in table order (hub probes last)."""
        order = {h: i for i, h in enumerate(self.hosts())}
        bad = [c for c in self.checks if c.status in ("failed", "error")]
        return sorted(bad, key=lambda c: (order[c.host], c.id))

    def hosts(self) -> list[str]:
        return sorted({c.host for c in self.checks}, key=lambda h: (h == HUB_HOST, h))

    def to_json(self) -> dict:
        return {"hub": self.hub_id, "checks": [c.to_json() for c in self.checks],
                "summary": self.summary}


def dumps(result: VerifyResult) -> str:
    return json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n"


def to_junit(result: VerifyResult) -> str:
    """One <testsuite> per host; the BSI ids ride along as testcase properties."""
    root = ET.Element("testsuites", name=f"hubkit.verify.{result.hub_id}")
    for host in result.hosts():
        checks = [c for c in result.checks if c.host == host]
        counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
        suite = ET.SubElement(root, "testsuite", name=host, tests=str(len(checks)),
                              failures=str(counts["failed"]), errors=str(counts["error"]),
                              skipped=str(counts["skipped"]))
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=f"{result.hub_id}.{host}", name=c.id)
            props = ET.SubElement(case, "properties")
            for ref in c.bsi:
                ET.SubElement(props, "property", name="bsi", value=ref)
            if c.status == "failed":
                ET.SubElement(case, "failure", message=c.message, type="check").text = c.message
            elif c.status == "error":
                ET.SubElement(case, "error", message=c.message, type="error").text = c.message
            elif c.status == "skipped":
                ET.SubElement(case, "skipped", message=c.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_MARK = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}


def to_text(result: VerifyResult) -> str:
    """A table per host, then one 'expected X, found Y' line per failed check."""
    lines: list[str] = []
    for host in result.hosts():
        checks = [c for c in result.checks if c.host == host]
        width = max(len(c.id) for c in checks)
        lines.append(f"{host}")
        for c in checks:
            lines.append(f"  {_MARK[c.status]:<5} {c.id:<{width}}  {' '.join(c.bsi)}")
        lines.append("")
    bad = result.failed()
    if bad:
        lines.append("failed checks:")
        for c in bad:
            first = (c.message.strip().splitlines() or ["(no message)"])[0]
            lines.append(f"  {c.host} {c.id}: {first}")
        lines.append("")
    s = result.summary
    lines.append(f"{result.hub_id}: {s['passed']} passed, {s['failed']} failed, "
                 f"{s['error']} error, {s['skipped']} skipped")
    return "\n".join(lines) + "\n"
