"""`hubkit bootstrap`: take a hub's hosts from their delivered state to the managed baseline.

A host arrives as a fresh Debian install: root logs in with an installer
credential (a key file, or a password the operator types), there are no
admin accounts.  Bootstrap, per host:

1. scans the host key and compares it with the record (``known_hosts/<id>``
   in the fleet, or the lab's ``site_known_hosts``): a changed key is
   refused; a recorded host whose admin login already works is skipped;
2. runs ``playbooks/bootstrap.yml`` as root, checking the just-scanned key
   strictly: the hub's admins with their keys and sudo (the common role's
   own tasks), root and password logins off;
3. records the host key and checks that the connect admin now gets in.

The installer credential is never stored: a password reaches Ansible in a
0600 file in a private temp directory that is removed afterwards, and
Ansible's output never shows it (it is a connection variable).  The data
centre's concentrator is not a delivered host and is never bootstrapped; a
vendor switch (Cisco IOS) has its own onboarding and is skipped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hubkit import hostkeys
from hubkit.access import Access, lab_access, site_access
from hubkit.errors import PrerequisiteError, UsageError
from hubkit.paths import PLAYBOOKS

PLAYBOOK = PLAYBOOKS / "bootstrap.yml"
# Root's session during bootstrap must not outlive it (root logins end with it).
SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=10s -o ServerAliveInterval=3 -o ServerAliveCountMax=3"


@dataclass(frozen=True)
class InstallerCredential:
    """How root logs in on a delivered host: a key file, or a password (never stored)."""

    user: str = "root"
    key: Path | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.user} with key {self.key}" if self.key else f"{self.user} with a password"


@dataclass
class HostOutcome:
    name: str
    address: str
    status: str  # already | bootstrapped | failed | unreachable | vendor
    message: str = ""


@dataclass
class BootstrapResult:
    hub_id: str
    lab: bool
    hosts: list[HostOutcome] = field(default_factory=list)
    known_hosts: str = ""
    log_path: str | None = None

    @property
    def ok(self) -> bool:
        return all(h.status in ("already", "bootstrapped", "vendor") for h in self.hosts)

    def as_dict(self) -> dict:
        return {"hub": self.hub_id, "lab": self.lab, "ok": self.ok, "known_hosts": self.known_hosts,
                "hosts": [dataclasses.asdict(h) for h in self.hosts], "log": self.log_path}


@dataclass(frozen=True)
class Target:
    name: str
    address: str
    vendor: bool = False  # a vendor device: not bootstrapped by hubkit


def targets(hub, lab_info=None) -> list[Target]:
    """The hub's delivered hosts (router, switch, workstations), reachable addresses included."""
    from hubkit import topology
    topo = topology.build(hub)
    lab_addr = {h["name"]: h["mgmt_address"] for h in lab_info.hosts} if lab_info else {}
    out = []
    for plan in [topo.router, topo.switch, *topo.workstations]:
        addr = lab_addr.get(plan.name) or topo.ansible_host(plan)
        # In the lab a Linux host stands in for a vendor switch, and is bootstrapped like one.
        vendor = plan.role == "switch" and hub.switch.dialect != "linux-bridge" and lab_info is None
        out.append(Target(plan.name, addr, vendor))
    return out


def pending(access: Access, hub, lab_info=None) -> list[str]:
    """Hosts with no recorded host key yet: never bootstrapped (no network needed)."""
    return [t.name for t in targets(hub, lab_info) if not t.vendor
            and not hostkeys.recorded(access.known_hosts, t.name)]


def _netns(argv: list[str], access: Access) -> list[str]:
    return ["ip", "netns", "exec", access.netns, *argv] if access.netns else argv


