"""The playbooks' own filter (playbooks/filter_plugins/hubkit.py) against the probe's real output."""

from __future__ import annotations

import importlib.util
import os
import subprocess

import pytest
import yaml

from hubkit.paths import PLAYBOOKS

_spec = importlib.util.spec_from_file_location("hubkit_filters", PLAYBOOKS / "filter_plugins" / "hubkit.py")
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)


def _probe(paths):
    """The shell loop of tasks/probe_rendered.yml (read from the playbook), run here on real files."""
    tasks = yaml.safe_load((PLAYBOOKS / "tasks" / "probe_rendered.yml").read_text())
    script = next(t["vars"]["hubkit_probe_script"] for t in tasks if "hubkit_probe_script" in t.get("vars", {}))
    return subprocess.run(["sh", "-c", script, "probe", *paths], capture_output=True, text=True,
                          check=True).stdout.splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="the probe expects root-owned files")
def test_matching_file_is_unchanged_and_drift_is_not(tmp_path):
    same, drifted, loose, absent = (tmp_path / n for n in ("same.conf", "drift.conf", "loose.conf", "absent"))
    same.write_text("a = 1\n")
    drifted.write_text("a = 2 # edited by hand\n")
    loose.write_text("b = 1\n")
    for p in (same, drifted):
        p.chmod(0o644)
    loose.chmod(0o666)
    paths = [str(p) for p in (same, drifted, loose, absent)]
    rendered = ["a = 1\n", "a = 2\n", "b = 1\n", "c\n"]
    assert filters.hubkit_unchanged(paths, rendered, _probe(paths)) == [str(same)]


def test_wireguard_files_must_be_private():
    text = "[Interface]\n"
    line_600 = filters.expected_probe_line("/etc/wireguard/wg0.conf", text)
    assert " 600 root root /etc/wireguard/wg0.conf" in line_600
    assert filters.hubkit_unchanged(["/etc/wireguard/wg0.conf"], [text], [line_600.replace(" 600 ", " 644 ")]) == []


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 paths but 1 renders"):
        filters.hubkit_unchanged(["/a", "/b"], ["x"], [])


@pytest.mark.parametrize("text,want", [
    # One-line format, as debootstrap and the installer write it.
    ("deb http://mirror.example/debian bookworm main\n",
     "deb http://mirror.example/debian-security bookworm-security main"),
    ("# comment\ndeb [arch=amd64] https://m.example/debian/ bookworm main contrib\n",
     "deb https://m.example/debian-security bookworm-security main"),
    # deb822, as Debian's container images write it.
    ("Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
     "deb http://m.example/debian-security bookworm-security main"),
    # Already there (either format): nothing to add.
    ("deb http://m.example/debian bookworm main\ndeb http://s.example/debian-security bookworm-security main\n", ""),
    ("Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\n\n"
     "Types: deb\nURIs: http://s.example/debian-security\nSuites: bookworm-security\n", ""),
    # A commented-out or disabled security source does not count.
    ("deb http://m.example/debian bookworm main\n# deb http://s.example/debian-security bookworm-security main\n",
     "deb http://m.example/debian-security bookworm-security main"),
    ("Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\n\n"
     "Types: deb\nURIs: http://s.example/debian-security\nSuites: bookworm-security\nEnabled: no\n",
     "deb http://m.example/debian-security bookworm-security main"),
    # No Debian mirror for the suite (or a file: mirror): nothing derived.
    ("deb file:/srv/mirror bookworm main\n", ""),
    ("", ""),
])
def test_security_source_is_derived_only_when_missing(text, want):
    assert filters.hubkit_security_source(text, "bookworm") == want
