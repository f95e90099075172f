"""`hubkit configure`: build an Ansible run as a value, execute it, parse its events.

The run is a plain value (``AnsibleRun``: argv, env, cwd, netns), so tests and
the benchmark can inspect or vary it before anything executes.  Results come
from structured events written by our callback plugin
(``playbooks/callback_plugins/hubkit_events.py``) through an inherited pipe,
never from Ansible's screen text.

Secrets: the vault password travels only in the environment; Ansible reads it
through ``playbooks/vault-password-env.py``, so it never touches disk.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.atomic import write_json
from hubkit.errors import HubkitError, PrerequisiteError, UsageError
from hubkit.paths import PLAYBOOKS
from hubkit.runs import runs_dir

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

VAULT_SCRIPT = PLAYBOOKS / "vault-password-env.py"
SITE = PLAYBOOKS / "site.yml"
CONFIG = PLAYBOOKS / "ansible.cfg"
CONTROL_DIR = Path("/run/hubkit/cp")
COUNTS = ("ok", "changed", "failed", "unreachable", "skipped")


@dataclass(frozen=True)
class LabTarget:
    """What configure needs from a running lab: its netns and inventory variant."""

    name: str
    netns: str
    inventory: Path


@dataclass(frozen=True)
class AnsibleRun:
    """One ansible-playbook invocation, fully described before it runs."""

    cmd: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    netns: str | None = None
    hub_id: str = ""

    def argv(self) -> list[str]:
        if self.netns:
            return ["ip", "netns", "exec", self.netns, *self.cmd]
        return list(self.cmd)

    def describe(self) -> str:
        """The command line as a human can re-run it (env names only, no values)."""
        return " ".join(self.argv())


@dataclass
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in COUNTS}


SLOWEST = 10


def slowest(task_times: list[dict], n: int = SLOWEST) -> list[dict]:
    """Fold per-host task timings into the ``n`` costliest tasks (host-seconds summed)."""
    by_task: dict[tuple, dict] = {}
    for t in task_times:
        key = (t.get("role") or "", t["task"], bool(t.get("handler")))
        agg = by_task.setdefault(key, {"role": key[0] or None, "task": key[1], "handler": key[2],
                                       "total_s": 0.0, "hosts": 0, "max_s": -1.0, "max_host": ""})
        agg["total_s"] += t["seconds"]
        agg["hosts"] += 1
        if t["seconds"] > agg["max_s"] or (t["seconds"] == agg["max_s"] and t["host"] < agg["max_host"]):
            agg["max_s"], agg["max_host"] = t["seconds"], t["host"]
    ranked = sorted(by_task.values(), key=lambda a: (-a["total_s"], a["role"] or "", a["task"]))[:n]
    return [{**a, "total_s": round(a["total_s"], 2), "max_s": round(a["max_s"], 2)} for a in ranked]


@dataclass
class RunResult:
    hub_id: str
    rc: int
    hosts: dict[str, HostResult] = field(default_factory=dict)
    changed_tasks: list[dict] = field(default_factory=list)
    # Check mode: commands whose output decides whether they change anything.
    unpredictable_tasks: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    duration_s: float = 0.0
    check: bool = False
    lab: bool = False
    limit: tuple[str, ...] = ()
    log_path: Path | None = None
    # Hosts this run bootstrapped first (never contacted before).
    bootstrapped: list[str] = field(default_factory=list)
    # One entry per host result that carried the callback's timing:
    # {"host", "role", "task", "handler", "seconds"}.
    task_times: list[dict] = field(default_factory=list)

    def slowest_tasks(self, n: int = SLOWEST) -> list[dict]:
        """The ``n`` tasks that cost the most host-seconds in this run.

        Under the free strategies every host walks its tasks on its own, so a
        task's cost is summed over the hosts that ran it (on a small machine the
        hosts share its cores); the slowest single host is named beside it.
        """
        return slowest(self.task_times, n)

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, r in self.hosts.items() if r.failed or r.unreachable)

    @property
    def succeeded(self) -> bool:
        return self.rc == 0 and not self.failed_hosts and bool(self.hosts)

    def to_json(self) -> dict:
        """The `--json` document: counts per host, what changed and the slowest tasks."""
        return {
            "hosts": {h: r.as_dict() for h, r in sorted(self.hosts.items())},
            "changed_tasks": self.changed_tasks,
            "slowest_tasks": self.slowest_tasks(),
            "duration_s": round(self.duration_s, 2),
        }

    def record(self) -> dict:
        """What is persisted for the audit step (names and counts only, no secrets)."""
        return {
            **self.to_json(),
            "hub": self.hub_id,
            "check": self.check,
            "lab": self.lab,
            "limit": list(self.limit),
            "rc": self.rc,
            "failed_hosts": self.failed_hosts,
            "failures": self.failures,
            "bootstrapped": self.bootstrapped,
        }


# -- prerequisites -------------------------------------------------------------

def ansible_playbook() -> str:
    """The ansible-playbook beside our interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise PrerequisiteError("ansible-playbook is not installed",
                                "run 'bash .ci/setup' (or pip install -e '.[test]') in the hubkit checkout")
    return found


