"""`hubkit verify`: run the role suites and the hub probes against a hub's hosts.

How a run works:
  1. resolve the target: the lab (``/run/hubkit/labs/<id>/``: its ssh_config,
     run inside its mgmt netns) or the rendered inventory (``build/<id>/``);
  2. open one SSH ControlMaster per host, in parallel;
  3. start the pytest processes all at once: one per host (its role's suites,
     ``--hosts ssh://<host>``; hosts of one role share a process beyond two
     processes per core) plus one for the hub-wide probes; each multiplexes
     over the host's master, so there is one connection per host;
  4. merge the outcomes that ``hubkit.verify.plugin`` wrote as JSON.

Each pytest process is built as a value (``PytestRun``: cmd/env) first, so a
failing run's message can name its command.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.atomic import write_atomic
from hubkit.errors import FindingsError, HubkitError, PrerequisiteError, UsageError
from hubkit.paths import PLAYBOOKS
from hubkit.runs import runs_dir
from hubkit.topology import build as build_topology
from hubkit.verify.report import HUB_HOST, Check, VerifyResult

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

# Suites each role runs, in order (files under playbooks/roles/<suite>/verify/).
ROLE_SUITES: dict[str, tuple[str, ...]] = {
    "router": ("common", "router"),
    "switch": ("common", "switch"),
    "workstation": ("common", "workstation"),
    "core": ("core",),
}
# Hub-wide suites, run once per hub from where verify runs (a lab's mgmt netns):
# the real-traffic probes and the live identity realm.
PROBES = PLAYBOOKS / "probes"
PROCESS_TIMEOUT = 300


def suite_file(suite: str) -> Path:
    return PLAYBOOKS / "roles" / suite / "verify" / f"test_{suite}.py"


@dataclass(frozen=True)
class Target:
    """Where the hub's hosts are and how to reach them."""

    hub_id: str
    fleet_root: Path
    build_dir: Path
    hosts: dict[str, str]  # host name -> role, in topology order
    ssh_config: Path | None
    netns: str | None = None  # run ssh inside this netns (the lab's mgmt laptop)
    sudo: bool = False
    lab: dict | None = None  # lab facts the probes need (dir, netns names)
    backend: str = "ssh"  # "local" only for hubkit's own tests
    # A real site: the ssh_config hubkit.access writes (user, key, jump host, recorded host keys).
    ssh_config_text: str | None = None


@dataclass(frozen=True)
class PytestRun:
    group: str  # host name, or "hub" for the probes
    cmd: list[str]
    report: Path
    env: dict[str, str] = field(default_factory=dict)


def _hub_model(fleet_root: Path, hub_id: str):
    from hubkit.fleet.repo import load_fleet
    rec = load_fleet(fleet_root).hub(hub_id)
    if rec.model is None or rec.findings:
        raise FindingsError(rec.findings)
    return rec.model


def build_dir_for(fleet_root: Path, hub_id: str) -> Path:
    return Path(fleet_root) / "build" / hub_id


def resolve(fleet_root: Path, hub_id: str, lab: bool, user: str | None = None,
            private_key: Path | None = None, jump: str | None = None) -> Target:
    """The target of a run; PrerequisiteError (exit 3) when there is none."""
    fleet_root = Path(fleet_root).resolve()
    hub = _hub_model(fleet_root, hub_id)
    topo = build_topology(hub)
    hosts = {h.name: h.role for h in topo.hosts()}
    bdir = build_dir_for(fleet_root, hub_id)
    if lab:
        if user or private_key or jump:
            raise UsageError("--user, --private-key and --jump are for a real site",
                             "the lab connects with its own key from its mgmt netns")
        return _lab_target(fleet_root, hub_id, bdir, hosts)
    inv = bdir / "inventory" / "hosts.yml"
    if not inv.is_file():
        raise PrerequisiteError(f"no rendered inventory for hub {hub_id} ({inv} is missing)",
                                f"run `hubkit render {hub_id}` first, or use --lab")
    from hubkit.access import site_access
    access = site_access(fleet_root, hub, user=user, private_key=private_key, jump=jump)
    addresses = {h.name: topo.ansible_host(h) for h in topo.hosts()}
    # The connect admin is never root after bootstrap: checks that need root use sudo.
    return Target(hub_id, fleet_root, bdir, hosts, ssh_config=None, sudo=True,
                  ssh_config_text=access.ssh_config(addresses))


