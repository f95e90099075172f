"""IPAM: next free site prefix, segment plan, tunnel address, determinism, exhaustion."""

from __future__ import annotations

import ipaddress as ip

import pytest

from hubkit import ipam
from hubkit.fleet.repo import load_fleet

N = ip.IPv4Network


def plan_of(fleet):
    return {n: s.prefix_length for n, s in fleet.config.segment_plan.items()}


def test_next_free_site_prefix_skips_used_ones(fleet):
    f = load_fleet(fleet)
    a = ipam.allocate(f, plan_of(f))
    # Example hubs use 10.64.0.0/22, .4.0/22 and .8.0/22.
    assert a.site_prefix == N("10.64.12.0/22")
    assert a.segments == {"staff": N("10.64.12.0/24"), "guest": N("10.64.13.0/24"),
                          "devices": N("10.64.14.0/25"), "mgmt": N("10.64.14.128/27")}
    # .1 is the concentrator, .2-.4 the example hubs.
    assert a.tunnel_address == ip.IPv4Interface("10.255.0.5/24")


def test_allocation_is_deterministic(fleet):
    f = load_fleet(fleet)
    assert ipam.allocate(f, plan_of(f)) == ipam.allocate(load_fleet(fleet), plan_of(f))


def test_gap_is_reused(fleet):
    (fleet / "hubs/naumburg.yaml").unlink()
    f = load_fleet(fleet)
    a = ipam.allocate(f, plan_of(f))
    assert a.site_prefix == N("10.64.4.0/22")
    assert a.tunnel_address == ip.IPv4Interface("10.255.0.3/24")


def test_invalid_hub_still_reserves_its_prefix(fleet):
    hub = fleet / "hubs/wittenberg.yaml"
    hub.write_text(hub.read_text().replace("workplaces: 4", "workplaces: many"))
    f = load_fleet(fleet)
    assert f.hubs["wittenberg"].model is None
    a = ipam.allocate(f, plan_of(f))
    assert a.site_prefix == N("10.64.12.0/22")
    assert a.tunnel_address.ip == ip.IPv4Address("10.255.0.5")


def test_segments_in_plan_order():
    segs = ipam.allocate_segments(N("10.1.0.0/22"), {"a": 27, "b": 24, "c": 25})
    assert segs == {"a": N("10.1.0.0/27"), "b": N("10.1.1.0/24"), "c": N("10.1.0.128/25")}


def test_segment_plan_that_does_not_fit_is_clear():
    with pytest.raises(ipam.PoolExhaustedError) as e:
        ipam.allocate_segments(N("10.1.0.0/24"), {"a": 24, "b": 25})
    assert "segment 'b'" in e.value.message and e.value.hint




def test_exhausted_site_pool_raises(fleet):
    cfg = fleet / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("sites: 10.64.0.0/12", "sites: 10.64.0.0/20"))
    f = load_fleet(fleet)
    with pytest.raises(ipam.PoolExhaustedError) as e:
        ipam.allocate(f, plan_of(f), extra_used=[N("10.64.12.0/22")])
    assert "pool 10.64.0.0/20 has no free /22 left" in e.value.message
    assert "fleet.yaml" in e.value.hint and e.value.exit_code == 1


def test_exhausted_tunnel_pool_raises():
    pool = N("10.255.0.0/30")  # hosts .1 and .2
    with pytest.raises(ipam.PoolExhaustedError) as e:
        ipam.allocate_tunnel(pool, [ip.IPv4Address("10.255.0.2")], [ip.IPv4Address("10.255.0.1")])
    assert "vpn_transfer" in e.value.hint


def test_prefix_length_outside_pool_is_clear():
    with pytest.raises(ipam.HubkitError):
        ipam.first_free(N("10.0.0.0/24"), 16, [], "site prefix")
    with pytest.raises(ipam.HubkitError):
        ipam.first_free(N("10.0.0.0/24"), 33, [], "site prefix")