def render_dir(fleet_root: Path, hub_id: str) -> Path:
    d = Path(fleet_root).resolve() / "build" / hub_id
    if not (d / "inventory" / "hosts.yml").is_file():
        raise PrerequisiteError(f"no rendered configuration for hub {hub_id!r} in {d}",
                                f"run 'hubkit render {hub_id}' first")
    return d


def vault_file(fleet_root: Path, hub_id: str) -> Path:
    f = Path(fleet_root).resolve() / "secrets" / f"{hub_id}.vault.yml"
    if not f.is_file():
        raise PrerequisiteError(f"no secrets for hub {hub_id!r}: {f} is missing",
                                f"run 'hubkit secrets init {hub_id}' first")
    return f


def lab_target(hub_id: str) -> LabTarget:
    """The running lab of ``hub_id`` (exit 3 when there is none)."""
    from hubkit.lab import load

    info = load(hub_id)
    hint = f"run 'hubkit lab up {hub_id}' first"
    if info is None:
        raise PrerequisiteError(f"no lab running for hub {hub_id!r}", hint)
    netns, inv = info.netns_mgmt, Path(info.inventory_dir)
    if not netns or not Path("/run/netns", netns).exists() or not (inv / "hosts.yml").is_file():
        raise PrerequisiteError(f"the lab of hub {hub_id!r} is not running "
                                f"(netns {netns or '?'} or {inv}/hosts.yml missing)", hint)
    return LabTarget(hub_id, netns, inv)


# -- building the run ------------------------------------------------------------

# ansible.cfg's ssh_args plus one persisted master per host (stock strategies only).
STOCK_SSH_ARGS = ("-o ControlMaster=auto -o ControlPersist=120s -o PreferredAuthentications=publickey "
                  "-o ServerAliveInterval=3 -o ServerAliveCountMax=3")


