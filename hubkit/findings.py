"""Findings in the formats CI systems read: text, JSON, JUnit XML, SARIF 2.1.0, GitLab Code Quality."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from hubkit import __version__
from hubkit.errors import Finding


def to_text(findings: list[Finding]) -> str:
    # A bad value in fleet.yaml or a region is found once per hub that
    # inherits it; in compiler-style text that is one line, printed once.
    return "".join(dict.fromkeys(f.format() + "\n" for f in findings))


def _as_dict(f: Finding) -> dict:
    d = {"code": f.code, "severity": f.severity, "message": f.message, "hint": f.hint, "hub": f.hub}
    if f.origin:
        d.update(file=f.origin.file, line=f.origin.line, col=f.origin.col)
    return d


def to_json(findings: list[Finding], hubs: list[str]) -> str:
    doc = {
        "ok": not findings,
        "hubs": sorted(hubs),
        "findings": [_as_dict(f) for f in findings],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def to_junit(findings: list[Finding], hubs: list[str]) -> str:
    """One test case per hub; fleet-level findings get their own case."""
    by_hub: dict[str, list[Finding]] = {h: [] for h in hubs}
    fleet_level = [f for f in findings if f.hub is None]
    for f in findings:
        if f.hub is not None:
            by_hub.setdefault(f.hub, []).append(f)
    cases = sorted(by_hub.items())
    if fleet_level:
        cases.insert(0, ("(fleet)", fleet_level))
    suite = ET.Element("testsuite", name="hubkit.validate", tests=str(len(cases)),
                       failures=str(sum(1 for _, fs in cases if fs)), errors="0", skipped="0")
    for name, fs in cases:
        case = ET.SubElement(suite, "testcase", classname="hubkit.validate", name=name)
        if fs:
            fail = ET.SubElement(case, "failure", message=f"{len(fs)} finding(s)", type="validation")
            fail.text = to_text(fs)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_sarif(findings: list[Finding], rules: list[tuple[str, str, str]]) -> str:
    """SARIF 2.1.0.  ``rules`` is (code, title, hint) for the driver's rule table."""
    known = {code for code, _, _ in rules}
    extra = sorted({f.code for f in findings} - known)
    table = [{"id": c, "shortDescription": {"text": t}, "help": {"text": h}} for c, t, h in rules]
    table += [{"id": c, "shortDescription": {"text": c}} for c in extra]
    index = {r["id"]: i for i, r in enumerate(table)}
    results = []
    for f in findings:
        res = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f.message + (f" (hint: {f.hint})" if f.hint else "")},
        }
        if f.origin:
            res["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": f.origin.file, "uriBaseId": "FLEETROOT"},
                "region": {"startLine": f.origin.line, "startColumn": f.origin.col},
            }}]
        results.append(res)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "hubkit", "version": __version__,
                                "informationUri": "https://example.invalid/hubkit",
                                "rules": table}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def to_codequality(findings: list[Finding]) -> str:
    """GitLab Code Quality report: findings shown inline in a merge request's diff."""
    import hashlib
    out = []
    for f in dict.fromkeys(findings):
        path = f.origin.file if f.origin else "fleet.yaml"
        line = f.origin.line if f.origin else 1
        text = f.message + (f" (hint: {f.hint})" if f.hint else "")
        key = f"{f.code}\0{path}\0{line}\0{f.origin.col if f.origin else 0}\0{f.message}"
        out.append({
            "check_name": f.code,
            "description": f"{f.code}: {text}",
            "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
            "severity": "major" if f.severity == "error" else "minor",
            "location": {"path": path, "lines": {"begin": line}},
        })
    return json.dumps(out, indent=2, sort_keys=True) + "\n"