def _lab_target(fleet_root: Path, hub_id: str, bdir: Path, hosts: dict[str, str]) -> Target:
    from hubkit import lab as hklab
    if os.geteuid() != 0:
        raise PrerequisiteError("verifying a lab needs root (its hosts sit in network namespaces)",
                                "run as root, e.g. with sudo")
    info = hklab.load(hub_id)
    if info is None:
        raise PrerequisiteError(f"no lab is running for hub {hub_id}",
                                f"start one with `hubkit lab up {hub_id}`")
    if not info.ssh_config.is_file() or not Path("/run/netns", info.netns_mgmt).exists():
        raise PrerequisiteError(f"the lab of {hub_id} is incomplete or down (no ssh_config or mgmt netns)",
                                f"recreate it: `hubkit lab up {hub_id} --rebuild`")
    if not (bdir / "inventory").is_dir():
        raise PrerequisiteError(f"no rendered tree for hub {hub_id} ({bdir})",
                                f"run `hubkit render {hub_id}` first")
    in_lab = {h["name"] for h in info.hosts}
    facts = {"dir": str(info.dir), "prefix": info.prefix, "mgmt_netns": info.netns_mgmt,
             "host_netns": {h["name"]: h["netns"] for h in info.hosts},
             "control_dir": str(info.dir / "cm")}
    return Target(hub_id, fleet_root, bdir, {n: r for n, r in hosts.items() if n in in_lab},
                  ssh_config=info.ssh_config, netns=info.netns_mgmt,
                  sudo=(info.admin or "root") != "root", lab=facts)


# -- the run ---------------------------------------------------------------------

def ssh_options(control_dir: Path | None) -> list[str]:
    """ControlMaster options: one TCP connection per host, shared by every process."""
    if control_dir is None:
        return ["-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes"]
    return ["-o", "ControlMaster=auto", "-o", "ControlPersist=60s",
            "-o", f"ControlPath={control_dir}/%C", "-o", "BatchMode=yes"]


def _prefix(target: Target) -> list[str]:
    return ["ip", "netns", "exec", target.netns] if target.netns else []


def max_processes() -> int:
    """How many pytest processes run at once: two per core (they mostly wait on ssh)."""
    env = os.environ.get("HUBKIT_VERIFY_PROCESSES", "")
    return max(2, int(env)) if env.isdigit() else max(2, 2 * (os.cpu_count() or 1))


def host_groups(target: Target, suites: dict[str, list[Path]], limit: int) -> list[list[str]]:
    """Hosts with suites, one group per host; while there are more groups than ``limit``, the two
    smallest groups of one role merge (a process then walks its hosts in turn).  Each process
    costs ~0.3 s CPU to start, which on a small machine outweighs the parallelism."""
    groups = [[n] for n, role in target.hosts.items() if suites.get(role)]
    while len(groups) > max(1, limit):
        by_role: dict[str, list[list[str]]] = {}
        for g in groups:
            by_role.setdefault(target.hosts[g[0]], []).append(g)
        mergeable = [sorted(gs, key=len)[:2] for gs in by_role.values() if len(gs) > 1]
        if not mergeable:
            break
        a, b = min(mergeable, key=lambda pair: len(pair[0]) + len(pair[1]))
        groups.remove(a)
        groups.remove(b)
        groups.append(sorted(a + b, key=list(target.hosts).index))
    return sorted(groups, key=lambda g: list(target.hosts).index(g[0]))