def build_run(fleet_root: Path, hub_id: str, *, lab: LabTarget | None = None, check: bool = False,
              diff: bool = False, limit: tuple[str, ...] = (), verbosity: int = 0,
              extra_vars: dict | None = None, playbook: Path = SITE,
              config: Path | None = CONFIG, env: dict[str, str] | None = None,
              access=None, strategy: str | None = None, var_files: tuple[Path, ...] = (),
              with_vault: bool = True, rendered: Path | None = None) -> AnsibleRun:
    """Describe the ansible-playbook run for ``hub_id`` (checks prerequisites, runs nothing).

    ``access`` (hubkit.access.Access) adds the operator's own user, key and
    jump host; ``strategy`` overrides ansible.cfg's; ``var_files`` are passed
    as ``-e @FILE`` after the secrets (bootstrap's installer password).
    """
    base_env = dict(os.environ if env is None else env)
    if with_vault:
        from hubkit.secrets import vault_password
        vault_password(env=base_env)
    # ``rendered``: another render of the hub (hubkit plan checks a fresh one, not build/).
    rdir = Path(rendered) if rendered is not None else render_dir(fleet_root, hub_id)
    secrets = vault_file(fleet_root, hub_id) if with_vault else None
    exe = ansible_playbook()
    if lab is not None and os.geteuid() != 0:
        raise PrerequisiteError("configure --lab runs Ansible inside the lab's network namespace",
                                "re-run as root")
    for host in limit:
        if not host or any(c in host for c in " ,"):
            raise UsageError(f"bad --limit entry {host!r}", "use --limit HOST[,HOST...]")

    cmd = [exe, "-i", str(rdir / "inventory")]
    if lab is not None:
        cmd += ["-i", str(lab.inventory)]
    if secrets is not None:
        cmd += ["--vault-password-file", str(VAULT_SCRIPT), "-e", f"@{secrets}"]
    evars = {"hubkit_render_dir": str(rdir), "hubkit_hub_id": hub_id,
             **(access.ansible_extra_vars() if access is not None else {}), **(extra_vars or {})}
    cmd += ["-e", json.dumps(evars, sort_keys=True)]
    for f in var_files:
        cmd += ["-e", f"@{f}"]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", ",".join(limit)]
    if verbosity:
        cmd.append("-" + "v" * min(verbosity, 4))
    cmd.append(str(playbook))

    run_env = {k: v for k, v in base_env.items() if not k.startswith("ANSIBLE_")}
    # Our callback plugin is always on; the config file adds hubkit's speed settings.
    run_env["ANSIBLE_CALLBACK_PLUGINS"] = str(PLAYBOOKS / "callback_plugins")
    run_env["ANSIBLE_CALLBACKS_ENABLED"] = "hubkit_events"
    run_env["ANSIBLE_ROLES_PATH"] = str(PLAYBOOKS / "roles")
    run_env["ANSIBLE_NOCOLOR"] = "1"
    run_env["ANSIBLE_FORCE_COLOR"] = "0"
    run_env["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
    # Several labs can hold the same addresses in different netns: one
    # ControlPath directory per target keeps their SSH masters apart.
    run_env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(CONTROL_DIR / (lab.netns if lab else f"{hub_id}-site"))
    run_env["ANSIBLE_LOCAL_TEMP"] = str(Path(tempfile.gettempdir()) / "hubkit-ansible-tmp")
    # Escape hatch from Mitogen (ansible.cfg's default) to a stock strategy,
    # which needs SSH masters to be fast.
    chosen = strategy or base_env.get("HUBKIT_ANSIBLE_STRATEGY")
    if chosen:
        run_env["ANSIBLE_STRATEGY"] = chosen
        run_env["ANSIBLE_SSH_ARGS"] = STOCK_SSH_ARGS
    if config is not None:
        run_env["ANSIBLE_CONFIG"] = str(config)
    else:
        run_env["ANSIBLE_CONFIG"] = os.devnull
    # Make sure the venv's ansible tools (ansible-playbook's helpers) come first.
    run_env["PATH"] = os.pathsep.join([str(Path(exe).parent), run_env.get("PATH", os.defpath)])
    return AnsibleRun(tuple(cmd), run_env, PLAYBOOKS, lab.netns if lab else None, hub_id)


# -- executing it -----------------------------------------------------------------

Listener = Callable[[dict], None]


class _EventReader(threading.Thread):
    """Reads JSON lines from the callback's pipe and folds them into a RunResult."""

    def __init__(self, fd: int, result: RunResult, listener: Listener | None):
        super().__init__(daemon=True)
        self.fd = fd
        self.result = result
        self.listener = listener
        self.stats_seen = False

    def run(self) -> None:
        with os.fdopen(self.fd, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                self.fold(ev)
                if self.listener is not None:
                    try:
                        self.listener(ev)
                    except Exception:  # a display problem must never lose results
                        log.debug("event listener failed", exc_info=True)

    def fold(self, ev: dict) -> None:
        r = self.result
        kind = ev.get("event")
        if kind == "result":
            host = r.hosts.setdefault(ev["host"], HostResult())
            status = ev.get("status")
            if isinstance(ev.get("duration_s"), (int, float)):
                r.task_times.append({"host": ev["host"], "role": ev.get("role"), "task": ev.get("task", ""),
                                     "handler": bool(ev.get("handler")), "seconds": float(ev["duration_s"])})
            if ev.get("changed") and status == "ok":
                r.changed_tasks.append({"host": ev["host"], "task": ev.get("task", ""),
                                        "role": ev.get("role"), **({"diff": ev["diff"]} if ev.get("diff") else {})})
            if ev.get("unpredictable"):
                r.unpredictable_tasks.append({"host": ev["host"], "task": ev.get("task", ""), "role": ev.get("role")})
            if status in ("failed", "unreachable"):
                r.failures.append({"host": ev["host"], "task": ev.get("task", ""),
                                   "status": status, "msg": ev.get("msg", "")})
            if not self.stats_seen and status == "unreachable":
                host.unreachable += 1
        elif kind == "stats":
            # Ansible's own recap is authoritative for the counts.
            self.stats_seen = True
            for name, s in ev.get("hosts", {}).items():
                r.hosts[name] = HostResult(ok=s.get("ok", 0), changed=s.get("changed", 0),
                                           failed=s.get("failures", 0),
                                           unreachable=s.get("unreachable", 0),
                                           skipped=s.get("skipped", 0))


def execute(run: AnsibleRun, *, log_path: Path | None = None, listener: Listener | None = None,
            check: bool = False, lab: bool = False, limit: tuple[str, ...] = ()) -> RunResult:
    """Run ``run``; Ansible's screen output goes to ``log_path`` (or is discarded)."""
    import subprocess

    result = RunResult(hub_id=run.hub_id, rc=-1, check=check, lab=lab, limit=tuple(limit),
                       log_path=log_path)
    rfd, wfd = os.pipe()
    env = dict(run.env)
    env["HUBKIT_EVENTS_FD"] = str(wfd)
    reader = _EventReader(rfd, result, listener)
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(run.argv(), cwd=run.cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, pass_fds=(wfd,))
        except FileNotFoundError as e:
            os.close(rfd)
            raise PrerequisiteError(f"cannot start {run.argv()[0]}: {e.strerror}",
                                    "install iproute2 and ansible (bash .ci/setup)") from None
        finally:
            os.close(wfd)
        reader.start()
        try:
            result.rc = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        reader.join(timeout=10)
    finally:
        if log_path:
            out.close()
    result.duration_s = time.monotonic() - t0
    result.changed_tasks.sort(key=lambda t: (t["host"], t["task"]))
    if not result.hosts and result.rc != 0:
        tail = _tail(log_path)
        raise HubkitError(f"ansible-playbook failed before any host ran (exit {result.rc}): "
                          f"{run.describe()}" + (f"\n{tail}" if tail else ""),
                          "fix the error above; the full output is in "
                          f"{log_path}" if log_path else "re-run with -v")
    return result


def _tail(path: Path | None, lines: int = 15) -> str:
    if not path or not path.is_file():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


# -- the whole command -------------------------------------------------------------

def save_record(fleet_root: Path, result: RunResult) -> Path:
    """Persist the recap as .hubkit/runs/<id>/configure.json (temp file + rename)."""
    return write_json(runs_dir(fleet_root, result.hub_id) / "configure.json", result.record())


def hub_access(fleet_root: Path, hub_id: str, *, lab: bool, user=None, private_key=None, jump=None):
    """(hub model, lab info or None, Access) for a run against the site or the lab."""
    from hubkit.access import lab_access, site_access
    from hubkit.errors import FindingsError
    from hubkit.fleet.repo import load_fleet
    rec = load_fleet(fleet_root).hub(hub_id)
    if rec.model is None:
        raise FindingsError(rec.findings)
    if lab:
        from hubkit.lab import load
        info = load(hub_id)
        if info is None:
            raise PrerequisiteError(f"no lab running for hub {hub_id!r}", f"run 'hubkit lab up {hub_id}' first")
        return rec.model, info, lab_access(info, rec.model, user=user, private_key=private_key, jump=jump)
    return rec.model, None, site_access(fleet_root, rec.model, user=user, private_key=private_key, jump=jump)


def _first_contact(fleet_root: Path, hub_id: str, hub, info, access, *, lab: bool, check: bool,
                   credential, user, private_key, jump, verbosity: int, wait: float) -> list[str]:
    """Bootstrap the hosts that never were (configure's first step); their names."""
    from hubkit import bootstrap as bs
    todo = bs.pending(access, hub, info)
    if not todo:
        return []
    if check:
        raise PrerequisiteError(f"{', '.join(todo)} of hub {hub_id} are not bootstrapped; a check run "
                                "changes nothing, so it cannot take them over",
                                f"run `hubkit bootstrap {hub_id}{' --lab' if lab else ''}` first")
    if credential is None and not (info is not None and info.factory):
        raise PrerequisiteError(
            f"{', '.join(todo)} of hub {hub_id} are not bootstrapped (no host key recorded in "
            f"{access.known_hosts})",
            f"run `hubkit bootstrap {hub_id} --installer-key FILE` (or --installer-password), "
            "or pass the same option to configure")
    res = bs.bootstrap(fleet_root, hub_id, lab=lab, credential=credential, user=user, private_key=private_key,
                       jump=jump, limit=tuple(todo), verbosity=verbosity, wait=wait)
    if not res.ok:
        bad = [f"{h.name}: {h.status} {h.message}".strip() for h in res.hosts if h.status not in
               ("already", "bootstrapped", "vendor")]
        raise HubkitError("bootstrap failed: " + "; ".join(bad),
                          f"see {res.log_path}" if res.log_path else
                          "check that the hosts answer SSH from here (address, cabling, jump host)")
    return [h.name for h in res.hosts if h.status == "bootstrapped"]


# How ssh and Ansible (2.19: "...unrecognized or mismatching host key") report a refused host key.
HOST_KEY_CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed",
                    "mismatching host key")


def configure(fleet_root: Path, hub_id: str, *, lab: bool = False, check: bool = False,
              diff: bool = False, limit: tuple[str, ...] = (), verbosity: int = 0,
              wait: float = 0.0, listener: Listener | None = None,
              extra_vars: dict | None = None, user: str | None = None, private_key: Path | None = None,
              jump: str | None = None, credential=None) -> RunResult:
    """Converge hub ``hub_id`` (its lab with ``lab=True``) under the hub lock.

    Hosts never bootstrapped are bootstrapped first (with ``credential``, or
    a factory lab's installer key); without a credential that is exit 3.
    """
    from hubkit.lock import hub_lock

    hub, info, access = hub_access(fleet_root, hub_id, lab=lab, user=user, private_key=private_key, jump=jump)
    target = lab_target(hub_id) if lab else None
    run = build_run(fleet_root, hub_id, lab=target, check=check, diff=diff, limit=limit,
                    verbosity=verbosity, extra_vars=extra_vars, access=access)
    first = _first_contact(fleet_root, hub_id, hub, info, access, lab=lab, check=check, credential=credential,
                           user=user, private_key=private_key, jump=jump, verbosity=verbosity, wait=wait)
    with hub_lock(fleet_root, hub_id, command="configure", wait=wait):
        d = runs_dir(fleet_root, hub_id)
        d.mkdir(parents=True, exist_ok=True)
        log_path = d / "configure.log"
        result = execute(run, log_path=log_path, listener=listener, check=check, lab=lab, limit=limit)
        result.bootstrapped = first
        for f in result.failures:
            if any(m in f.get("msg", "") for m in HOST_KEY_CHANGED):
                f["msg"] = (f"the host key is not the one recorded in {access.known_hosts}; refused. "
                            "If the host was replaced on purpose, delete its lines there and run "
                            "`hubkit bootstrap` again")
        if not check:
            save_record(fleet_root, result)
    return result
