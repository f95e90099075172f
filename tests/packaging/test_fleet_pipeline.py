"""The CI pipelines `hubkit init` writes run as written, with the installed wheel.

A merge request on the example fleet changes one hub: the pipeline's commands
run in the order the file lists them (GitLab: stages, then jobs in file
order, each job's before_script + script in one shell with `set -eo pipefail`
as the runner does; GitHub: the `run` steps in order, with GITHUB_ENV and
GITHUB_PATH handled as the runner does).  Only what a CI service provides
(its variables, the checkout) is set by the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=ci", "-c", "user.email=ci@example.invalid",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def merge_request(installed, outside):
    """The example fleet with build/ committed, then a branch that adds a staff member to zeitz."""
    installed("init", "fleet")
    root = outside / "fleet"
    installed("--fleet", str(root), "render", "--all")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "example fleet")
    base = _git(root, "rev-parse", "HEAD")
    hub = root / "hubs/zeitz.yaml"
    hub.write_text(hub.read_text().replace(
        "  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n",
        "  - {username: zz-trainee01, full_name: Trainee One, role: trainee}\n"
        "  - {username: zz-staff03, full_name: Staff Member Three, role: staff}\n"))
    installed("--fleet", str(root), "render", "zeitz")
    _git(root, "commit", "-qam", "zeitz: one more staff member")
    return root, base


def _run_shell(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)


def _ci_env(venv: Path, wheel: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HUBKIT_"))}
    env.update(extra)
    env.update(CI="true", HUBKIT_PACKAGE=str(wheel))
    return env


def test_gitlab_pipeline_runs_as_written(merge_request, venv, wheel):
    root, base = merge_request
    doc = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    variables = {k: str(v) for k, v in doc["variables"].items()}
    # The runner provides these; HUBKIT_PACKAGE points at the wheel instead of a package index.
    env = _ci_env(venv, wheel, {**variables, "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
                                "HUBKIT_PACKAGE": str(wheel)})
    before = doc["default"]["before_script"]
    # The file's venv path, pointed at the test's clean venv (pip then finds hubkit installed).
    assert "python3 -m venv /tmp/hubkit-venv" in before
    before = [line.replace("/tmp/hubkit-venv", str(venv)) for line in before]
    jobs = [(name, job) for name, job in doc.items() if isinstance(job, dict) and "script" in job]
    order = [(name, job) for stage in doc["stages"] for name, job in jobs if job["stage"] == stage]
    assert [n for n, _ in order] == ["validate", "render-check", "plan-offline"]
    logs = {}
    for name, job in order:
        p = _run_shell("\n".join(before + job["script"]), root, env)
        logs[name] = p
        assert p.returncode == 0, f"job {name} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert "ok: 1 hub(s) valid (changed since" in logs["validate"].stderr
    report = (root / "gl-code-quality-report.json").read_text()
    assert report.strip() == "[]"
    assert logs["render-check"].stdout.count("up to date") == 3
    # Only the changed hub was planned, and its plan names the new member.
    assert logs["plan-offline"].stdout.count("resource(s); outputs") == 1
    assert "zz-staff03" in logs["plan-offline"].stdout


def test_gitlab_pipeline_fails_on_a_stale_build_and_a_bad_hub(merge_request, venv, wheel):
    root, base = merge_request
    doc = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    env = _ci_env(venv, wheel, {**{k: str(v) for k, v in doc["variables"].items()},
                                "CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
    before = [line.replace("/tmp/hubkit-venv", str(venv)) for line in doc["default"]["before_script"]]
    hub = root / "hubs/zeitz.yaml"
    hub.write_text(hub.read_text().replace("workplaces: 5", "workplaces: 0"))
    _git(root, "commit", "-qam", "zeitz: bad value")
    p = _run_shell("\n".join(before + doc["validate"]["script"]), root, env)
    assert p.returncode == 1 and "hubs/zeitz.yaml:" in p.stdout
    assert "HK010" in (root / "gl-code-quality-report.json").read_text()
    p = _run_shell("\n".join(before + doc["render-check"]["script"]), root, env)
    assert p.returncode == 1


def _expr(text: str, values: dict) -> str:
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: values[m.group(1)], text)


def test_github_workflow_runs_as_written(merge_request, venv, wheel, tmp_path):
    root, base = merge_request
    doc = yaml.safe_load((root / ".github/workflows/hubkit.yml").read_text())
    [job] = doc["jobs"].values()
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    gh_env, gh_path = tmp_path / "github_env", tmp_path / "github_path"
    gh_env.touch()
    gh_path.touch()
    env = _ci_env(venv, wheel, {**{k: str(v) for k, v in doc["env"].items()},
                                "RUNNER_TEMP": str(runner_temp), "GITHUB_ENV": str(gh_env),
                                "GITHUB_PATH": str(gh_path)})
    values = {"github.event.pull_request.base.sha": base}
    ran = []
    for step in job["steps"]:
        if "run" not in step:
            continue  # `uses:` actions (checkout, setup-python, SARIF upload) are the service's
        script = step["run"].replace("$RUNNER_TEMP/hubkit-venv", str(venv))
        step_env = {**env, **{k: _expr(str(v), values) for k, v in (step.get("env") or {}).items()}}
        extra_path = [p for p in gh_path.read_text().splitlines() if p]
        step_env["PATH"] = ":".join(extra_path[::-1] + [env["PATH"]])
        for line in gh_env.read_text().splitlines():
            k, _, v = line.partition("=")
            step_env[k] = v
        p = _run_shell(script, root, step_env)
        ran.append(step["name"])
        assert p.returncode == 0, f"step {step['name']} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert ran == ["Install hubkit", "Select the changed hubs", "Validate", "Render check",
                   "Offline cloud plan of the changed hubs"]
    import json
    sarif = json.loads((root / "hubkit.sarif").read_text())
    assert sarif["runs"][0]["results"] == []
