"""Fast unit tests (no root): wiring plan, ledger, image key, artifacts, prerequisite errors."""

from __future__ import annotations

import ipaddress
import json
import os
import stat

import pytest
import yaml

from hubkit import topology
from hubkit.errors import PrerequisiteError
from hubkit.fleet.repo import load_fleet
from hubkit.lab import artifacts, image, prereq, state, wiring


@pytest.fixture
def zeitz(fleet):
    rec = load_fleet(fleet).hub("zeitz")
    topo = topology.build(rec.model)
    return rec.model, topo, wiring.plan(topo, "hk-zeitz", rec.model.network.site_prefix,
                                        rec.model.vpn.core_networks)


def test_plan_wires_the_hubs_interface_names_one_link_per_segment(fleet):
    """naumburg puts its segments on a trunk; the lab (no 802.1Q here) gives each VLAN
    interface a link of its own under the same name, and the uplink its NIC name."""
    hub = load_fleet(fleet).hub("naumburg").model
    topo = topology.build(hub)
    p = wiring.plan(topo, "hk-naumburg", hub.network.site_prefix, hub.vpn.core_networks)
    router = p.node(topo.router.name)
    core = p.node(topo.core.name)
    from_router = sorted((l.a, l.b_ns, l.b) for l in p.links if l.a_ns == router.netns)
    assert from_router == sorted(
        [("enp1s0", core.netns, "eth0")]
        + [(s.router_iface, "hk-naumburg-sw01", f"up{s.vlan}") for s in topo.segments.values()])
    assert [i for i, _ in router.addresses] == ["enp2s0.10", "enp2s0.30", "enp2s0.99", "enp1s0"]
    assert "enp2s0" not in {i for l in p.links for i in (l.a, l.b)}  # the trunk port itself is not wired


def test_plan_takes_every_address_from_topology(zeitz):
    hub, topo, p = zeitz
    nodes = {n.name: n for n in p.nodes}
    router = nodes[topo.router.name]
    for seg in topo.segments.values():
        assert (seg.router_iface, str(seg.router_address)) in router.addresses
    assert ("wan0", str(topo.wan_router)) in router.addresses
    assert router.forwarding and not any(n.forwarding for n in p.nodes if n is not router)
    for ws in topo.workstations:
        n = nodes[ws.name]
        assert n.addresses == [("eth0", str(ws.address))]
        assert n.routes == [("default", str(topo.segments[ws.segment].router_address.ip))]
    mgmt = next(n for n in p.nodes if n.role == "mgmt")
    assert mgmt.addresses == [("eth0", str(topo.mgmt_host.address))] and not mgmt.boots
    assert nodes[topo.switch.name].addresses == [("br-mgmt", str(topo.switch.address))]


def test_switch_bridges_and_access_ports(zeitz):
    _hub, topo, p = zeitz
    sw = next(n for n in p.nodes if n.role == "switch")
    assert sorted(sw.bridges) == sorted(f"br-{s}" for s in topo.segments)
    ports = dict(sw.masters)
    for ws in topo.workstations:
        assert ports[f"p{ws.switch_port:02d}"] == f"br-{ws.segment}"
    assert ports[f"p{topo.mgmt_host.switch_port:02d}"] == "br-mgmt"


def test_core_holds_central_addresses_and_routes_back(zeitz):
    hub, topo, p = zeitz
    core = next(n for n in p.nodes if n.role == "core")
    addrs = {a for _i, a in core.addresses}
    assert str(topo.core.address) in addrs
    for a in topo.central_addresses:
        assert f"{a}/32" in addrs
    for net in hub.vpn.core_networks:
        assert f"{next(net.hosts())}/{net.prefixlen}" in addrs
    assert core.routes == [(str(hub.network.site_prefix), str(topo.wan_router.ip))]


def test_links_stay_between_lab_netns_and_names_fit(zeitz):
    _hub, _topo, p = zeitz
    names = {n.netns for n in p.nodes}
    for link in p.links:
        assert link.a_ns in names and link.b_ns in names
        assert len(link.a) <= 15 and len(link.b) <= 15
    assert len(names) == len(p.nodes)
    assert all(n.startswith("hk-zeitz-") for n in names)


def test_ledger_records_before_and_survives_reload(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "RUN", tmp_path)
    st = state.State("x")
    st.record("netns", "hk-x-a")
    st.record("netns", "hk-x-a")  # recorded once
    st.record("links", ["hk-x-a", "eth0", "hk-x-b", "swp1"])
    again = state.State.load("x")
    assert again.get("netns") == ["hk-x-a"]
    assert again.get("links") == [["hk-x-a", "eth0", "hk-x-b", "swp1"]]
    assert json.loads((tmp_path / "x" / "state.json").read_text())["phase"] == "creating"
    assert [s["id"] for s in state.all_states()] == ["x"]


def test_image_key_depends_on_package_list(monkeypatch):
    h = image.image_hash()
    monkeypatch.setattr(image, "PACKAGES", image.PACKAGES + ["tcpdump"])
    assert image.image_hash() != h
    for pkg in ("openssh-server", "python3-apt", "systemd", "wireguard-go", "dnsmasq", "chrony"):
        assert pkg in image.PACKAGES


def test_mirror_read_from_deb822(tmp_path, monkeypatch):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://sec.invalid/x\nSuites: bookworm-security\n")
    real = image.Path

    def fake(p, *a):
        p = str(p)
        if p.startswith("/etc/apt/"):
            return real(str(tmp_path) + p[len("/etc/apt"):], *a)
        return real(p, *a)
    monkeypatch.setattr(image, "Path", fake)
    assert image.mirror() == "http://mirror.invalid/debian"


