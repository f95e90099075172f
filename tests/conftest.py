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


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout (tests/wheelkit.py)."""
    from tests import wheelkit
    return wheelkit.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel and its declared dependencies only (no extras)."""
    from tests import wheelkit
    return wheelkit.make_venv(wheel, tmp_path_factory.mktemp("venv") / "v")


@pytest.fixture(scope="session")
def factory_lab(tmp_path_factory, venv):
    """Zeitz opened from factory state by the installed wheel (tests/bootstrap/factorylab.py):
    the bootstrap tests and the wheel's lab test share this one opening."""
    from tests.bootstrap import factorylab
    yield from factorylab.opened(tmp_path_factory, venv)
