"""The report in headless chromium: the BSI table and the topology are there and drawn."""

from __future__ import annotations

import re

import pytest

from hubkit.audit import run_audit

from . import browser

pytestmark = pytest.mark.slow

PASS_GREEN = (0x1A, 0x7F, 0x37)   # the pass badge
WAN_YELLOW = (0xFE, 0xFC, 0xBF)   # the WAN box of the rendered topology


@pytest.fixture
def report(rendered):
    if browser.chromium() is None:
        pytest.fail("chromium is missing: run 'bash .ci/setup' (APT_PACKAGES has chromium)")
    return run_audit(rendered, "zeitz").report


def test_dom_has_bsi_table_and_topology(report, tmp_path):
    dom = browser.dump_dom(report, tmp_path / "profile")
    table = dom[dom.index('id="bsi-table"'):]
    assert len(re.findall(r'<tr id="check-\d+"', table)) == 26
    assert re.search(r'class="topology"><svg[^>]*viewBox=', dom)
    assert "zeitz-rt01" in dom and "Verified live" in dom


def test_screenshot_shows_table_and_topology(report, tmp_path):
    png = browser.screenshot(report, tmp_path / "report.png", tmp_path / "profile")
    w, h, rows = browser.read_png(png)
    assert (w, h) == (1280, 3200)
    distinct = {row[x:x + 3] for row in rows[::40] for x in range(0, len(row), 3 * 16)}
    assert len(distinct) > 20, "blank screenshot"
    assert browser.has_color(rows, WAN_YELLOW), "topology not drawn"
    assert browser.has_color(rows, PASS_GREEN), "BSI status badges not drawn"
