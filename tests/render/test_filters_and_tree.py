"""Unit tests: address filters, the YAML emitter, and leftovers of an interrupted swap."""

from __future__ import annotations

import ipaddress
import os

import pytest
import yaml

from hubkit.render import filters as f
from hubkit.render.tree import read_tree, recover, verify_manifest, write_tree, manifest_bytes


def test_address_filters():
    assert f.ip("10.64.2.129/27") == "10.64.2.129"
    assert f.ip(ipaddress.IPv4Interface("10.0.0.1/24")) == "10.0.0.1"
    assert f.prefixlen("10.64.2.128/27") == 27
    assert f.netmask("10.64.2.128/27") == "255.255.255.224"
    assert f.network("10.64.0.9/24") == "10.64.0.0/24"
    assert f.host32("10.255.0.1") == "10.255.0.1/32"
    assert f.nth_host("10.64.0.0/24", 1) == "10.64.0.1"
    assert f.nth_host("10.64.0.0/24", 254) == "10.64.0.254"
    assert f.nth_host("10.0.0.0/31", 2) == "10.0.0.1"
    with pytest.raises(ValueError):
        f.nth_host("10.64.0.0/24", 255)
    with pytest.raises(ValueError):
        f.ip("not-an-address")
    assert f.nft_set(f.quoted(["vl10", "vl20"])) == '{ "vl10", "vl20" }'


@pytest.mark.parametrize("value", [
    {"a": [1, 2, {"b": None, "c": True, "d": "yes", "e": "10.0.0.1/24"}], "on": [], "x": {}},
    [{"k": "v"}, [1, [2]], "multi\nline", "quote\"s", "ünï", 1.5, False],
    {"zeitz-rt01": {"ansible_host": "10.0.0.1"}, "/etc/x.conf": "nftables", "007": "08"},
])
def test_to_yaml_round_trips(value):
    text = f.to_yaml(value)
    assert yaml.safe_load(text) == value
    assert f.to_yaml(value) == text  # stable


def test_to_yaml_sorts_keys():
    assert f.to_yaml({"b": 1, "a": 2}) == "a: 2\nb: 1"


def _tree(root, files):
    write_tree(root, {**files, "manifest.json": manifest_bytes(files, "t", "h")})


def test_recover_restores_old_tree_after_kill_between_renames(tmp_path):
    target = tmp_path / "zeitz"
    _tree(target, {"a.txt": b"1\n"})
    os.rename(target, tmp_path / ".zeitz.old")  # as if killed after rename-aside
    (tmp_path / ".zeitz.tmp-x").mkdir()
    recover(target)
    assert verify_manifest(target) == [] and read_tree(target)["a.txt"] == b"1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zeitz"]


def test_recover_drops_old_when_new_tree_is_in_place(tmp_path):
    target = tmp_path / "zeitz"
    _tree(target, {"a.txt": b"new\n"})
    (tmp_path / ".zeitz.old").mkdir()
    recover(target)
    assert read_tree(target)["a.txt"] == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zeitz"]


def test_write_tree_replaces_whole_tree(tmp_path):
    target = tmp_path / "zeitz"
    _tree(target, {"a.txt": b"1\n", "d/b.txt": b"2\n"})
    _tree(target, {"c.txt": b"3\n"})
    assert sorted(read_tree(target)) == ["c.txt", "manifest.json"]
    assert verify_manifest(target) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zeitz"]


def test_recover_root_cleans_only_selected_hubs(tmp_path):
    from hubkit.render.tree import recover_root
    _tree(tmp_path / "a", {"x": b"1"})
    os.rename(tmp_path / "a", tmp_path / ".a.old")
    (tmp_path / ".b.tmp-123").mkdir()
    (tmp_path / ".c.tmp-9").mkdir()
    recover_root(tmp_path, ["a", "b"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.tmp-9", "a"]
    assert verify_manifest(tmp_path / "a") == []


def test_plain_data_environment_looks_up_keys_like_jinja(tmp_path):
    """Keys first for dicts, but dict methods, objects and missing keys behave as in Jinja."""
    import jinja2

    from hubkit.render.env import RenderError, environment, render_context, render_template
    (tmp_path / "t.j2").write_text("{{ d.name }} {{ d.items() | list | length }} {{ o.real }}\n")
    (tmp_path / "missing.j2").write_text("ok\n{{ d.nope }}\n")
    ctx = {"d": {"name": "rt01", "items": "shadowed"}, "o": 3}
    assert render_template(tmp_path, "t.j2", ctx, "h") == "rt01 2 3\n"
    assert isinstance(environment(str(tmp_path)), jinja2.Environment)
    shared = render_context(tmp_path, ctx)
    assert render_template(tmp_path, "t.j2", shared, "h", shared=True) == "rt01 2 3\n"
    assert "range" in shared and "range" not in ctx  # Jinja's globals stay available
    with pytest.raises(RenderError, match=r"missing\.j2:2:1: .*nope.* hub h"):
        render_template(tmp_path, "missing.j2", shared, "h", shared=True)


def test_to_yaml_quotes_strings_exactly_like_json():
    import json

    import yaml

    from hubkit.render.filters import to_yaml
    data = {"plain": "a b", "quote": 'say "hi"', "ctrl": "tab\there\nnl", "umlaut": "Zeitz Süd", "on": "yes",
            "1x": [None, True, 1.5, "é\\"]}
    text = to_yaml(data)
    assert yaml.safe_load(text) == data
    assert '"say \\"hi\\""' in text and json.dumps("Zeitz Süd", ensure_ascii=False) in text
