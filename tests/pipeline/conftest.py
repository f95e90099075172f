"""Fixtures for the pipeline/audit tests: a rendered example fleet with canary secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


HUBKIT = str(Path(sys.executable).with_name("hubkit"))
# A recognisable vault password: it must never show up in any output.
CANARY_PASSWORD = "canary-vault-pw-7Qx9Zt"


def no_network() -> list[str]:
    """argv prefix that runs a command in a fresh network namespace with no links: a step that
    would contact a real site's hosts fails at once instead of sending anything."""
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (unshare -n)")
    return prefix


def hubkit(fleet: Path, *args: str, env: dict | None = None, stdin=subprocess.DEVNULL,
           check: bool = False, offline: bool = False) -> subprocess.CompletedProcess:
    """Run the hubkit CLI; ``offline`` runs it without any network (see no_network)."""
    full = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": CANARY_PASSWORD, **(env or {})}
    prefix = no_network() if offline else []
    r = subprocess.run([*prefix, HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True,
                       env=full, stdin=stdin)
    if check and r.returncode != 0:
        raise AssertionError(f"hubkit {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def secret_values(fleet: Path, hub_id: str) -> list[str]:
    from hubkit.secrets import load_secrets
    data = load_secrets(fleet, hub_id, CANARY_PASSWORD)
    vals = [data["vault_wg_private_key"], *data["vault_staff_passwords"].values(), CANARY_PASSWORD]
    assert all(len(v) >= 16 for v in vals)
    return vals


def all_text_under(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "secrets" not in p.relative_to(root).parts:
            out[str(p.relative_to(root))] = p.read_bytes().decode("utf-8", errors="replace")
    return out


def require_lab():
    """Skip without root on Linux; fail without the lab base image (CI builds it in .ci/setup)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("lab tests need root on Linux")
    from hubkit.lab import image
    if image.current() is None:
        pytest.fail("no lab base image: run 'bash .ci/setup --lab' (hubkit lab image build) first")


@pytest.fixture
def vault_env(monkeypatch):
    monkeypatch.setenv("HUBKIT_VAULT_PASSWORD", CANARY_PASSWORD)
    monkeypatch.setenv("CI", "true")


@pytest.fixture
def rendered(fleet_root, vault_env) -> Path:
    """The example fleet with zeitz's secrets created and zeitz rendered."""
    from hubkit import secrets
    from hubkit.fleet.repo import load_fleet
    from hubkit.render import render_fleet
    hub = load_fleet(fleet_root).hub("zeitz").model
    secrets.init_secrets(fleet_root, "zeitz", [m.username for m in hub.staff], CANARY_PASSWORD)
    render_fleet(load_fleet(fleet_root), ["zeitz"])
    return fleet_root
