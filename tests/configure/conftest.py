"""Fixtures of the configure tests.

Lab ids are hub ids, so the test fleet renames Zeitz (labkit.SHARED_HUB): the
tests never touch a lab an engineer runs.  One converged lab is shared by the
whole session, with the verify and hardening lab tests; tests that break
something repair it before they end.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hubkit.scaffold import init_single_hub_fleet
from tests.verify import labkit

HUBKIT = str(Path(sys.executable).with_name("hubkit"))
LAB_HUB = labkit.SHARED_HUB
VAULT_PASSWORD = labkit.SHARED_VAULT_PASSWORD


def make_fleet(root: Path) -> Path:
    return init_single_hub_fleet(root, LAB_HUB)


def hubkit(fleet: Path, *args: str, check: bool = False, env: dict | None = None,
           timeout: float = 1800) -> subprocess.CompletedProcess:
    e = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": VAULT_PASSWORD, **(env or {})}
    r = subprocess.run([HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"hubkit {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def configure_json(fleet: Path, *args: str) -> tuple[int, dict, str]:
    r = hubkit(fleet, "configure", LAB_HUB, "--lab", "--json", *args)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"configure --json printed no JSON (exit {r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}") from None
    return r.returncode, doc, r.stderr


@pytest.fixture()
def rendered_fleet(tmp_path) -> Path:
    """A fleet with secrets and a render of the test hub (no lab)."""
    fleet = make_fleet(tmp_path / "fleet")
    hubkit(fleet, "secrets", "init", LAB_HUB, check=True)
    hubkit(fleet, "render", LAB_HUB, check=True)
    return fleet


@pytest.fixture(scope="session")
def converged_lab(zeitz_lab):
    """The session's shared converged lab (tests/conftest.py ``zeitz_lab``)."""
    from hubkit import lab
    return {"fleet": zeitz_lab.fleet, "first": zeitz_lab.first_run, "info": lab.load(LAB_HUB)}


def lab_exec(host: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``cmd`` as root on a lab host (over SSH from the mgmt netns, with sudo)."""
    from hubkit import lab
    info = lab.load(LAB_HUB)
    # One quoted string: ssh hands it to the remote shell, which must not split it.
    r = subprocess.run(info.ssh(host, shlex.join(["sudo", *cmd])), capture_output=True, text=True,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{host}: {' '.join(cmd)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def netns_of(host: str) -> str:
    from hubkit import lab
    return lab.load(LAB_HUB).host(host)["netns"]
