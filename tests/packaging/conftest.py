"""The installed package (tests/wheelkit.py): the session's wheel and its clean virtualenv
(tests/conftest.py), driven from a directory that is not the checkout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.wheelkit import run_installed


@pytest.fixture(scope="session")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


@pytest.fixture
def outside(tmp_path) -> Path:
    """A working directory that is not the checkout."""
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def installed(venv, outside):
    """Run the installed `hubkit` (or another venv tool) from outside the checkout."""
    def run(*args: str, tool: str = "hubkit", env: dict | None = None, check: bool = True, timeout=900):
        return run_installed(venv, outside, *args, tool=tool, env=env, check=check, timeout=timeout)
    return run
