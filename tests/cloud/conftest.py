"""Fixtures for the cloud tests: example fleets in tmp_path, plans, hubs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubkit.fleet.repo import load_fleet

@pytest.fixture
def fleet(fleet_root):
    return load_fleet(fleet_root)


@pytest.fixture(scope="session")
def example_hubs():
    from hubkit.paths import EXAMPLE_FLEET
    f = load_fleet(EXAMPLE_FLEET)
    return {hid: rec.model for hid, rec in sorted(f.hubs.items())}


@pytest.fixture(scope="session")
def zeitz(example_hubs):
    return example_hubs["zeitz"]


@pytest.fixture
def tree_snapshot():
    return snapshot


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root (dirs too) with a content hash for files."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out
