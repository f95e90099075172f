"""Fixtures of the verify tests: toy suites run through the real runner, and (lab) one converged lab."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hubkit.scaffold import init_fleet


@pytest.fixture
def toy_fleet(tmp_path) -> Path:
    root = tmp_path / "fleet"
    init_fleet(root)
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def lab(zeitz_lab):
    """The lab tests' lab: the session's shared converged Zeitz lab (tests/conftest.py); every
    test that breaks something repairs it before it ends."""
    return zeitz_lab
