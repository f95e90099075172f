"""What render produces for the example hubs: golden trees and real parsers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

from hubkit.fleet.repo import load_fleet
from hubkit.render import render_files, hub_context
from hubkit.render.tree import read_tree, verify_manifest
from tests.render.conftest import EXAMPLE_HUBS, GOLDEN

ALLOWED = re.compile(r"\{\{ (vault_[a-z0-9_]+|hubkit_vpn_peer_public_key) \}\}")


def _files(fleet_root, hub_id):
    fleet = load_fleet(fleet_root)
    return render_files(hub_context(fleet.hub(hub_id).model, fleet.root))


@pytest.mark.parametrize("hub_id", EXAMPLE_HUBS)
def test_golden(fleet_root, hub_id):
    """Regenerate with: HUBKIT_REGEN_GOLDEN=1 .venv/bin/pytest tests/render -k golden"""
    files = _files(fleet_root, hub_id)
    gold = GOLDEN / hub_id
    if os.environ.get("HUBKIT_REGEN_GOLDEN"):
        from hubkit.render.tree import write_tree
        write_tree(gold, files)
    want = read_tree(gold)
    assert sorted(files) == sorted(want), "file list differs from golden"
    for p in files:
        assert files[p] == want[p], f"{hub_id}/{p} differs from golden"


def test_render_cli_writes_complete_tree_and_second_run_changes_nothing(hk, fleet_root):
    r = hk("render", "zeitz", "--json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)["hubs"][0]
    assert first["written"] and first["files"] > 40
    build = fleet_root / "build" / "zeitz"
    assert verify_manifest(build) == []
    mtimes = {p: p.stat().st_mtime_ns for p in build.rglob("*")}
    r = hk("render", "zeitz", "--json")
    second = json.loads(r.output)["hubs"][0]
    assert not second["written"] and second["changed"] == [] and second["hash"] == first["hash"]
    assert {p: p.stat().st_mtime_ns for p in build.rglob("*")} == mtimes


def test_tree_layout_matches_contract(fleet_root):
    files = _files(fleet_root, "zeitz")
    for p in ("manifest.json", "inventory/hosts.yml", "inventory/group_vars/all.yml",
              "inventory/host_vars/zeitz-rt01.yml", "inventory/host_vars/zeitz-ws01.yml",
              "inventory/host_vars/dc-core.yml", "hosts/zeitz-rt01/etc/nftables.conf",
              "hosts/zeitz-rt01/etc/dnsmasq.d/hubkit.conf", "hosts/zeitz-rt01/etc/wireguard/wg0.conf",
              "hosts/dc-core/etc/wireguard/peers/zeitz.conf", "switch/linux-bridge.json",
              "switch/cisco-ios.cfg", "pulumi/Pulumi.zeitz.yaml", "docs/handbook.md",
              "docs/handbook.html", "docs/topology.svg"):
        assert p in files, p
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == {"files", "hubkit_version", "input_hash"}
    assert set(manifest["files"]) == set(files) - {"manifest.json"}


def test_inventory(fleet_root):
    files = _files(fleet_root, "zeitz")
    inv = yaml.safe_load(files["inventory/hosts.yml"])["all"]["children"]
    assert set(inv) == {"router", "switch", "workstations", "core"}
    assert inv["router"]["hosts"]["zeitz-rt01"]["ansible_host"] == "10.64.2.129"
    assert inv["switch"]["hosts"]["zeitz-sw01"]["ansible_host"] == "10.64.2.130"
    assert inv["workstations"]["hosts"]["zeitz-ws01"]["ansible_host"] == "10.64.0.11"
    # The concentrator at its management address from fleet.yaml, not the hub's uplink gateway.
    assert inv["core"]["hosts"]["dc-core"]["ansible_host"] == "10.0.0.1"
    gv = yaml.safe_load(files["inventory/group_vars/all.yml"])
    # Complete for a real site: who connects, become, strict host keys against the fleet's record.
    assert gv["ansible_user"] == "op-lange" and gv["ansible_become"] is True
    assert "StrictHostKeyChecking=yes" in gv["ansible_ssh_common_args"]
    assert gv["hubkit_known_hosts"] == "{{ inventory_dir }}/../../../known_hosts/zeitz"
    assert [a["username"] for a in gv["hubkit_admins"]] == ["op-lange", "op-weber"]
    assert all(k.startswith("hubkit_") for k in gv if not k.startswith("ansible_"))
    assert gv["hubkit_vpn_peer_public_key"] == "D8Xi0knAWFoXtOMa8i24TN5lexSK9/cpwx1Jwki6pRM="
    hv = yaml.safe_load(files["inventory/host_vars/zeitz-ws01.yml"])
    assert hv["hubkit_assigned_user"] == "zz-lead" and hv["hubkit_segment"] == "staff"
    assert hv["hubkit_update_policy"] == "security" and hv["hubkit_ws_ntp_servers"] == ["10.64.0.1"]
    pul = yaml.safe_load(files["pulumi/Pulumi.zeitz.yaml"])
    from hubkit.model import Hub
    model = load_fleet(fleet_root).hub("zeitz").model
    assert Hub.model_validate(pul["config"]["hubkit-hub:hub"]) == model


def test_host_files_hold_only_allowed_placeholders(fleet_root):
    for hub_id in EXAMPLE_HUBS:
        for p, data in _files(fleet_root, hub_id).items():
            if p.startswith("hosts/"):
                text = ALLOWED.sub("", data.decode())
                assert "{{" not in text and "{%" not in text and "{#" not in text, p
    wg = _files(fleet_root, "zeitz")["hosts/zeitz-rt01/etc/wireguard/wg0.conf"].decode()
    assert "PrivateKey = {{ vault_wg_private_key }}" in wg
    assert "PublicKey = {{ hubkit_vpn_peer_public_key }}" in wg
    assert "AllowedIPs = 10.0.0.0/24, 10.255.0.1/32" in wg


def test_core_peer_uses_public_key_file_when_present(fleet_root):
    peer = _files(fleet_root, "zeitz")["hosts/dc-core/etc/wireguard/peers/zeitz.conf"].decode()
    assert "PublicKey = {{ vault_wg_public_key }}" in peer and "hubkit secrets init zeitz" in peer
    (fleet_root / "secrets").mkdir()
    (fleet_root / "secrets" / "zeitz.pub").write_text("PUBKEYPUBKEYPUBKEYPUBKEYPUBKEYPUBKEYPUBKEY0=\n")
    peer = _files(fleet_root, "zeitz")["hosts/dc-core/etc/wireguard/peers/zeitz.conf"].decode()
    assert "PublicKey = PUBKEYPUBKEYPUBKEYPUBKEYPUBKEYPUBKEYPUBKEY0=" in peer
    assert "AllowedIPs = 10.255.0.2/32, 10.64.0.0/22" in peer


def test_nftables_policy(fleet_root):
    nft = _files(fleet_root, "zeitz")["hosts/zeitz-rt01/etc/nftables.conf"].decode()
    assert "flush ruleset" in nft
    assert nft.count("policy drop;") == 2  # input and forward
    assert 'iifname "vl20" oifname "wan0"' in nft  # guest: WAN only
    assert not re.search(r'iifname "vl20" oifname "(wg0|vl\d+)"', nft)
    assert 'iifname "vl10" oifname "wg0" ip daddr { 10.0.0.0/24, 10.255.0.1/32 } accept' in nft
    assert 'iifname "vl99" ip saddr 10.64.2.128/27 tcp dport 22 accept' in nft
    assert nft.count("tcp dport 22") == 1
    assert 'oifname "wan0" masquerade' in nft and nft.count("masquerade") == 1
    assert 'ct state invalid log prefix' in nft


@pytest.mark.lab
@pytest.mark.parametrize("hub_id", EXAMPLE_HUBS)
def test_nft_syntax_in_netns(fleet_root, netns, hub_id, tmp_path):
    files = _files(fleet_root, hub_id)
    router = [p for p in files if p.endswith("/etc/nftables.conf")][0]
    conf = tmp_path / "nftables.conf"
    conf.write_bytes(files[router])
    r = subprocess.run(["ip", "netns", "exec", netns, "nft", "-c", "-f", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.lab
@pytest.mark.parametrize("hub_id", EXAMPLE_HUBS)
def test_dnsmasq_config_in_netns(fleet_root, netns, hub_id, tmp_path):
    files = _files(fleet_root, hub_id)
    path = [p for p in files if p.endswith("/etc/dnsmasq.d/hubkit.conf")][0]
    conf = tmp_path / "hubkit.conf"
    conf.write_bytes(files[path])
    # The segment interfaces exist, as on the router (veth: this kernel has no dummy module).
    for i, iface in enumerate(re.findall(r"^interface=(\S+)$", files[path].decode(), re.M)):
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "add", iface, "type", "veth",
                        "peer", "name", f"peer{i}"], check=True)
    r = subprocess.run(["ip", "netns", "exec", netns, "dnsmasq", "--test", "-C", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "syntax check OK" in r.stderr + r.stdout, r.stderr


def test_cisco_ios_structure(fleet_root):
    from ciscoconfparse2 import CiscoConfParse
    files = _files(fleet_root, "zeitz")
    parse = CiscoConfParse(files["switch/cisco-ios.cfg"].decode().splitlines())
    vlans = {o.text.split()[1]: [c.text.strip() for c in o.children]
             for o in parse.find_objects(r"^vlan \d+$")}
    assert vlans == {"10": ["name staff"], "20": ["name guest"], "30": ["name devices"],
                     "99": ["name mgmt"]}
    def ifc(n):
        [o] = parse.find_objects(rf"^interface GigabitEthernet1/0/{n}$")
        return [c.text.strip() for c in o.children]
    assert "switchport access vlan 10" in ifc(1) and "switchport mode access" in ifc(1)  # zeitz-ws01
    assert "switchport access vlan 20" in ifc(5)  # zeitz-gw01 (guest)
    assert "switchport access vlan 99" in ifc(6)  # engineer port
    trunk = ifc(24)
    assert "switchport mode trunk" in trunk and "switchport trunk allowed vlan 10,20,30,99" in trunk
    [svi] = parse.find_objects(r"^interface Vlan99$")
    assert "ip address 10.64.2.130 255.255.255.224" in [c.text.strip() for c in svi.children]
    ports = parse.find_objects(r"^interface GigabitEthernet")
    assert len(ports) == 24
    used = {1, 2, 3, 4, 5, 6, 24}
    for o in ports:
        n = int(o.text.rsplit("/", 1)[1])
        kids = [c.text.strip() for c in o.children]
        assert ("shutdown" in kids) == (n not in used), o.text
    text = files["switch/cisco-ios.cfg"].decode()
    assert "enable password" not in text and "transport input ssh" in text


def test_linux_bridge_model(fleet_root):
    doc = json.loads(_files(fleet_root, "zeitz")["switch/linux-bridge.json"])
    names = [b["name"] for b in doc["bridges"]]
    assert names == ["br-staff", "br-guest", "br-devices", "br-mgmt"]
    staff = doc["bridges"][0]
    assert [p["host"] for p in staff["access_ports"]] == ["zeitz-ws01", "zeitz-ws02", "zeitz-ws03", "zeitz-ws04"]
    assert staff["router_link"]["router_iface"] == "vl10"
    assert doc["mgmt"]["address"] == "10.64.2.130/27"


@pytest.mark.parametrize("hub_id", EXAMPLE_HUBS)
def test_svg_valid_and_names_every_host(fleet_root, hub_id):
    files = _files(fleet_root, hub_id)
    root = ET.fromstring(files["docs/topology.svg"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    inv = yaml.safe_load(files["inventory/hosts.yml"])["all"]["children"]
    hosts = [h for g in inv.values() for h in g["hosts"]]
    assert len(hosts) >= 4
    for h in hosts:
        assert h in texts, h


def test_handbook_html_is_escaped_and_names_only_usernames(fleet_root):
    hub_file = fleet_root / "hubs" / "zeitz.yaml"
    hub_file.write_text(hub_file.read_text().replace("venue: Co-working space, ground floor",
                                                     "venue: \"<script>alert(1)</script> & co\""))
    files = _files(fleet_root, "zeitz")
    html = files["docs/handbook.html"].decode()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; co" in html
    for doc in ("docs/handbook.html", "docs/handbook.md"):
        text = files[doc].decode()
        assert "zz-staff01" in text and "Staff Member One" not in text
        assert "10.64.1.0/24" in text and "Kulturtag" in text and "checklist" in text.lower()
