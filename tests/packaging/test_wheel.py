"""The wheel and sdist carry everything hubkit needs; the installed CLI works on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

from hubkit import __version__

from tests.wheelkit import REPO, run_checked as _run


def test_wheel_carries_the_run_time_files(wheel_names):
    names = set(wheel_names)
    for path in ("hubkit/_data/templates/inventory/hosts.yml.j2",
                 "hubkit/_data/playbooks/site.yml",
                 "hubkit/_data/playbooks/ansible.cfg",
                 "hubkit/_data/playbooks/strategy_plugins/mitogen_free.py",
                 "hubkit/_data/playbooks/callback_plugins/hubkit_events.py",
                 "hubkit/_data/playbooks/probes/test_probes.py",
                 "hubkit/_data/playbooks/roles/router/verify/test_router.py",
                 "hubkit/_data/stacks/hub/Pulumi.yaml",
                 "hubkit/_data/stacks/hub/hubstack/__init__.py",
                 "hubkit/_data/examples/fleet/hubs/zeitz.yaml",
                 "hubkit/_data/examples/fleet-ci/gitlab-ci.yml.j2",
                 "hubkit/audit/report.html.j2"):
        assert path in names, path
    for top in ("templates", "playbooks", "stacks"):
        src = {str(p.relative_to(REPO)) for p in (REPO / top).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
        assert {f"hubkit/_data/{s}" for s in src} <= names, top
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_sdist_builds_the_same_complete_wheel(tmp_path, wheel_names):
    sdist_dir = tmp_path / "sdist"
    _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
          "print(b.build_sdist(sys.argv[1]))", sdist_dir], cwd=REPO)
    [sdist] = sdist_dir.glob("hubkit-*.tar.gz")
    with tarfile.open(sdist) as t:
        members = t.getnames()
    assert any(m.endswith("/playbooks/site.yml") for m in members)
    assert any(m.endswith("/examples/fleet/hubs/zeitz.yaml") for m in members)
    out = tmp_path / "from-sdist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check", "-w", out, sdist])
    [whl] = out.glob("*.whl")
    import zipfile
    with zipfile.ZipFile(whl) as z:
        assert sorted(z.namelist()) == sorted(wheel_names)


def test_installed_package_uses_its_own_files(installed, venv):
    p = installed("-c", "import hubkit.paths as p; print(p.ROOT); print(p.PLAYBOOKS.is_dir())", tool="python")
    root, is_dir = p.stdout.split()
    assert root.startswith(str(venv)) and root.endswith("site-packages/hubkit/_data") and is_dir == "True"
    assert installed("--version").stdout.strip() == f"hubkit, version {__version__}"


def test_installed_cli_validate_render_plan(installed, outside):
    installed("init", "fleet")
    assert (outside / "fleet/.gitlab-ci.yml").is_file()
    installed("--fleet", "fleet", "validate")
    r = installed("--fleet", "fleet", "render", "--all")
    assert r.stdout.count("written") == 3
    r = installed("--fleet", "fleet", "render", "--check", "--all")
    assert r.stdout.count("up to date") == 3
    r = installed("--fleet", "fleet", "plan", "zeitz", "--offline", "--json")
    doc = json.loads(r.stdout)
    assert any(res["type"].startswith("keycloak:") for res in doc["resources"])


def test_installed_cli_bad_input_is_located_without_traceback(installed, outside):
    installed("init", "fleet")
    hub = outside / "fleet/hubs/zeitz.yaml"
    hub.write_text(hub.read_text().replace("workplaces: 5", "workplaces: 5\nworkplaces: 6"))
    r = installed("--fleet", "fleet", "validate", check=False)
    assert r.returncode == 1
    assert "hubs/zeitz.yaml:" in r.stdout + r.stderr and "duplicate" in (r.stdout + r.stderr).lower()
    assert "Traceback" not in r.stdout + r.stderr
    r = installed("--fleet", "fleet", "render", "zeitz", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert not (outside / "fleet/build/zeitz").exists()


def test_runtime_dependencies_cover_ansible_password_hash(installed):
    """The staff-account task hashes with Ansible's password_hash filter (passlib)."""
    r = installed("localhost", "-c", "local", "-m", "ansible.builtin.debug",
                  "-a", "msg={{ 'pw' | password_hash('sha512', 'abcdefghijklmnop') }}", tool="ansible",
                  env={"ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"})
    assert "\"$6$" in r.stdout and "$abcdefghijklmnop$" in r.stdout


def test_no_test_only_package_is_needed(installed):
    r = installed("-m", "pip", "list", "--format", "json", tool="python")
    have = {p["name"].lower() for p in json.loads(r.stdout)}
    assert not have & {"hypothesis", "ciscoconfparse2", "ansible-lint", "ansible"}
    assert {"passlib", "pytest-testinfra", "ansible-core", "mitogen", "pulumi"} <= have


def test_shell_completion_bash_and_zsh(installed, outside):
    installed("init", "fleet")
    for shell in ("bash", "zsh"):
        r = installed(env={"_HUBKIT_COMPLETE": f"{shell}_source"})
        assert "_HUBKIT_COMPLETE" in r.stdout and f"{shell}_complete" in r.stdout
    r = installed(env={"_HUBKIT_COMPLETE": "bash_complete", "COMP_WORDS": "hubkit ren", "COMP_CWORD": "1"})
    assert "plain,render" in r.stdout.split()
    r = installed(env={"_HUBKIT_COMPLETE": "bash_complete", "COMP_WORDS": "hubkit --fleet fleet render z",
                       "COMP_CWORD": "4"})
    assert r.stdout.split() == ["plain,zeitz"]
    # The completion script loads in a real bash.
    script = installed(env={"_HUBKIT_COMPLETE": "bash_source"}).stdout
    p = subprocess.run(["bash", "-c", script + "\ncomplete -p hubkit"], capture_output=True, text=True)
    assert p.returncode == 0 and "hubkit" in p.stdout
