"""BSI mapping rules: a check without evidence never passes; evidence decides pass/fail."""

from __future__ import annotations

import pytest

from hubkit.audit import build_rows, link
from hubkit.audit.catalog import CHECKS
from hubkit.audit.model import FAIL, LIVE, MANUAL, NA, PASS, RENDERED, Check, Evidence, evaluate
from hubkit.fleet.repo import load_fleet
from hubkit.paths import EXAMPLE_FLEET


@pytest.fixture(scope="module")
def zeitz():
    return load_fleet(EXAMPLE_FLEET).hub("zeitz").model


def ev(id_, ok=True, kind=RENDERED, tags=()):
    return Evidence(id_, kind, ok, id_, tags=tuple(tags))


def test_catalog_has_the_26_checks_with_requirement_ids():
    assert [c.num for c in CHECKS] == list(range(1, 27))
    assert all(c.requirements and all("." in r for r in c.requirements) for c in CHECKS)
    # Every automatic check names evidence or verify tags; every manual one says what a human provides.
    assert all(c.evidence or c.tags for c in CHECKS)
    assert all(len(c.manual) > 30 for c in CHECKS if c.manual)


def test_no_evidence_never_passes(zeitz):
    rows = build_rows(zeitz, [])
    assert [r for r in rows if r.status == PASS] == []
    for r in rows:
        if r.status == MANUAL:
            assert r.note  # says what to provide
        assert r.status in (MANUAL, NA)


def test_all_passing_evidence_passes_and_one_failure_fails(zeitz):
    c = Check(99, "t", ("NET.3.2.A2",), evidence=("nft.default_deny",))
    assert evaluate(c, zeitz, [ev("nft.default_deny:input")]).status == PASS
    row = evaluate(c, zeitz, [ev("nft.default_deny:input"), ev("nft.default_deny:forward", ok=False)])
    assert row.status == FAIL and "nft.default_deny:forward" in row.note


def test_manual_part_keeps_row_manual_but_failures_still_fail(zeitz):
    c = Check(99, "t", ("CON.3.A2",), evidence=("plan.backup_versioning",), manual="restore test record")
    assert evaluate(c, zeitz, [ev("plan.backup_versioning")]).status == MANUAL
    assert evaluate(c, zeitz, [ev("plan.backup_versioning", ok=False)]).status == FAIL


def test_needs_live_rows_are_manual_on_rendered_evidence_only(zeitz):
    c = Check(99, "t", ("NET.1.1.A2",), evidence=("topology.rendered",), needs_live=True)
    assert evaluate(c, zeitz, [ev("topology.rendered")]).status == MANUAL
    live = ev("verify:hub:test_x", kind=LIVE, tags=("NET.1.1.A2",))
    assert evaluate(c, zeitz, [ev("topology.rendered"), live]).status == PASS


def test_not_applicable_needs_a_reason(zeitz):
    no_guest = zeitz.model_copy(update={"network": zeitz.network.model_copy(update={
        "segments": {k: v for k, v in zeitz.network.segments.items() if not v.isolated}})})
    row = evaluate(CHECKS[0], no_guest, [ev("nft.guest_isolated:guest")])
    assert row.status == NA and "no guest" in row.note


def test_verify_checks_link_by_bsi_tag_static_by_id():
    c = next(c for c in CHECKS if c.num == 4)
    items = [ev("verify:zeitz-rt01:test_policy", kind=LIVE, tags=("NET.3.2.A2",)),
             ev("verify:zeitz-rt01:test_other", kind=LIVE, tags=("SYS.2.1.A3",)),
             ev("nft.default_deny:input"), ev("nft.default_denyX"), ev("sshd.hardened:x")]
    assert [e.id for e in link(c, items)] == ["verify:zeitz-rt01:test_policy", "nft.default_deny:input"]


def test_every_bsi_tag_of_the_verify_suites_lands_in_a_row():
    import re

    from hubkit.paths import PLAYBOOKS
    used = set()
    for f in PLAYBOOKS.rglob("*.py"):
        for args in re.findall(r"mark\.bsi\(([^)]*)\)", f.read_text()):
            used |= set(re.findall(r'"([A-Z]+(?:\.\d+)+\.A\d+)"', args))
    assert used, "no BSI-tagged verify checks found"
    linked = {t for c in CHECKS for t in c.tags}
    assert sorted(used - linked) == []
