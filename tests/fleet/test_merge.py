"""Layering (defaults → region → hub) with provenance, `_remove`, and explain chains."""

from __future__ import annotations

import pytest

from hubkit.errors import UsageError
from hubkit.fleet.explain import explain
from hubkit.fleet.merge import chain, locate, merge_layers
from hubkit.fleet.repo import load_fleet
from hubkit.fleet.yamlload import load_text, plain

BASE = """\
a:
  x: 1
  y: {deep: 1, keep: k}
lst: [1, 2]
workstations:
  - {hostname: w1, segment: staff}
  - {hostname: w2, segment: staff}
staff:
  - {username: u1, full_name: One}
gone: 1
"""

OVER = """\
a:
  y: {deep: 2}
  z: 3
lst: [9]
workstations:
  - {hostname: w2, segment: guest}
  - {hostname: w3, segment: staff}
  - {hostname: w1, _remove: true}
staff:
  - {username: u2, full_name: Two}
gone: {_remove: true}
"""


def merged():
    return merge_layers([load_text(BASE, "base.yaml"), load_text(OVER, "over.yaml")])


def test_maps_merge_deeply_and_lists_replace():
    m = plain(merged())
    assert m["a"] == {"x": 1, "y": {"deep": 2, "keep": "k"}, "z": 3}
    assert m["lst"] == [9]
    assert "gone" not in m


def test_keyed_lists_merge_by_key_and_remove_items():
    m = plain(merged())
    assert m["workstations"] == [{"hostname": "w2", "segment": "guest"},
                                 {"hostname": "w3", "segment": "staff"}]
    assert [s["username"] for s in m["staff"]] == ["u1", "u2"]


def test_every_leaf_remembers_its_origin():
    t = merged()
    assert str(locate(t, ("a", "x"))) == "base.yaml:2:6"
    assert str(locate(t, ("a", "y", "keep"))) == "base.yaml:3:22"
    assert str(locate(t, ("a", "y", "deep"))) == "over.yaml:2:13"
    assert str(locate(t, ("lst", 0))) == "over.yaml:4:7"
    assert str(locate(t, ("workstations", 0, "segment"))) == "over.yaml:6:29"
    assert str(locate(t, ("workstations", 0, "hostname"))) == "over.yaml:6:16"
    assert str(locate(t, ("staff", 0, "full_name"))) == "base.yaml:9:31"


def test_chain_lists_every_layer_oldest_first():
    t = merged()
    assert [str(o) for o in chain(t, ("a", "y", "deep"))] == ["base.yaml:3:13", "over.yaml:2:13"]
    assert [str(o) for o in chain(t, ("a", "x"))] == ["base.yaml:2:6"]
    # A keyed item overridden by a later layer keeps the earlier item's origin.
    assert [str(o) for o in chain(t, ("workstations", 0))] == ["base.yaml:7:5", "over.yaml:6:5"]


def test_inputs_are_not_mutated():
    base = load_text(BASE, "base.yaml")
    before = plain(base)
    merge_layers([base, load_text(OVER, "over.yaml")])
    assert plain(base) == before


def test_remove_with_nothing_to_remove_is_dropped():
    t = merge_layers([load_text("a: 1\n", "b.yaml"),
                      load_text("x: {y: {_remove: true}, z: 1}\n"
                                "workstations: [{hostname: w9, _remove: true}]\n", "o.yaml")])
    assert plain(t) == {"a": 1, "x": {"z": 1}, "workstations": []}


def test_remove_next_to_other_keys_is_not_a_remove():
    """`{_remove: true, vlan: 5}` is kept so the schema names the stray key."""
    t = merge_layers([load_text("s: {vlan: 1}\n", "b.yaml"),
                      load_text("s: {_remove: true, vlan: 5}\n", "o.yaml")])
    assert plain(t) == {"s": {"vlan": 5, "_remove": True}}


def test_removed_then_readded_keyed_item():
    t = merge_layers([load_text("staff: [{username: a, full_name: A}]\n", "b.yaml"),
                      load_text("staff: [{username: a, _remove: true}, {username: a, full_name: B}]\n",
                                "o.yaml")])
    assert plain(t)["staff"] == [{"username": "a", "full_name": "B"}]


# --- on the example fleet -----------------------------------------------------------------

def test_region_layer_overrides_defaults(fleet):
    ex = explain(load_fleet(fleet).hub("zeitz"), "services.central.dns_suffix")
    assert ex.value == "hubs.sachsen-anhalt.example.org"
    assert [o.file for o in ex.chain] == ["fleet.yaml", "regions/sachsen-anhalt.yaml"]


def test_explain_three_layers(fleet):
    region = fleet / "regions/sachsen-anhalt.yaml"
    region.write_text(region.read_text() + "switch:\n  ports: 16\n")
    hub = fleet / "hubs/zeitz.yaml"
    hub.write_text(hub.read_text().replace("  hostname: zeitz-sw01\n",
                                           "  hostname: zeitz-sw01\n  ports: 48\n"))
    ex = explain(load_fleet(fleet).hub("zeitz"), "switch.ports")
    assert ex.value == 48
    assert [o.file for o in ex.chain] == ["fleet.yaml", "regions/sachsen-anhalt.yaml",
                                          "hubs/zeitz.yaml"]
    n = len(region.read_text().splitlines())
    assert str(ex.chain[1]) == f"regions/sachsen-anhalt.yaml:{n}:10"


def test_explain_keyed_item_by_key(fleet):
    region = fleet / "regions/sachsen-anhalt.yaml"
    region.write_text(region.read_text() +
                      "workstations:\n  - {hostname: zeitz-ws04, segment: guest}\n")
    rec = load_fleet(fleet).hub("zeitz")
    ex = explain(rec, "workstations.zeitz-ws04.segment")
    assert ex.value == "staff"
    assert [o.file for o in ex.chain] == ["regions/sachsen-anhalt.yaml", "hubs/zeitz.yaml"]
    item = explain(rec, "workstations.zeitz-ws04")
    assert item.value == {"hostname": "zeitz-ws04", "segment": "staff"}
    assert [o.file for o in item.chain] == ["regions/sachsen-anhalt.yaml", "hubs/zeitz.yaml"]
    assert explain(rec, "staff.0.role").value == "lead"


def test_remove_segment_inherited_from_region(fleet):
    region = fleet / "regions/sachsen-anhalt.yaml"
    region.write_text(region.read_text() + "events:\n  - {name: Kulturtag, date: 2027-01-01}\n"
                      "  - {name: Regional, date: 2027-02-02}\n")
    hub = fleet / "hubs/naumburg.yaml"
    hub.write_text(hub.read_text() + "events:\n  - {name: Regional, _remove: true}\n")
    rec = load_fleet(fleet).hub("naumburg")
    assert [e.name for e in rec.model.events] == ["Kulturtag"]


@pytest.mark.parametrize("key,hint", [("network.nope", "keys here"), ("workstations.nope", "index"),
                                      ("workplaces.x", None), ("", "e.g.")])
def test_explain_unknown_paths_are_usage_errors(fleet, key, hint):
    with pytest.raises(UsageError) as e:
        explain(load_fleet(fleet).hub("zeitz"), key)
    assert e.value.exit_code == 2
    if hint:
        assert hint in (e.value.hint or "")
