"""The installed wheel opens a hub in the lab: render, configure, verify and audit run from
the package's own files, with only its declared dependencies.

The opening is the session's factory lab (tests/bootstrap/factorylab.py): Zeitz from a fleet
the wheel's own `hubkit init` wrote, opened by the wheel's `hubkit open --lab --factory
--yes` from a directory that is not the checkout.  The bootstrap tests share it (CI time);
what this test reads was kept when the opening ended.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_installed_wheel_opens_a_hub_in_the_lab_to_a_green_audit(factory_lab):
    r = factory_lab["open"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "Traceback" not in out
    doc = factory_lab["evidence"]
    assert [row["id"] for row in doc["bsi"] if row["status"] == "fail"] == []
    assert doc["verify"]["result"]["summary"]["failed"] == 0
    assert doc["verify"]["result"]["summary"]["passed"] > 100
    # configure ran every host's tasks, the staff accounts included (password_hash needs passlib).
    recap = factory_lab["recap"]
    assert recap["rc"] == 0 and recap["failed_hosts"] == []
    assert len(recap["hosts"]) == 8  # router, switch, five workstations, the data centre's core
