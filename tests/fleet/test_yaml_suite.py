"""Every input of the public YAML test suite as a hub file: a clean result or
a located error, never a traceback or a hang.

CI places ``shared/`` beside the clone, i.e. at ``../shared`` from the repo root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from hubkit.errors import Finding
from hubkit.fleet.repo import load_fleet
from hubkit.rules import validate
from tests.fleet.conftest import REPO_ROOT

SUITE = REPO_ROOT.parent / "shared" / "testdata" / "yaml-test-suite"
# 350 test ids (the directory also holds README.md and License); some have
# numbered sub-cases: 402 inputs in all.
CASES = sorted(str(p.parent.relative_to(SUITE)) for p in SUITE.rglob("in.yaml")) \
    if SUITE.is_dir() else []
LOCATED = re.compile(r"^(fleet\.yaml|hubs/[^:]+\.yaml|regions/[^:]+\.yaml):\d+:\d+: error HK\d{3}: ")

pytestmark = pytest.mark.skipif(not CASES, reason=f"YAML test suite not found at {SUITE} "
                                "(CI copies shared/ beside the clone)")


def test_suite_is_complete():
    assert len({c.split("/")[0] for c in CASES}) == 350
    assert len(CASES) == 402


def test_every_suite_input_in_process(fleet):
    """load_fleet + validate on all 352 inputs; each finding is located."""
    hub = fleet / "hubs" / "t.yaml"
    errors = 0
    for case in CASES:
        shutil.copyfile(SUITE / case / "in.yaml", hub)
        found = validate(load_fleet(fleet), ["t"])  # any exception fails the test
        assert all(isinstance(f, Finding) and f.origin is not None for f in found), case
        for f in found:
            assert f.origin.line >= 1 and f.origin.col >= 1, (case, f)
        errors += any(f.code < "HK010" for f in found)  # YAML-level, not schema
    # Sanity: the suite contains both kinds of input.
    assert 0 < errors < len(CASES)


# Every 80th input, plus a few known error cases (tabs, bad indentation, invalid escapes).
SAMPLE = sorted(set(CASES[::80]) | {c for c in ("DK95/00", "ZVH3", "55WF", "4EJS") if c in CASES})


@pytest.mark.parametrize("case", SAMPLE, ids=[c.replace("/", "-") for c in SAMPLE])
def test_suite_sample_through_cli(fleet, case):
    shutil.copyfile(SUITE / case / "in.yaml", fleet / "hubs" / "t.yaml")
    env = dict(os.environ, CI="true", HUBKIT_FLEET=str(fleet))
    r = subprocess.run([sys.executable, "-c", "from hubkit.cli import main; main()", "validate", "t"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode in (0, 1)
    for line in r.stdout.splitlines():
        assert LOCATED.match(line), line
    assert (r.returncode == 1) == bool(r.stdout)
