"""Fixtures for render tests: a fresh example fleet per test and a CLI runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner


HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
EXAMPLE_HUBS = ("naumburg", "wittenberg", "zeitz")


@pytest.fixture
def hk(fleet_root):
    """Run the hubkit CLI in-process on the example fleet: hk('render', 'zeitz')."""
    from hubkit.cli import cli

    def run(*args, env=None):
        return CliRunner().invoke(cli, ["--fleet", str(fleet_root), *args], env=env or {},
                                  catch_exceptions=False)
    return run


@pytest.fixture
def netns():
    """A throwaway network namespace (root only), removed afterwards."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 missing")
    name = "hk-rtest-" + str(abs(hash(str(Path.cwd()))) % 10000)
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
