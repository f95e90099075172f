"""Shared fixtures: an example fleet in tmp_path and a CLI runner helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hubkit.scaffold import init_fleet


@pytest.fixture
def fleet_root(tmp_path) -> Path:
    """A fresh copy of the bundled example fleet (zeitz, naumburg, wittenberg)."""
    root = tmp_path / "fleet"
    init_fleet(root)
    return root


@pytest.fixture
def fleet(fleet_root) -> Path:
    """The example fleet's root (tests/cloud overrides this with the loaded Fleet)."""
    return fleet_root


@pytest.fixture
def run_cli():
    """Run ``hubkit --fleet ROOT ARGS...`` in-process; returns click's Result."""
    from hubkit.cli import cli

    def run(root: Path | None, *args: str, env: dict | None = None):
        argv = (["--fleet", str(root)] if root is not None else []) + list(args)
        return CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def zeitz_lab(tmp_path_factory):
    """The session's one converged Zeitz lab (tests.verify.labkit.SHARED_HUB): configure, verify
    and hardening lab tests read it, and any test that breaks something repairs it before it ends."""
    from tests.verify import labkit
    yield from labkit.converged(tmp_path_factory, labkit.SHARED_HUB, labkit.SHARED_VAULT_PASSWORD)
