"""The malformed-YAML corpus, run through the real CLI.

Each case must give exactly one located error (``hubs/x.yaml:L:C``), exit 1,
no traceback, and leave the fleet tree byte-for-byte unchanged.  Bombs must be
refused with bounded memory; the generous subprocess timeout turns a hang into
a failure rather than a blocked suite (no timing assertions).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fleet.conftest import snapshot
from tests.fleet.hubtext import ZZ, edit

# The child reports its own peak RSS (KiB) on stderr when it exits.
CLI = [sys.executable, "-c",
       "import atexit, resource, sys\n"
       "atexit.register(lambda: sys.stderr.write("
       "'\\nmaxrss=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
       "from hubkit.cli import main\nmain()"]
MAX_RSS_MB = 200  # the CLI itself peaks near 50 MB; a bomb would need gigabytes


def run_validate(root, *args):
    """Run the CLI; return (exit code, stdout, stderr, peak RSS in MB)."""
    env = dict(os.environ, CI="true", HUBKIT_FLEET=str(root))
    proc = subprocess.Popen([*CLI, "validate", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("hubkit validate hung on this input")
    err, _, rss_line = err.rpartition("\nmaxrss=")
    rss = int(rss_line) / 1024
    return proc.returncode, out, err, rss


def bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def deep_block(levels: int) -> str:
    return "".join("  " * i + "a:\n" for i in range(levels)) + "  " * levels + "x: 1\n"


CASES = {
    # name: (file content, expected location, expected code)
    "syntax-error": ("id: x\nname: [a, b\n", "hubs/x.yaml:3:1", "HK001"),
    "tab-indentation": ("id: x\nnetwork:\n\tsite_prefix: 10.0.0.0/22\n", "hubs/x.yaml:3:1", "HK001"),
    "duplicate-key": ("id: x\nname: A\nname: B\n", "hubs/x.yaml:3:1", "HK002"),
    "duplicate-nested-key": ("network:\n  segments:\n    a: {vlan: 1, vlan: 2}\n",
                             "hubs/x.yaml:3:18", "HK002"),
    "empty-file": ("", "hubs/x.yaml:1:1", "HK003"),
    "only-comments": ("# nothing here\n\n", "hubs/x.yaml:1:1", "HK003"),
    "non-utf8": (b"id: x\nname: caf\xe9\n", "hubs/x.yaml:2:10", "HK004"),
    "control-character": ("id: x\nname: a\x07b\n", "hubs/x.yaml:2:8", "HK001"),
    "not-a-mapping": ("- id: x\n- name: y\n", "hubs/x.yaml:1:1", "HK005"),
    "scalar-top-level": ("just text\n", "hubs/x.yaml:1:1", "HK005"),
    "two-documents": ("id: x\n---\nid: y\n", "hubs/x.yaml:2:1", "HK005"),
    "billion-laughs": (bomb(), "hubs/x.yaml:6:15", "HK006"),
    "absurd-flow-nesting": ("[" * 100_000, "hubs/x.yaml:1:1001", "HK006"),
    "deep-block-nesting": (deep_block(200), "hubs/x.yaml:65:129", "HK006"),
    "huge-file": ("# padding\n" * 500_000, "hubs/x.yaml:1:1", "HK007"),
    "python-tag": ("id: !!python/object:os.system x\n", "hubs/x.yaml:1:5", "HK008"),
    "bad-int": ("workplaces: !!int many\n", "hubs/x.yaml:1:13", "HK008"),
    "complex-key": ("? [a, b]\n: c\n", "hubs/x.yaml:1:3", "HK009"),
    "wrong-type": (edit(ZZ, "workplaces: 2", "workplaces: many").replace("zz", "x"),
                   "hubs/x.yaml:4:13", "HK010"),
    "unknown-key": (ZZ.replace("zz", "x") + "colour: red\n", "hubs/x.yaml:22:1", "HK011"),
    "unknown-nested-key": (edit(ZZ, "dhcp: false", "dhcpp: false").replace("zz", "x"),
                           "hubs/x.yaml:9:46", "HK011"),
    "missing-key": (edit(ZZ, "name: DigitalHub ZZ\n", "").replace("zz", "x"),
                    "hubs/x.yaml:1:1", "HK012"),
    "overlapping-prefix": (edit(edit(edit(ZZ, "10.64.100.0/22", "10.64.0.0/23"),
                                     "10.64.100.0/24", "10.64.0.0/24"),
                                "10.64.101.0/27", "10.64.1.0/27").replace("zz", "x"),
                           # Reported on the later file, naming the other one.
                           "hubs/zeitz.yaml:19:16", "HK101"),
}


# Inputs that could eat memory or time run in a subprocess (bounded RSS, a
# timeout turns a hang into a failure); the rest go through CliRunner.
SUBPROCESS = {"billion-laughs", "absurd-flow-nesting", "deep-block-nesting", "huge-file",
              "overlapping-prefix", "non-utf8"}


def run_in_process(root, *args):
    from click.testing import CliRunner

    from hubkit.cli import cli
    r = CliRunner().invoke(cli, ["--fleet", str(root), "validate", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr, 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_hub_file(fleet, name):
    content, where, code = CASES[name]
    path = fleet / "hubs/x.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = snapshot(fleet)
    run = run_validate if name in SUBPROCESS else run_in_process
    rc, out, err, rss = run(fleet)
    assert "Traceback" not in out + err
    assert rc == 1, err
    lines = out.splitlines()
    assert len(lines) == 1, out  # one clear error, nothing else
    assert lines[0].startswith(f"{where}: error {code}: "), lines[0]
    assert "(hint: " in lines[0]
    if code == "HK101":
        assert "(hubs/x.yaml:6:16)" in lines[0]
        # Validating only the new hub still reports the conflict.
        assert run(fleet, "x")[1] == out
    assert snapshot(fleet) == before
    assert rss < MAX_RSS_MB, f"peak RSS {rss:.0f} MB"


def test_bomb_in_fleet_yaml_is_located(fleet):
    (fleet / "fleet.yaml").write_text(bomb())
    before = snapshot(fleet)
    rc, out, err, _ = run_validate(fleet)
    assert rc == 1 and "Traceback" not in out + err
    assert out.startswith("fleet.yaml:6:15: error HK006: ")
    assert len(out.splitlines()) == 1  # no cascade of missing-key findings
    assert snapshot(fleet) == before


def test_syntax_error_in_fleet_yaml_is_one_error(fleet):
    (fleet / "fleet.yaml").write_text("pools:\n  sites: [10.0.0.0/8\n")
    (fleet / "hubs/bad.yaml").write_text("id: bad\nid: bad\n")
    rc, out, err, _ = run_in_process(fleet)
    assert rc == 1 and "Traceback" not in out + err
    assert out.splitlines() == [
        "fleet.yaml:3:1: error HK001: YAML syntax error: did not find expected ',' or ']' "
        "(hint: check indentation, quoting and brackets near this position)",
        "hubs/bad.yaml:2:1: error HK002: duplicate key 'id' (first defined at hubs/bad.yaml:1:1) "
        "(hint: remove one of the two entries)"]


def test_syntax_error_in_region_is_located(fleet):
    (fleet / "regions/sachsen-anhalt.yaml").write_text("services: [\n")
    rc, out, err, _ = run_validate(fleet)
    assert rc == 1 and "Traceback" not in out + err
    assert out.startswith("regions/sachsen-anhalt.yaml:2:1: error HK001: ")


def test_dangling_symlink_and_directory_are_reported(fleet):
    (fleet / "hubs/gone.yaml").symlink_to(fleet / "hubs/nowhere.yaml")
    (fleet / "hubs/dir.yaml").mkdir()
    rc, out, err, _ = run_in_process(fleet)
    assert rc == 1 and "Traceback" not in out + err
    assert [ln.split(" error ")[0] for ln in out.splitlines()] == ["hubs/dir.yaml:1:1:",
                                                                   "hubs/gone.yaml:1:1:"]
    assert all(" HK007: " in ln for ln in out.splitlines())
