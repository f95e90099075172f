"""Lab test fixtures.

Lab ids are the hub ids, so the test fleet renames the example hubs
(``hklt-zeitz``, ``hklt-wittenberg``): the tests never touch a lab an
engineer runs on the same machine under the real hub id.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubkit.scaffold import init_renamed_fleet

HUBKIT = str(Path(sys.executable).with_name("hubkit"))
TEST_HUBS = {"zeitz": "hklt-zeitz", "wittenberg": "hklt-wittenberg"}


def make_fleet(root: Path) -> Path:
    return init_renamed_fleet(root, TEST_HUBS)


def hubkit(fleet: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    r = subprocess.run([HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"hubkit {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def lab_prereqs_or_skip() -> None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("lab tests need root on Linux")
    from hubkit.lab import image
    if image.current() is None:
        pytest.fail("no lab base image: run 'bash .ci/setup --lab' (hubkit lab image build) first")


def host_snapshot() -> dict:
    """The machine's own network state, which a lab must never change."""
    def out(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout
    return {"routes": out("ip", "route", "show", "table", "all"),
            "links": sorted(line.split(":")[1].strip().split("@")[0]
                            for line in out("ip", "-o", "link").splitlines()),
            "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text()}


@pytest.fixture(scope="session")
def lab_fleet(tmp_path_factory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("labfleet") / "fleet")


@pytest.fixture(scope="session")
def zeitz_lab(lab_fleet):
    """The read-only session lab: up once, down at the end."""
    lab_prereqs_or_skip()
    from hubkit import lab
    lab_id = TEST_HUBS["zeitz"]
    if lab.load(lab_id) is not None:
        lab.down(lab_id)  # a leftover of an earlier, interrupted test run
    before = host_snapshot()
    hubkit(lab_fleet, "lab", "up", lab_id, check=True)
    info = lab.load(lab_id)
    yield {"id": lab_id, "info": info, "before": before, "fleet": lab_fleet}
    lab.down(lab_id)
