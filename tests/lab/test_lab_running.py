"""Read-only checks against the session lab (hklt-zeitz)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
import subprocess

import pytest
import yaml

from tests.lab.conftest import host_snapshot, hubkit

pytestmark = pytest.mark.lab

# Outside the lab: public addresses, the machine's own gateway region and private
# ranges no example hub uses.  Only routing state is asked (ip route get); nothing is sent.
OUTSIDE = ["8.8.8.8", "1.1.1.1", "192.0.2.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "10.200.0.1"]


def _host_default_gateway() -> list[str]:
    out = subprocess.run(["ip", "route", "show", "default"], capture_output=True, text=True).stdout
    return re.findall(r"via (\S+)", out)


def _ip(ns, *args):
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True)


def test_every_host_answers_ssh_with_its_hostname(zeitz_lab):
    info = zeitz_lab["info"]
    managed = [h for h in info.hosts if h["role"] != "mgmt"]
    assert len(managed) >= 8  # router, switch, 5 workstations, core
    for h in managed:
        r = subprocess.run(info.ssh(h["name"], "hostname"), capture_output=True, text=True, timeout=30)
        assert (r.returncode, r.stdout.strip()) == (0, h["name"]), r.stderr


def test_status_json_describes_the_lab(zeitz_lab):
    r = hubkit(zeitz_lab["fleet"], "lab", "status", zeitz_lab["id"], "--json", check=True)
    st = json.loads(r.stdout)
    roles = {h["role"] for h in st["hosts"]}
    assert roles == {"router", "switch", "workstation", "core", "mgmt"}
    for h in st["hosts"]:
        assert set(h) == {"name", "role", "netns", "mgmt_address", "addresses", "state", "mode"}
        assert h["state"] == ("up" if h["role"] == "mgmt" else "running")
        assert h["addresses"], h
        for a in h["addresses"]:
            ipaddress.IPv4Interface(a)
            assert "/" in a
        assert h["mgmt_address"] in [a.split("/")[0] for a in h["addresses"]]
    assert st["mode"] in ("nspawn", "chroot")
    assert os.path.isfile(st["ssh_config"]) and os.path.isdir(st["inventory"])


def test_no_lab_netns_has_a_route_out(zeitz_lab):
    info = zeitz_lab["info"]
    lab_ns = {h["netns"] for h in info.hosts}
    for ns in sorted(lab_ns):
        # Every interface in a lab netns is a lab link: its peer lives in a lab netns.
        ids = _ip(ns, "netns", "list-id").stdout
        peers = set(re.findall(r"iproute2 netns name: ([\w.-]+)\)", ids))
        assert peers <= lab_ns, f"{ns} sees foreign netns {peers - lab_ns}"
        links = _ip(ns, "-o", "-d", "link").stdout.splitlines()
        for line in links:
            name = line.split(":")[1].strip().split("@")[0]
            kind = "bridge" if " bridge " in line else "veth" if " veth " in line else "lo" if name == "lo" else "?"
            assert kind != "?", f"{ns}: unexpected interface {line[:120]}"
        lab_ifaces = {ln.split(":")[1].strip().split("@")[0] for ln in links} - {"lo"}
        for dst in OUTSIDE + _host_default_gateway():
            r = _ip(ns, "route", "get", dst)
            if r.returncode != 0:
                continue  # unreachable: fine
            dev = re.search(r" dev (\S+)", r.stdout).group(1)
            assert dev in lab_ifaces, f"{ns}: {dst} leaves via {dev}"


def test_host_routes_links_and_forwarding_unchanged(zeitz_lab):
    assert host_snapshot() == zeitz_lab["before"]


def test_only_the_router_forwards(zeitz_lab):
    for h in zeitz_lab["info"].hosts:
        r = subprocess.run(["ip", "netns", "exec", h["netns"], "cat", "/proc/sys/net/ipv4/ip_forward"],
                           capture_output=True, text=True)
        assert r.stdout.strip() == ("1" if h["role"] == "router" else "0"), h["name"]


def test_up_twice_is_a_noop(zeitz_lab):
    from hubkit.lab.state import State
    before = State.load(zeitz_lab["id"]).data
    r = hubkit(zeitz_lab["fleet"], "lab", "up", zeitz_lab["id"], check=True)
    assert "already up" in r.stdout
    after = State.load(zeitz_lab["id"]).data
    assert after == before  # same processes, netns, mounts


def test_artifacts(zeitz_lab):
    info = zeitz_lab["info"]
    inv = yaml.safe_load((info.inventory_dir / "hosts.yml").read_text())["all"]["children"]
    assert set(inv) == {"router", "switch", "workstations", "core"}
    by_name = {h["name"]: h for h in info.hosts}
    for group in inv.values():
        for name, hv in group["hosts"].items():
            assert hv == {"ansible_host": by_name[name]["mgmt_address"]}
    gv = yaml.safe_load((info.inventory_dir / "group_vars" / "all.yml").read_text())
    # User and become come from the rendered inventory; the overlay only connects.
    assert "ansible_user" not in gv and "ansible_become" not in gv and info.admin == "op-lange"
    assert gv["ansible_ssh_private_key_file"] == str(info.private_key)
    assert f"UserKnownHostsFile={info.site_known_hosts}" in gv["ansible_ssh_common_args"]
    assert stat.S_IMODE(os.stat(gv["hubkit_lab_core_wg_private_key_file"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(info.private_key).st_mode) == 0o600
    cfg = info.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in cfg and "ControlPersist" in cfg
    # Strict known_hosts: one entry per host key, for the name and the address.
    kh = info.known_hosts.read_text().splitlines()
    for h in info.hosts:
        if h["role"] != "mgmt":
            assert any(line.startswith(f"{h['name']},{h['mgmt_address']} ") for line in kh)
    keys = [line.split()[2] for line in kh]
    assert len(keys) == len(set(keys)), "hosts share an SSH host key"


def test_lab_exec_returns_the_command_exit_code(zeitz_lab):
    ws = next(h["name"] for h in zeitz_lab["info"].hosts if h["role"] == "workstation")
    r = hubkit(zeitz_lab["fleet"], "lab", "exec", zeitz_lab["id"], ws, "--", "sh", "-c", "exit 7")
    assert r.returncode == 7


def test_hosts_keep_cap_sys_time_dropped_and_run_systemd(zeitz_lab):
    info = zeitz_lab["info"]
    router = next(h["name"] for h in info.hosts if h["role"] == "router")
    r = subprocess.run(info.ssh(router, "grep CapBnd /proc/1/status; cat /proc/1/comm; "
                                        "cat /etc/machine-id"), capture_output=True, text=True, timeout=30)
    lines = r.stdout.split()
    capbnd = int(lines[1], 16)
    assert not capbnd & (1 << 25), "CAP_SYS_TIME must stay dropped"
    if info.mode == "nspawn":
        assert lines[2] == "systemd"
    assert re.fullmatch(r"[0-9a-f]{32}", lines[-1])


def test_api_netns_exec_runs_in_mgmt(zeitz_lab):
    info = zeitz_lab["info"]
    r = subprocess.run(info.netns_exec("ip", "-4", "-o", "addr", "show", "dev", "eth0"),
                       capture_output=True, text=True)
    mgmt = next(h for h in info.hosts if h["role"] == "mgmt")
    assert f" {mgmt['mgmt_address']}/" in r.stdout


def test_lab_inventory_matches_the_rendered_one(zeitz_lab):
    """Same groups, host names and ansible_host as render's inventory, except the core: the lab
    reaches its simulated data centre over the router's WAN, a site at fleet.yaml's management
    address (docs/lab.md, "What the lab does differently")."""
    fleet = zeitz_lab["fleet"]
    hubkit(fleet, "render", zeitz_lab["id"], check=True)
    rendered = next(fleet.rglob(f"build/{zeitz_lab['id']}/inventory/hosts.yml"))
    want = yaml.safe_load(rendered.read_text())
    got = yaml.safe_load((zeitz_lab["info"].inventory_dir / "hosts.yml").read_text())
    assert want["all"]["children"]["core"]["hosts"]["dc-core"] == {"ansible_host": "10.0.0.1"}
    assert got["all"]["children"]["core"]["hosts"]["dc-core"] == {"ansible_host": "203.0.113.1"}
    for tree in (want, got):
        del tree["all"]["children"]["core"]
    assert got == want


def test_only_the_core_reaps_dead_ssh_sessions(zeitz_lab):
    """dc-core's sshd probes idle clients (see hubkit.lab.lab.CORE_SSHD); hub hosts keep sshd's defaults."""
    info = zeitz_lab["info"]
    alive = {}
    for h in info.hosts:
        if h["role"] in ("core", "workstation"):
            r = subprocess.run(info.ssh(h["name"], "sudo sshd -T"), capture_output=True, text=True, timeout=30)
            t = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
            alive.setdefault(h["role"], set()).add((t.get("clientaliveinterval"), t.get("clientalivecountmax")))
    assert alive["core"] == {("10", "3")}
    assert alive["workstation"] == {("0", "3")}
