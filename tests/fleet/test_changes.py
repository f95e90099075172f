"""--changed-since: which hubs a change touches, and what validate/list do with them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hubkit.errors import UsageError
from hubkit.fleet.changes import changed_hubs
from hubkit.fleet.repo import load_fleet


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(fleet_root) -> Path:
    _git(fleet_root, "init", "-q")
    _git(fleet_root, "add", "-A")
    _git(fleet_root, "commit", "-qm", "base")
    return fleet_root


def _changed(root: Path, ref: str = "HEAD") -> list[str]:
    return changed_hubs(load_fleet(root), ref)


def test_nothing_changed(repo):
    assert _changed(repo) == []


def test_a_hub_file_change_selects_that_hub_committed_or_not(repo):
    f = repo / "hubs/zeitz.yaml"
    f.write_text(f.read_text().replace("workplaces: 5", "workplaces: 6"))
    assert _changed(repo) == ["zeitz"]
    _git(repo, "commit", "-qam", "zeitz: 6 workplaces")
    assert _changed(repo, "HEAD~1") == ["zeitz"]
    assert _changed(repo) == []


def test_fleet_yaml_feeds_every_hub_and_a_region_its_hubs(repo):
    region = repo / "regions/sachsen-anhalt.yaml"
    region.write_text(region.read_text() + "\n# a comment is a change too\n")
    in_region = sorted(r.id for r in load_fleet(repo).hubs.values()
                       if "regions/sachsen-anhalt.yaml" in r.layers)
    assert in_region and _changed(repo) == in_region
    _git(repo, "checkout", "-q", ".")
    (repo / "fleet.yaml").write_text((repo / "fleet.yaml").read_text() + "\n# change\n")
    assert _changed(repo) == ["naumburg", "wittenberg", "zeitz"]


def test_untracked_hub_and_public_key_count(repo):
    (repo / "secrets").mkdir()
    (repo / "secrets/naumburg.pub").write_text("kTpA1Mz1mXvTqEuS4GVhSCPU/BRm3V2/bXbmMUWC/jU=\n")
    text = (repo / "hubs/zeitz.yaml").read_text()
    (repo / "hubs/querfurt.yaml").write_text(text.replace("id: zeitz", "id: querfurt"))
    assert _changed(repo) == ["naumburg", "querfurt"]


def test_unknown_ref_and_no_git_checkout_are_usage_errors(repo, tmp_path):
    with pytest.raises(UsageError, match="unknown git ref 'no-such-branch'"):
        _changed(repo, "no-such-branch")
    with pytest.raises(UsageError, match="not a git ref"):
        _changed(repo, "--output=/tmp/x")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "fleet.yaml").write_text((repo / "fleet.yaml").read_text())
    with pytest.raises(UsageError, match="not inside a git checkout"):
        _changed(plain)


def test_validate_changed_since_keeps_fleet_wide_rules(repo, run_cli):
    """zeitz changes to naumburg's prefix: the overlap is reported for the changed hub,
    though naumburg itself did not change."""
    naumburg = load_fleet(repo).hub("naumburg").model.network
    z = repo / "hubs/zeitz.yaml"
    text = z.read_text().replace("site_prefix: 10.64.0.0/22", f"site_prefix: {naumburg.site_prefix}")
    z.write_text(text)
    r = run_cli(repo, "validate", "--changed-since", "HEAD", "--format", "json")
    doc = json.loads(r.output)
    assert r.exit_code == 1
    assert doc["hubs"] == ["zeitz"]
    assert any(f["hub"] == "zeitz" and f["file"] == "hubs/zeitz.yaml" for f in doc["findings"])
    r = run_cli(repo, "list", "-q", "--changed-since", "HEAD")
    assert r.output.split() == ["zeitz"]


def test_validate_changed_since_with_nothing_changed(repo, run_cli):
    r = run_cli(repo, "validate", "--changed-since", "HEAD", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"findings": [], "hubs": [], "ok": True}
    r = run_cli(repo, "validate", "zeitz", "--changed-since", "HEAD")
    assert r.exit_code == 2


def test_codequality_report(fleet_root, run_cli):
    z = fleet_root / "hubs/zeitz.yaml"
    z.write_text(z.read_text().replace("workplaces: 5", "workplaces: 0"))
    r = run_cli(fleet_root, "validate", "--format", "codequality")
    assert r.exit_code == 1
    [item] = json.loads(r.output)
    assert item["check_name"] == "HK010" and item["severity"] == "major"
    line = next(i for i, t in enumerate(z.read_text().splitlines(), 1) if t.startswith("workplaces"))
    assert item["location"] == {"path": "hubs/zeitz.yaml", "lines": {"begin": line}}
    assert len(item["fingerprint"]) == 64
