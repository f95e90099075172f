"""Result model and its JSON, JUnit and text forms (no lab)."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from hubkit.verify.report import Check, VerifyResult, dumps, to_junit, to_text


def sample() -> VerifyResult:
    return VerifyResult("zeitz", [
        Check("zeitz-rt01", "router::test_default_deny", "passed", ("NET.3.2.A2",)),
        Check("zeitz-ws01", "common::test_sshd_no_password_auth", "failed", ("SYS.1.3.A8", "NET.3.2.A6"),
              "expected sshd passwordauthentication no, found passwordauthentication yes"),
        Check("hub", "probes::test_guest_cannot_reach[staff]", "error", ("NET.1.1.A5",),
              "cannot reach the host over ssh: Connection refused"),
        Check("zeitz-gw01", "common::test_chrony_synced", "skipped", ("OPS.1.1.5.A4",), "isolated segment"),
    ])


def test_summary_and_ok():
    r = sample()
    assert r.summary == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}
    assert not r.ok
    assert VerifyResult("x", [Check("h", "a::b", "passed")]).ok
    # Nothing ran is not a success.
    assert not VerifyResult("x", []).ok


def test_json_shape_is_the_contract():
    doc = json.loads(dumps(sample()))
    assert set(doc) == {"hub", "checks", "summary"}
    assert set(doc["summary"]) == {"passed", "failed", "error", "skipped"}
    for c in doc["checks"]:
        assert set(c) == {"id", "host", "status", "bsi", "message"}
        assert c["status"] in ("passed", "failed", "error", "skipped")
        assert isinstance(c["bsi"], list)
    # Stable order: by host, then id; hub probes sort like any host in JSON.
    keys = [(c["host"], c["id"]) for c in doc["checks"]]
    assert keys == sorted(keys)
    assert dumps(sample()) == dumps(sample())


def test_from_json_normalises():
    c = Check.from_json({"id": "a::b", "host": "h", "status": "weird", "bsi": ["B", "A", "A"]})
    assert c.status == "error" and c.bsi == ("A", "B") and c.message == ""


def test_junit_is_well_formed_with_bsi_properties():
    root = ET.fromstring(to_junit(sample()))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["zeitz-gw01", "zeitz-rt01", "zeitz-ws01", "hub"]
    ws = next(s for s in suites if s.get("name") == "zeitz-ws01")
    assert ws.get("failures") == "1" and ws.get("tests") == "1"
    case = ws.find("testcase")
    assert case.find("failure").get("message").startswith("expected sshd passwordauthentication no")
    assert sorted(p.get("value") for p in case.find("properties")) == ["NET.3.2.A6", "SYS.1.3.A8"]
    hub = next(s for s in suites if s.get("name") == "hub")
    assert hub.get("errors") == "1" and hub.find("testcase/error") is not None
    gw = next(s for s in suites if s.get("name") == "zeitz-gw01")
    assert gw.get("skipped") == "1"


def test_text_has_a_table_per_host_and_one_line_per_failure():
    text = to_text(sample())
    for host in ("zeitz-rt01", "zeitz-ws01", "zeitz-gw01", "hub"):
        assert f"\n{host}\n" in f"\n{text}"
    lines = text.splitlines()
    fail_lines = [ln for ln in lines[lines.index("failed checks:") + 1:] if ln.startswith("  ")]
    assert fail_lines == [
        "  zeitz-ws01 common::test_sshd_no_password_auth: expected sshd passwordauthentication no, "
        "found passwordauthentication yes",
        "  hub probes::test_guest_cannot_reach[staff]: cannot reach the host over ssh: Connection refused",
    ]
    assert lines[-1] == "zeitz: 1 passed, 1 failed, 1 error, 1 skipped"
