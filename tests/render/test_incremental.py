"""Incremental render: hubs whose inputs are unchanged are skipped, and nothing stale survives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubkit import render
from hubkit.fleet.repo import load_fleet
from hubkit.render import tree
from hubkit.render.env import environment


def _inodes(build: Path) -> dict[str, int]:
    return {d.name: d.stat().st_ino for d in build.iterdir() if not d.name.startswith(".")}


def _render(root: Path, **kw):
    return {r.hub: r for r in render.render_fleet(load_fleet(root), all_hubs=True, **kw)}


def _check(root: Path, **kw):
    return {r.hub: r for r in render.check_fleet(load_fleet(root), all_hubs=True, **kw)}


def test_second_render_skips_every_hub_and_touches_nothing(fleet_root):
    first = _render(fleet_root)
    assert all(r.written and not r.skipped for r in first.values())
    before = _inodes(fleet_root / "build")
    second = _render(fleet_root)
    assert all(r.skipped and not r.written for r in second.values()), second
    assert _inodes(fleet_root / "build") == before
    assert all(r.skipped and not r.differs for r in _check(fleet_root).values())


def test_one_changed_hub_is_the_only_one_rewritten_and_matches_a_full_render(fleet_root, tmp_path):
    _render(fleet_root)
    before = _inodes(fleet_root / "build")
    hub = fleet_root / "hubs" / "zeitz.yaml"
    hub.write_text(hub.read_text().replace("venue: Co-working space, ground floor", "venue: First floor"))
    assert {h for h, r in _check(fleet_root).items() if r.differs} == {"zeitz"}
    res = _render(fleet_root)
    assert [h for h, r in res.items() if r.written] == ["zeitz"]
    assert [h for h, r in res.items() if r.skipped] == ["naumburg", "wittenberg"]
    after = _inodes(fleet_root / "build")
    assert [h for h in before if before[h] != after[h]] == ["zeitz"]
    # Byte-identical to a full render from scratch.
    full = tmp_path / "full"
    render.render_fleet(load_fleet(fleet_root), all_hubs=True, out=full, force=True)
    for h in before:
        assert tree.read_tree(fleet_root / "build" / h) == tree.read_tree(full / h), h


def test_a_changed_template_invalidates_every_hub(fleet_root, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, templates)
    _render(fleet_root, template_dir=templates)
    assert all(r.skipped for r in _render(fleet_root, template_dir=templates).values())
    handbook = templates / "docs" / "handbook.md.j2"
    handbook.write_text(handbook.read_text() + "\nOne more line.\n")
    render.fingerprint.cache_clear()
    environment.cache_clear()  # one process never sees a template change; a new CLI run does
    res = _render(fleet_root, template_dir=templates)
    assert all(r.written and not r.skipped for r in res.values())
    assert all((fleet_root / "build" / h / "docs/handbook.md").read_text().rstrip().endswith("One more line.")
               for h in res)


def test_the_input_hash_covers_hubkit_version_and_public_key(fleet_root, monkeypatch):
    _render(fleet_root)
    old = json.loads((fleet_root / "build/zeitz/manifest.json").read_text())["input_hash"]
    (fleet_root / "secrets").mkdir()
    (fleet_root / "secrets" / "zeitz.pub").write_text("kTpA1Mz1mXvTqEuS4GVhSCPU/BRm3V2/bXbmMUWC/jU=\n")
    res = _render(fleet_root)
    assert res["zeitz"].written and res["naumburg"].skipped
    assert res["zeitz"].input_hash != old
    monkeypatch.setattr(render, "__version__", "99.0.0")
    render.fingerprint.cache_clear()
    try:
        assert not any(r.skipped for r in _check(fleet_root).values())
    finally:
        render.fingerprint.cache_clear()


@pytest.mark.parametrize("tamper", ["edit", "delete", "extra", "manifest"])
def test_a_hand_edited_tree_is_never_taken_as_up_to_date(fleet_root, tamper):
    _render(fleet_root)
    tree_dir = fleet_root / "build" / "zeitz"
    nft = tree_dir / "hosts/zeitz-rt01/etc/nftables.conf"
    if tamper == "edit":
        nft.write_text(nft.read_text().replace("policy drop", "policy accept", 1))
    elif tamper == "delete":
        nft.unlink()
    elif tamper == "extra":
        (tree_dir / "hosts/zeitz-rt01/etc/extra.conf").write_text("x\n")
    else:
        (tree_dir / "manifest.json").write_text("{not json")
    checked = _check(fleet_root)
    assert checked["zeitz"].differs and not checked["zeitz"].skipped
    assert checked["naumburg"].skipped
    res = _render(fleet_root)
    assert res["zeitz"].written
    assert tree.verify_manifest(tree_dir) == []
    assert "policy drop" in nft.read_text()


def test_force_renders_every_hub_without_rewriting_identical_trees(fleet_root):
    _render(fleet_root)
    before = _inodes(fleet_root / "build")
    res = _render(fleet_root, force=True)
    assert not any(r.skipped or r.written for r in res.values())
    assert _inodes(fleet_root / "build") == before


def test_cli_reports_skipped_hubs(fleet_root, hk):
    assert hk("render", "--all").exit_code == 0
    r = hk("render", "--check", "--all", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert [h["skipped"] for h in doc["hubs"]] == [True, True, True]
    r = hk("render", "--all")
    assert "up to date (inputs unchanged, files match the manifest)" in r.output