def admin_login_ok(access: Access, t: Target, presented: dict[str, str] | None = None) -> bool:
    """The connect admin logs in with its key and may use sudo (no password).

    ``presented``: check against these just-scanned keys instead of the record
    (a host a killed run had taken over before it recorded the key).
    """
    if presented is not None:
        with tempfile.TemporaryDirectory(prefix="hubkit-kh-") as tmp:
            kh = Path(tmp) / "known_hosts"
            kh.write_text("".join(f"{t.name},{t.address} {typ} {key}\n" for typ, key in sorted(presented.items())))
            return admin_login_ok(dataclasses.replace(access, known_hosts=kh), t)
    argv = _netns(["ssh", *access.ssh_options(), "-o", f"HostKeyAlias={t.name}", t.address, "sudo", "-n", "true"], access)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return p.returncode == 0


def _examine(access: Access, t: Target) -> tuple[HostOutcome | None, dict[str, str]]:
    """(outcome if nothing is to be done, presented keys)."""
    if t.vendor:
        return HostOutcome(t.name, t.address, "vendor", "vendor device: onboarded by its own procedure"), {}
    presented = hostkeys.scan(t.address, access.netns)
    if not presented:
        return HostOutcome(t.name, t.address, "unreachable", "no SSH host key answered on port 22"), {}
    if hostkeys.check(access.known_hosts, t.name, t.address, presented):
        if admin_login_ok(access, t):
            return HostOutcome(t.name, t.address, "already", "host key recorded, admin login works"), presented
    elif admin_login_ok(access, t, presented):
        # Taken over by a run that was stopped before it recorded the key: record it now.
        hostkeys.record(access.known_hosts, t.name, t.address, presented)
        return HostOutcome(t.name, t.address, "already", "admin login works; host key recorded now"), presented
    return None, presented


def bootstrap(fleet_root: Path, hub_id: str, *, lab: bool = False,
              credential: InstallerCredential | None = None, user: str | None = None,
              private_key: Path | None = None, jump: str | None = None, limit: tuple[str, ...] = (),
              verbosity: int = 0, wait: float = 0.0, listener=None) -> BootstrapResult:
    """Bootstrap the hub's hosts that need it (all of them when ``limit`` is empty)."""
    from hubkit.configure import build_run, execute, lab_target
    from hubkit.runs import runs_dir
    from hubkit.fleet.repo import load_fleet
    from hubkit.lock import hub_lock

    rec = load_fleet(fleet_root).hub(hub_id)
    if rec.model is None:
        from hubkit.errors import FindingsError
        raise FindingsError(rec.findings)
    hub = rec.model
    info = None
    if lab:
        from hubkit import lab as hklab
        info = hklab.load(hub_id)
        if info is None:
            raise PrerequisiteError(f"no lab running for hub {hub_id!r}", f"run 'hubkit lab up {hub_id}' first")
        access = lab_access(info, hub, user=user, private_key=private_key, jump=jump)
        if credential is None and info.factory:
            # The lab plays the vendor: its installer key is the delivery's credential.
            credential = InstallerCredential(key=info.installer_key)
    else:
        access = site_access(fleet_root, hub, user=user, private_key=private_key, jump=jump)
    all_targets = targets(hub, info)
    unknown = sorted(set(limit) - {t.name for t in all_targets})
    if unknown:
        raise UsageError(f"no host {', '.join(unknown)} to bootstrap in hub {hub_id}",
                         "hosts: " + ", ".join(t.name for t in all_targets))
    chosen = [t for t in all_targets if not limit or t.name in limit]
    result = BootstrapResult(hub_id, lab, known_hosts=str(access.known_hosts))
    if credential is not None:
        _check_credential(credential)
    never = [t.name for t in chosen if not t.vendor and not hostkeys.recorded(access.known_hosts, t.name)]
    if never and credential is None:
        # Decided from the record alone: nothing is contacted without the credential.
        raise PrerequisiteError(
            f"{', '.join(never)} of hub {hub_id} were never bootstrapped (no host key recorded in "
            f"{access.known_hosts})",
            f"give the installer credential: `hubkit bootstrap {hub_id} --installer-key FILE` "
            "(or --installer-password to be asked)")

    with hub_lock(fleet_root, hub_id, command="bootstrap", wait=wait):
        with ThreadPoolExecutor(max_workers=8) as pool:
            examined = list(pool.map(lambda t: _examine(access, t), chosen))
        todo = []
        for t, (outcome, presented) in zip(chosen, examined):
            if outcome is not None:
                result.hosts.append(outcome)
            else:
                todo.append((t, presented))
        if not todo:
            return result
        if credential is None:
            raise PrerequisiteError(
                f"{', '.join(t.name for t, _ in todo)} of hub {hub_id} are not bootstrapped yet "
                f"(no admin login; host keys recorded in {access.known_hosts} for "
                f"{sum(1 for t, _ in todo if hostkeys.recorded(access.known_hosts, t.name))} of them)",
                f"give the installer credential: `hubkit bootstrap {hub_id} --installer-key FILE` "
                "(or --installer-password to be asked)")
        d = runs_dir(fleet_root, hub_id)
        d.mkdir(parents=True, exist_ok=True)
        result.log_path = str(d / "bootstrap.log")
        run_result = _run_playbook(fleet_root, hub_id, access, credential, todo,
                                   lab_target(hub_id) if lab else None, verbosity, d / "bootstrap.log",
                                   listener, build_run, execute)
        failed = set(run_result.failed_hosts)
        for t, presented in todo:
            if t.name in failed:
                msg = next((f"{f['task']}: {f['msg']}" for f in run_result.failures if f["host"] == t.name), "")
                result.hosts.append(HostOutcome(t.name, t.address, "failed", msg[:500]))
                continue
            hostkeys.record(access.known_hosts, t.name, t.address, presented)
            ok = admin_login_ok(access, t)
            result.hosts.append(HostOutcome(t.name, t.address, "bootstrapped" if ok else "failed",
                                            "" if ok else f"{access.user} cannot log in with its key afterwards"))
    result.hosts.sort(key=lambda h: [t.name for t in all_targets].index(h.name))
    return result


