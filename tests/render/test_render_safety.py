"""Determinism, atomicity under kill -9, bad input, broken templates, --check and diff."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubkit.render.tree import read_tree, verify_manifest

HUBKIT = [str(Path(sys.executable).parent / "hubkit")]


def test_two_renders_byte_identical_also_into_other_out_dirs(hk, tmp_path, fleet_root):
    assert hk("render", "--all", "--out", str(tmp_path / "a")).exit_code == 0
    assert hk("render", "--all", "--out", str(tmp_path / "b")).exit_code == 0
    assert hk("render", "--all").exit_code == 0
    a, b = read_tree(tmp_path / "a" / "zeitz"), read_tree(tmp_path / "b" / "zeitz")
    c = read_tree(fleet_root / "build" / "zeitz")
    assert a and a == b == c
    for data in a.values():  # no absolute paths leak into artifacts
        assert str(tmp_path).encode() not in data


def test_check_catches_hand_edit_and_diff_shows_it(hk, fleet_root):
    assert hk("render", "zeitz").exit_code == 0
    assert hk("render", "--check", "zeitz").exit_code == 0
    nft = fleet_root / "build/zeitz/hosts/zeitz-rt01/etc/nftables.conf"
    nft.write_text(nft.read_text().replace("policy drop;", "policy accept;", 1))
    (fleet_root / "build/zeitz/extra.txt").write_text("stray\n")
    (fleet_root / "build/zeitz/docs/topology.svg").unlink()
    r = hk("render", "--check", "zeitz")
    assert r.exit_code == 1
    assert "changed  hosts/zeitz-rt01/etc/nftables.conf" in r.output
    assert "new      docs/topology.svg" in r.output and "missing  extra.txt" in r.output
    r = hk("diff", "zeitz")
    assert r.exit_code == 1
    assert "-\t\ttype filter hook input priority filter; policy accept;" in r.output
    assert "+\t\ttype filter hook input priority filter; policy drop;" in r.output
    assert "deleted file: extra.txt" in r.output and "new file: docs/topology.svg" in r.output
    assert hk("render", "zeitz").exit_code == 0  # repairs the hand edit
    assert hk("render", "--check", "zeitz").exit_code == 0
    assert verify_manifest(fleet_root / "build/zeitz") == []


def test_findings_stop_render_and_write_nothing(hk, fleet_root):
    hub = fleet_root / "hubs" / "wittenberg.yaml"
    hub.write_text(hub.read_text().replace("vlan: 20", "vlan: 10"))  # duplicate VLAN
    r = hk("render", "--all")
    assert r.exit_code == 1
    assert "HK104" in r.output and "hubs/wittenberg.yaml:" in r.output
    assert "Traceback" not in r.output
    assert not (fleet_root / "build").exists()


def test_findings_leave_previous_tree_unchanged(hk, fleet_root):
    assert hk("render", "zeitz").exit_code == 0
    before = read_tree(fleet_root / "build/zeitz")
    hub = fleet_root / "hubs" / "zeitz.yaml"
    hub.write_text(hub.read_text().replace("workplaces: 5", "workplaces: many"))
    r = hk("render", "zeitz")
    assert r.exit_code == 1 and "workplaces" in r.output
    assert read_tree(fleet_root / "build/zeitz") == before


def test_missing_template_variable_names_template_line_and_hub(fleet_root, tmp_path):
    import shutil
    from hubkit.fleet.repo import load_fleet
    from hubkit.paths import TEMPLATES
    from hubkit.render import RenderError, render_fleet
    broken = tmp_path / "templates"
    shutil.copytree(TEMPLATES, broken)
    tpl = broken / "hosts/router/etc/wireguard/wg0.conf.j2"
    lines = tpl.read_text().splitlines(keepends=True)
    lines.insert(3, "MTU = {{ vpn.no_such_mtu }}\n")  # becomes line 4
    tpl.write_text("".join(lines))
    with pytest.raises(RenderError) as e:
        render_fleet(load_fleet(fleet_root), ["zeitz"], template_dir=broken)
    msg = e.value.format()
    assert "hosts/router/etc/wireguard/wg0.conf.j2:4:" in msg
    assert "no_such_mtu" in msg and "hub zeitz" in msg
    assert not (fleet_root / "build" / "zeitz").exists()


def test_stray_jinja_marker_in_host_file_is_refused(fleet_root, tmp_path):
    import shutil
    from hubkit.fleet.repo import load_fleet
    from hubkit.paths import TEMPLATES
    from hubkit.render import RenderError, render_fleet
    broken = tmp_path / "templates"
    shutil.copytree(TEMPLATES, broken)
    tpl = broken / "hosts/common/etc/chrony/chrony.conf.j2"
    tpl.write_text(tpl.read_text() + "{{ '{{ ansible_hostname }}' }}\n")
    with pytest.raises(RenderError) as e:
        render_fleet(load_fleet(fleet_root), ["zeitz"], template_dir=broken)
    assert "chrony.conf" in e.value.message and "unexpected Jinja marker" in e.value.message


def test_usage_errors(hk):
    assert hk("render").exit_code == 2
    assert hk("render", "zeitz", "--all").exit_code == 2
    assert hk("render", "nosuchhub").exit_code == 2


def _bump(fleet_root: Path, i: int) -> None:
    hub = fleet_root / "hubs" / "zeitz.yaml"
    text = hub.read_text()
    import re
    hub.write_text(re.sub(r"^venue: .*$", f"venue: Venue revision {i}", text, flags=re.M))


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_a_complete_tree(fleet_root):
    """Kill render at random moments; the tree must always be complete and match its manifest."""
    env = {**os.environ, "CI": "true"}
    build = fleet_root / "build" / "zeitz"
    cmd = HUBKIT + ["--fleet", str(fleet_root), "render", "zeitz"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(cmd[:-1] + ["naumburg"], env=env, check=True, capture_output=True)
    full = time.perf_counter() - t0  # only to spread the kill moments, not asserted
    rng = random.Random(1234)
    venues = set()
    kills = 0
    for i in range(12):
        _bump(fleet_root, i)
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * full)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        assert build.is_dir(), f"round {i}: build/zeitz missing after kill"
        assert verify_manifest(build) == [], f"round {i}"
        venues.add((build / "docs/handbook.md").read_text().split("| Venue | ")[1].split(" |")[0])
    assert kills >= 3
    # The next run cleans leftovers and completes.
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert verify_manifest(build) == []
    assert not [p for p in build.parent.iterdir() if p.name.startswith(".zeitz.")]
    assert (build / "docs/handbook.md").read_text().count("Venue revision 11") == 1


def test_parallel_render_equals_sequential(fleet_root, tmp_path, monkeypatch):
    import hubkit.render as render
    from hubkit.fleet.repo import load_fleet
    seq = render.render_fleet(load_fleet(fleet_root), (), True, tmp_path / "seq")
    monkeypatch.setattr(render, "PARALLEL_MIN", 2)
    assert render._workers(3) >= 1
    par = render.render_fleet(load_fleet(fleet_root), (), True, tmp_path / "par")
    assert [r.hub for r in par] == [r.hub for r in seq] == ["naumburg", "wittenberg", "zeitz"]
    for hub in ("naumburg", "wittenberg", "zeitz"):
        assert read_tree(tmp_path / "par" / hub) == read_tree(tmp_path / "seq" / hub)
    # Again: every tree is found up to date by the forked checks, and none is rewritten.
    again = render.render_fleet(load_fleet(fleet_root), (), True, tmp_path / "par")
    assert [r.hub for r in again] == [r.hub for r in seq] and not any(r.written for r in again)
