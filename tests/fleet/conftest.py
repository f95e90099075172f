"""Helpers for fleet tests: write hub files and snapshot a fleet tree."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hubkit.fleet.repo import load_fleet
from hubkit.rules import validate

REPO_ROOT = Path(__file__).resolve().parents[2]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256: proves a command wrote nothing."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def findings_of(root: Path, *ids: str):
    return validate(load_fleet(root), ids)


def codes_at(findings) -> list[tuple[str, str]]:
    return [(f.code, str(f.origin)) for f in findings]


@pytest.fixture
def write(fleet):
    """write("hubs/x.yaml", text) into the example fleet; returns the path."""
    def _write(rel: str, text: str | bytes) -> Path:
        p = fleet / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        return p
    return _write