def _check_credential(credential: InstallerCredential) -> None:
    if credential.password is not None and shutil.which("sshpass") is None:
        raise PrerequisiteError("a password login needs sshpass on this machine",
                                "apt-get install sshpass, or use --installer-key")
    if credential.key is not None and not Path(credential.key).is_file():
        raise PrerequisiteError(f"installer key {credential.key} does not exist",
                                "pass the private key the hosts were installed with")


def _run_playbook(fleet_root, hub_id, access: Access, cred: InstallerCredential, todo, lab_tgt,
                  verbosity, log_path: Path, listener, build_run, execute):
    """One ansible-playbook run as the installer user against the hosts in ``todo``."""
    with tempfile.TemporaryDirectory(prefix="hubkit-bootstrap-") as tmp:
        tmpd = Path(tmp)
        os.chmod(tmpd, 0o700)
        # Trust on first use for the new hosts, strictly checked during the run.
        kh = tmpd / "known_hosts"
        lines = [e.text() for e in hostkeys.read(access.known_hosts)]
        lines += [f"{t.name},{t.address} {typ} {key}" for t, keys in todo for typ, key in sorted(keys.items())]
        kh.write_text("\n".join(lines) + "\n")
        conn = {"ansible_user": cred.user, "ansible_become": False,
                "ansible_ssh_common_args": f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={kh} "
                                           f"-o GlobalKnownHostsFile=/dev/null"}
        var_files: tuple[Path, ...] = ()
        if cred.key is not None:
            conn["ansible_ssh_private_key_file"] = str(Path(cred.key).resolve())
        if cred.password is not None:
            pw = tmpd / "installer.json"
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"ansible_password": cred.password}, f)
            var_files = (pw,)
        run = build_run(fleet_root, hub_id, lab=lab_tgt, limit=tuple(t.name for t, _ in todo),
                        verbosity=verbosity, playbook=PLAYBOOK, access=None, extra_vars=conn,
                        strategy="linear", var_files=var_files, with_vault=False)
        auth = "password,keyboard-interactive" if cred.password is not None else "publickey"
        run = dataclasses.replace(run, env={**run.env,
                                            "ANSIBLE_SSH_ARGS": f"{SSH_ARGS} -o PreferredAuthentications={auth}"})
        return execute(run, log_path=log_path, listener=listener)
