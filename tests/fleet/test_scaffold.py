"""`init` and `new`: example fleet, scaffolded hub files, no overwrites."""

from __future__ import annotations

import pytest

from hubkit.errors import HubkitError, UsageError
from hubkit.fleet.repo import load_fleet
from hubkit.rules import validate
from hubkit.scaffold import init_fleet, new_hub
from tests.fleet.conftest import snapshot


def test_init_writes_a_valid_example_fleet(tmp_path):
    files = init_fleet(tmp_path / "f")
    assert "fleet.yaml" in files and "hubs/zeitz.yaml" in files
    f = load_fleet(tmp_path / "f")
    assert sorted(f.hubs) == ["naumburg", "wittenberg", "zeitz"]
    zeitz = f.hubs["zeitz"].model
    assert zeitz.workplaces == 5
    assert set(zeitz.network.segments) == {"staff", "guest", "devices", "mgmt"}
    assert any(e.name == "CodingDay" and e.guest_network for e in zeitz.events)
    assert validate(f) == []


def test_init_into_empty_dir_is_fine(tmp_path):
    (tmp_path / "f").mkdir()
    assert init_fleet(tmp_path / "f")


def test_init_refuses_non_empty_path(tmp_path):
    target = tmp_path / "f"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(UsageError) as e:
        init_fleet(target)
    assert e.value.exit_code == 2
    assert snapshot(target) == {"notes.txt": snapshot(target)["notes.txt"]}
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temp dir left behind


def test_init_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError):
        init_fleet(tmp_path / "f")


def test_new_writes_commented_valid_file(fleet):
    path = new_hub(load_fleet(fleet), "querfurt", 'DigitalHub "Q" Querfurt', "Querfurt", 3,
                   "sachsen-anhalt")
    text = path.read_text()
    assert text.startswith("# DigitalHub")
    assert sum(1 for ln in text.splitlines() if ln.lstrip().startswith("#")) >= 5
    f = load_fleet(fleet)
    assert validate(f) == []
    m = f.hubs["querfurt"].model
    assert m.name == 'DigitalHub "Q" Querfurt'
    assert [w.hostname for w in m.workstations] == ["querfurt-ws01", "querfurt-ws02", "querfurt-ws03"]
    assert m.services.dns_zone == "querfurt.hubs.sachsen-anhalt.example.org"
    assert str(m.network.site_prefix) == "10.64.12.0/22"
    assert [p.name for p in (fleet / "hubs").iterdir() if p.name.startswith(".")] == []


def test_successive_hubs_get_distinct_addresses(fleet):
    for i in range(4):
        new_hub(load_fleet(fleet), f"h{i}", f"Hub {i}", "Town", 1 + i, None)
    f = load_fleet(fleet)
    assert validate(f) == []
    prefixes = [f.hubs[f"h{i}"].model.network.site_prefix for i in range(4)]
    tunnels = [f.hubs[f"h{i}"].model.vpn.tunnel_address for i in range(4)]
    assert len(set(prefixes)) == 4 and len(set(tunnels)) == 4
    assert [str(p) for p in prefixes] == ["10.64.12.0/22", "10.64.16.0/22",
                                          "10.64.20.0/22", "10.64.24.0/22"]


def test_new_never_overwrites(fleet):
    before = snapshot(fleet)
    with pytest.raises(UsageError) as e:
        new_hub(load_fleet(fleet), "zeitz", "Z", "Z", 1, None)
    assert "already exists" in e.value.message
    assert snapshot(fleet) == before


@pytest.mark.parametrize("hub_id,region", [("Bad_Id", None), ("ok", "../fleet"), ("ok", "nowhere")])
def test_new_rejects_bad_id_or_region(fleet, hub_id, region):
    before = snapshot(fleet)
    with pytest.raises(UsageError):
        new_hub(load_fleet(fleet), hub_id, "N", "M", 1, region)
    assert snapshot(fleet) == before


def test_new_refuses_while_a_hub_file_is_unreadable(fleet):
    (fleet / "hubs/broken.yaml").write_text("network: [\n")
    before = snapshot(fleet)
    with pytest.raises(HubkitError) as e:
        new_hub(load_fleet(fleet), "x", "X", "M", 1, None)
    assert "hubs/broken.yaml" in e.value.message and e.value.exit_code == 1
    assert snapshot(fleet) == before


def test_single_hub_fleet_keeps_only_the_renamed_hub(tmp_path):
    from hubkit.fleet.repo import load_fleet
    from hubkit.rules import validate
    from hubkit.scaffold import init_single_hub_fleet

    root = init_single_hub_fleet(tmp_path / "f", "hkx-zeitz")
    fleet = load_fleet(root)
    assert sorted(fleet.hubs) == ["hkx-zeitz"]
    assert fleet.hubs["hkx-zeitz"].model.municipality == "Zeitz"
    assert validate(fleet) == []


def test_new_documents_the_router_interfaces_and_the_example_is_valid(fleet):
    """The commented `router.interfaces` example, uncommented, validates and means what it says."""
    path = new_hub(load_fleet(fleet), "querfurt", "Q", "Querfurt", 2, None)
    text = path.read_text()
    block = [ln for ln in text.splitlines() if ln.startswith("  #   ") or ln == "  # interfaces:"]
    assert len(block) == 4, text
    path.write_text(text.replace("\n".join(block), "\n".join(ln.replace("# ", "", 1) for ln in block)))
    f = load_fleet(fleet)
    assert validate(f) == []
    ifaces = f.hubs["querfurt"].model.router.interfaces
    assert (ifaces.uplink, ifaces.trunk) == ("enp1s0", "enp2s0")
    assert ifaces.segments == {name: f"enp2s0.{seg.vlan}"
                               for name, seg in f.hubs["querfurt"].model.network.segments.items()}
    assert "# dialect: linux-bridge (default) or cisco-ios" in text