def role_suites() -> dict[str, list[Path]]:
    """role -> its suite files that exist, from ROLE_SUITES."""
    return {role: [p for s in names if (p := suite_file(s)).is_file()] for role, names in ROLE_SUITES.items()}


def plan_runs(target: Target, workdir: Path, ssh_config: Path | None, extra_args: list[str],
              keyword: str | None = None, suites: dict[str, list[Path]] | None = None,
              probes: Path | None = PROBES) -> list[PytestRun]:
    """Pytest processes for the hosts (grouped per host, see host_groups) and one for the probes."""
    ini = workdir / "pytest.ini"
    ini.write_text("[pytest]\n")
    # Plugin autoload is off (see _execute): testinfra and ours are named here.
    base = [*_prefix(target), sys.executable, "-m", "pytest", "-p", "testinfra.plugin", "-p", "hubkit.verify.plugin",
            "-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(PLAYBOOKS),
            "--import-mode=importlib", "-q", "--no-header", "-rN", "-o", "console_output_style=classic",
            "--hubkit-context", str(workdir / "context.json")]
    if keyword:
        base += ["-k", keyword]
    conn = [f"--ssh-extra-args={' '.join(extra_args)}"]
    if ssh_config:
        conn += ["--ssh-config", str(ssh_config)]
    if target.sudo:
        conn += ["--sudo"]
    runs = []
    all_suites = suites if suites is not None else role_suites()
    for group in host_groups(target, all_suites, max_processes() - (1 if probes else 0)):
        role = target.hosts[group[0]]
        files = [str(p) for p in all_suites.get(role, [])]
        label = group[0] if len(group) == 1 else f"{role}:{','.join(group)}"
        report = workdir / f"report-{len(runs)}.json"
        spec = "local://" if target.backend == "local" else ",".join(f"ssh://{n}" for n in group)
        cmd = [*base, "--hubkit-report", str(report), "--hosts", spec,
               *(conn if target.backend != "local" else []), *files]
        runs.append(PytestRun(label, cmd, report))
    probe_files = [] if probes is None else [str(probes)] if Path(probes).is_file() else \
        [str(p) for p in sorted(Path(probes).glob("test_*.py"))]
    if probe_files:
        report = workdir / "report-hub.json"
        runs.append(PytestRun(HUB_HOST, [*base, "--hubkit-report", str(report), *probe_files], report))
    return runs


def write_context(target: Target, workdir: Path, ssh_config: Path | None, extra_args: list[str]) -> Path:
    ctx = {
        "hub_id": target.hub_id,
        "fleet_root": str(target.fleet_root),
        "build_dir": str(target.build_dir),
        "hosts": target.hosts,
        "ssh": {"backend": target.backend, "config": str(ssh_config) if ssh_config else None,
                "extra_args": " ".join(extra_args), "sudo": target.sudo},
        "lab": target.lab,
    }
    path = workdir / "context.json"
    path.write_text(json.dumps(ctx, indent=1, sort_keys=True))
    return path


def _control_dir(hub_id: str) -> Path:
    # Short path: a unix socket path must stay under 108 bytes.
    base = Path("/run/hubkit/cm") if os.geteuid() == 0 else Path(tempfile.gettempdir()) / f"hubkit-cm-{os.getuid()}"
    d = base / hub_id
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(base, 0o700)
    return d


def _ssh_base(target: Target, ssh_config: Path | None, extra_args: list[str]) -> list[str]:
    return [*_prefix(target), "ssh", *(["-F", str(ssh_config)] if ssh_config else []), *extra_args]


