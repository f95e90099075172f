"""What the verify lab test modules share: prerequisites and a small driver for one lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HUBKIT = str(Path(sys.executable).with_name("hubkit"))


def prereqs():
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("lab tests need root on Linux")
    from hubkit.lab import image
    if image.current() is None:
        pytest.fail("no lab base image: run 'bash .ci/setup --lab' (hubkit lab image build) first")


class Lab:
    """One fleet and its hub's lab: run hubkit against it, commands on its hosts."""

    def __init__(self, fleet: Path, env: dict, hub: str):
        self.fleet, self.env, self.hub = fleet, env, hub

    def hubkit(self, *args, check=False) -> subprocess.CompletedProcess:
        r = subprocess.run([HUBKIT, "--fleet", str(self.fleet), *args], capture_output=True, text=True,
                           env=self.env, timeout=1800)
        if check and r.returncode != 0:
            raise AssertionError(f"hubkit {' '.join(args)} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def on(self, host: str, cmd: str) -> str:
        from hubkit.lab import exec_argv
        r = subprocess.run(exec_argv(self.hub, host, ["sudo", "sh", "-c", cmd]), capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"{host}: {cmd}: {r.stderr}"
        return r.stdout

    def verify(self, *args) -> tuple[int, dict]:
        r = self.hubkit("verify", self.hub, "--lab", "--json", *args)
        assert r.returncode in (0, 1), r.stdout + r.stderr
        return r.returncode, json.loads(r.stdout)

    def configure(self, *hosts) -> dict:
        """Converge (some hosts of) the lab; the run's --json record."""
        r = self.hubkit("configure", self.hub, "--lab", "--json",
                        *(["--limit", ",".join(hosts)] if hosts else []), check=True)
        return json.loads(r.stdout)


# The one converged Zeitz lab of the session (tests/conftest.py ``zeitz_lab``), shared by the
# configure, verify and hardening lab tests: each converge costs a minute or two of CI, and
# those tests only read the lab or repair what they break before they end.
SHARED_HUB = "hkzt-zeitz"
SHARED_VAULT_PASSWORD = "hkzt-test-vault-password"


def converged(tmp_path_factory, hub: str, vault_password: str | None = None):
    """Generator for a fixture: a fleet with the Zeitz example renamed ``hub``, its lab up and
    converged (the first run as ``lab.first_run`` = (rc, record, stderr), the record also as
    ``lab.first``), always taken down afterwards."""
    import secrets

    from hubkit import lab as hklab
    from hubkit.scaffold import init_single_hub_fleet
    prereqs()
    root = tmp_path_factory.mktemp(hub) / "fleet"
    init_single_hub_fleet(root, hub)
    pw = vault_password or secrets.token_urlsafe(16)
    lab = Lab(root, {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": pw}, hub)
    if hklab.load(hub) is not None:
        hklab.down(hub)  # a leftover of an interrupted run
    lab.hubkit("secrets", "init", hub, check=True)
    lab.hubkit("render", hub, check=True)
    lab.hubkit("lab", "up", hub, check=True)
    try:
        r = lab.hubkit("configure", hub, "--lab", "--json")
        try:
            lab.first = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"configure --json printed no JSON (exit {r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}") from None
        lab.first_run = (r.returncode, lab.first, r.stderr)
        yield lab
    finally:
        hklab.down(hub)