def test_artifacts_inventory_and_keys(tmp_path):
    wg_key, wg_pub = artifacts.wg_keypair(tmp_path)
    assert stat.S_IMODE(os.stat(wg_key).st_mode) == 0o600
    assert artifacts.wg_keypair(tmp_path)[1] == wg_pub  # stable once generated
    inv = artifacts.inventory(tmp_path, "ssh-ed25519 AAAA lab", [("r1", "router", "10.0.0.1"),
                                                                 ("w1", "workstation", "10.0.1.11")], wg_pub, wg_key)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    groups = hosts["all"]["children"]
    assert set(groups) == {"router", "switch", "workstations", "core"}
    assert groups["workstations"]["hosts"]["w1"] == {"ansible_host": "10.0.1.11"}
    gv = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    assert gv["hubkit_lab"] is True and gv["hubkit_lab_ssh_public_key"] == "ssh-ed25519 AAAA lab"
    assert gv["hubkit_vpn_peer_public_key"] == wg_pub
    # Connection details and the lab's own variables only: user and become come from the render.
    assert set(gv) <= set(artifacts.CONNECTION_VARS + artifacts.LAB_VARS)
    assert "StrictHostKeyChecking=yes" in gv["ansible_ssh_common_args"]
    assert f"UserKnownHostsFile={tmp_path / 'site_known_hosts'}" in gv["ansible_ssh_common_args"]
    # No SSH master for Ansible: under Mitogen it kept the hosts' interpreters alive after a run.
    assert "ControlMaster" not in gv["ansible_ssh_common_args"]
    assert "ControlPersist" not in gv["ansible_ssh_common_args"]
    assert wg_key.read_text().strip() not in (inv / "group_vars" / "all.yml").read_text()


def test_not_root_is_a_prerequisite_error(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError) as e:
        prereq.require_root()
    assert e.value.exit_code == 3 and "sudo" in e.value.hint


def test_missing_tool_names_package(monkeypatch):
    monkeypatch.setattr(prereq.shutil, "which", lambda t: None if t == "ip" else "/usr/bin/" + t)
    with pytest.raises(PrerequisiteError) as e:
        prereq.require_tools()
    assert "iproute2" in e.value.hint


def test_cli_status_of_unknown_lab_exits_3(run_cli, fleet, monkeypatch, tmp_path):
    monkeypatch.setattr(state, "RUN", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    r = run_cli(fleet, "lab", "status", "nosuchlab")
    assert r.exit_code == 3
    assert "hubkit lab up nosuchlab" in r.output
    assert "Traceback" not in r.output


def test_cli_not_root_exits_3(run_cli, fleet, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = run_cli(fleet, "lab", "up", "zeitz")
    assert r.exit_code == 3 and "root" in r.output


def test_addresses_are_cidr(zeitz):
    _hub, _topo, p = zeitz
    for n in p.nodes:
        for _iface, a in n.addresses:
            ipaddress.IPv4Interface(a)
            assert "/" in a


def test_cli_refuses_an_invalid_hub_with_its_findings(run_cli, fleet, monkeypatch, tmp_path):
    monkeypatch.setattr(state, "RUN", tmp_path / "run")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    hub = fleet / "hubs" / "zeitz.yaml"
    hub.write_text(hub.read_text().replace("segment: guest}", "segment: nosuchsegment}"))
    r = run_cli(fleet, "lab", "up", "zeitz")
    assert r.exit_code == 1, r.output
    assert "hubs/zeitz.yaml:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()  # nothing was created


def test_image_prune_keeps_current_and_in_use(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "CACHE", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(state, "RUN", tmp_path / "run")
    cur = image.image_hash()
    for h in (cur, "old0000000000000", "used000000000000"):
        (tmp_path / h / "rootfs").mkdir(parents=True)
        (tmp_path / h / "meta.json").write_text(json.dumps({"size_bytes": 1}))
    (tmp_path / ".tmp-dead-999999999").mkdir()  # a killed build (no such pid)
    st = state.State("somelab")
    st.set(image="used000000000000")
    assert image.status()["current_built"] is True
    removed = image.prune()
    assert sorted(removed) == [".tmp-dead-999999999", "old0000000000000"]
    assert (tmp_path / cur).is_dir() and (tmp_path / "used000000000000").is_dir()
    assert image.prune(all_images=True) == [cur]


def test_lab_lock_refuses_a_second_holder(tmp_path, monkeypatch):
    from hubkit.errors import LockedError
    monkeypatch.setattr(state, "LOCKS", tmp_path)
    with state.lab_lock("x"):
        with pytest.raises(LockedError) as e:
            with state.lab_lock("x"):
                pass
        assert str(os.getpid()) in e.value.message
    with state.lab_lock("x"):  # released
        pass


def test_mode_detection_forced_and_cached(tmp_path, monkeypatch):
    from hubkit.lab import hosts
    monkeypatch.setenv("HUBKIT_LAB_MODE", "chroot")
    assert hosts.detect_mode(tmp_path) == "chroot"
    monkeypatch.delenv("HUBKIT_LAB_MODE")
    monkeypatch.setattr(hosts, "PROBE_CACHE", tmp_path / "probe")
    (tmp_path / "probe").write_text(f"failed\n{tmp_path / 'img'}\n")
    assert hosts.nspawn_works(tmp_path / "img") is False  # cached verdict, no run
    monkeypatch.setattr(hosts.shutil, "which", lambda t: None)
    assert hosts.detect_mode(tmp_path / "img") == "chroot"
