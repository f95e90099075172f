"""The benchmarks' generated fleet stays valid: a benchmark of a fleet that fails validation
measures an error path, not the work (bench/validate_fleet.py and bench/render_fleet.py use it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hubkit.fleet.repo import load_fleet
from hubkit.rules import validate

BENCH = Path(__file__).resolve().parents[2] / "bench" / "validate_fleet.py"


def test_generated_benchmark_fleet_validates_clean(tmp_path):
    spec = importlib.util.spec_from_file_location("validate_fleet", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.generate(tmp_path / "fleet", 4)
    found = validate(load_fleet(tmp_path / "fleet"))
    assert [f.format() for f in found] == []