def open_masters(target: Target, ssh_config: Path | None, extra_args: list[str]) -> dict[str, str]:
    """Start one ControlMaster per host, in parallel.  Returns host -> error text for failures."""
    procs = {name: subprocess.Popen([*_ssh_base(target, ssh_config, extra_args),
                                     "-o", "ConnectTimeout=10", name, "true"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
             for name in target.hosts}
    errors = {}
    for name, p in procs.items():
        _, err = p.communicate(timeout=60)
        if p.returncode != 0:
            errors[name] = (err or "").strip()
    return errors


def run(target: Target, keyword: str | None = None, on_event: Callable[[str, str], None] | None = None,
        control_master: bool = True, suites: dict[str, list[Path]] | None = None,
        probes: Path | None = PROBES) -> VerifyResult:
    """Run every suite and probe against ``target``; return the merged result.

    ``suites`` (role -> test files) and ``probes`` default to the playbooks'
    own; hubkit's tests pass toy suites.  The ControlMasters are left to
    ControlPersist (60 s), so configure -> verify -> verify reuse them.
    """
    if target.backend == "ssh" and shutil.which("ssh") is None:
        raise PrerequisiteError("ssh is not installed", "apt-get install openssh-client")
    emit = on_event or (lambda kind, what: None)
    workdir = Path(tempfile.mkdtemp(prefix="hubkit-verify-"))
    try:
        ssh_config = target.ssh_config
        if ssh_config is None and target.backend == "ssh":
            ssh_config = workdir / "ssh_config"
            ssh_config.write_text(target.ssh_config_text or "")
        control = None
        if control_master and target.backend == "ssh":
            # In a lab, share the lab's ControlPath: configure's connections are reused.
            control = Path(target.lab["control_dir"]) if target.lab else _control_dir(target.hub_id)
        extra = ssh_options(control)
        write_context(target, workdir, ssh_config, extra)
        t0 = time.monotonic()
        if control is not None:
            unreachable = open_masters(target, ssh_config, extra)
            for name, err in sorted(unreachable.items()):
                log.warning("cannot reach %s: %s", name, err)
            emit("masters", f"{len(target.hosts) - len(unreachable)}/{len(target.hosts)} connections "
                            f"in {time.monotonic() - t0:.1f}s")
        runs = plan_runs(target, workdir, ssh_config, extra, keyword, suites, probes)
        return VerifyResult(target.hub_id, _execute(runs, emit))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _execute(runs: list[PytestRun], emit) -> list[Check]:
    # No setuptools plugin autoload: hypothesis & co. cost ~0.7 s CPU per process (x hosts).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    t0 = time.monotonic()
    procs = [(r, subprocess.Popen(r.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env={**env, **r.env}))
             for r in runs]

    def wait(item) -> list[Check]:
        r, p = item
        try:
            out, _ = p.communicate(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return [Check(r.group, "run::timeout", "error", (),
                          f"pytest for {r.group} took longer than {PROCESS_TIMEOUT}s; command: {' '.join(r.cmd)}")]
        log.info("verify: %s done after %.1fs (exit %s)", r.group, time.monotonic() - t0, p.returncode)
        emit("done", r.group)
        got = parse_report(r.report) if r.report.is_file() else None
        if got is None:
            # pytest stopped before it could report (usage error, crash): say how to rerun it.
            tail = "\n".join(out.strip().splitlines()[-5:])
            return [Check(r.group, "run::pytest", "error", (),
                          f"pytest exited {p.returncode} without a report: {tail} (command: {' '.join(r.cmd)})")]
        return got

    with ThreadPoolExecutor(max_workers=max(1, len(procs))) as pool:
        return [c for checks in pool.map(wait, procs) for c in checks]


def parse_report(path: Path) -> list[Check] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, list):
        return None
    return [Check.from_json(d) for d in data if isinstance(d, dict)]


# -- persistence -----------------------------------------------------------------

def save_last(fleet_root: Path, result: VerifyResult) -> Path:
    """Persist the last result for the audit step (atomic; no secrets are in it)."""
    from hubkit.verify.report import dumps
    path = runs_dir(fleet_root, result.hub_id) / "verify.json"
    write_atomic(path, dumps(result))
    return path


__all__ = ["Target", "PytestRun", "resolve", "plan_runs", "run", "save_last", "HubkitError"]
