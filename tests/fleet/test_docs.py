"""docs/fleet.md stays in step with the code: every code and hub field is documented."""

from __future__ import annotations

from hubkit.fleet.codes import LOAD_CODES
from hubkit.model import Hub
from hubkit.rules import RULES
from tests.fleet.conftest import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "fleet.md").read_text()


def test_every_code_is_documented_with_its_hint():
    for r in RULES:
        assert f"| {r.code} |" in DOC and r.hint in DOC, r.code
    for code, (_, hint) in LOAD_CODES.items():
        assert f"| {code} |" in DOC and hint in DOC, code


def test_every_hub_field_is_documented():
    for name in Hub.model_fields:
        assert f"`{name}" in DOC, name
