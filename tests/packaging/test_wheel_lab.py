"""The installed wheel opens a hub in the lab: render, configure, verify and audit
run from the package's own files, with only its declared dependencies."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]
HUB = "hkwh-zeitz"  # never an engineer's own lab of the example hub


@pytest.fixture
def wheel_fleet(installed, outside):
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("lab tests need root on Linux")
    from hubkit.lab import image
    if image.current() is None:
        pytest.fail("no lab base image: run 'bash .ci/setup --lab' (hubkit lab image build) first")
    installed("init", "fleet")
    root = outside / "fleet"
    hubs = root / "hubs"
    text = (hubs / "zeitz.yaml").read_text()
    for f in hubs.glob("*.yaml"):
        f.unlink()
    (hubs / f"{HUB}.yaml").write_text(re.sub(r"(?m)^id: zeitz$", f"id: {HUB}", text))
    yield root
    installed("--fleet", str(root), "lab", "down", HUB, check=False)


def test_installed_wheel_opens_a_hub_in_the_lab_to_a_green_audit(installed, wheel_fleet):
    env = {"CI": "true", "HUBKIT_VAULT_PASSWORD": "wheel-test-vault-pw-0d1f"}
    r = installed("--fleet", str(wheel_fleet), "open", HUB, "--lab", "--yes", env=env, check=False,
                  timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "Traceback" not in out
    doc = json.loads((wheel_fleet / "audit" / HUB / "evidence.json").read_text())
    assert [row["id"] for row in doc["bsi"] if row["status"] == "fail"] == []
    assert doc["verify"]["result"]["summary"]["failed"] == 0
    assert doc["verify"]["result"]["summary"]["passed"] > 100
    # configure ran every host's tasks, the staff accounts included (password_hash needs passlib).
    recap = json.loads((wheel_fleet / ".hubkit" / "runs" / HUB / "configure.json").read_text())
    assert recap["rc"] == 0 and recap["failed_hosts"] == []
    assert len(recap["hosts"]) == 8  # router, switch, five workstations, the data centre's core
