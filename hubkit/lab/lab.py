"""Lab orchestration: up, down, status, list, exec.

``up`` is idempotent (a healthy lab is left alone); a partial lab (e.g. after
``up`` was killed) is torn down from its ledger and built again.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError
from hubkit.lab import artifacts, cgroups, hosts, image, prereq, standin, wiring
from hubkit.lab.state import State, all_states, lab_dir, lab_lock, machine_lock

PREFIX = "hk"
SSH_TIMEOUT = 60.0

# Runs inside the mgmt netns: reports each address as soon as its sshd sends a banner.
PROBE = r"""
import os, socket, sys, time
todo = set(sys.argv[2:]); deadline = time.monotonic() + float(sys.argv[1])
while todo and time.monotonic() < deadline:
    for a in sorted(todo):
        try:
            with socket.create_connection((a, 22), timeout=0.3) as s:
                s.settimeout(1.0)
                if s.recv(4).startswith(b"SSH-"):
                    todo.discard(a); print(a, flush=True)
        except OSError:
            pass
    time.sleep(0.05)
# This runs as its own process in the mgmt netns; its exit status is the answer.
os._exit(1 if todo else 0)
"""


@dataclass
class LabInfo:
    """What configure/verify need to drive a running lab (``hubkit.lab.load``)."""

    id: str
    prefix: str
    dir: Path
    mode: str
    netns_mgmt: str
    ssh_config: Path
    known_hosts: Path
    private_key: Path
    inventory_dir: Path
    admin: str
    hosts: list[dict] = field(default_factory=list)
    # Booted as delivered (root with the installer key, no admins) for `hubkit bootstrap`.
    factory: bool = False

    @property
    def site_known_hosts(self) -> Path:
        """The operator-side record of host keys that configure and bootstrap check."""
        return self.dir / "site_known_hosts"

    @property
    def installer_key(self) -> Path:
        """The stand-in for the vendor's installer credential (a root login key)."""
        return self.dir / "installer_ed25519"

    def netns_exec(self, *argv: str) -> list[str]:
        """Command prefix that runs ``argv`` inside the lab's mgmt netns (the engineer's laptop)."""
        return ["ip", "netns", "exec", self.netns_mgmt, *argv]

    def ssh(self, host: str, *cmd: str) -> list[str]:
        """Command that runs ``cmd`` on ``host`` over SSH from the mgmt netns."""
        return self.netns_exec("ssh", "-F", str(self.ssh_config), host, *cmd)

    def host(self, name: str) -> dict:
        for h in self.hosts:
            if h["name"] == name:
                return h
        raise HubkitError(f"no host {name!r} in lab {self.id}",
                          "hosts: " + ", ".join(h["name"] for h in self.hosts))


def _check_id(lab_id: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", lab_id):
        raise HubkitError(f"lab id {lab_id!r} is not usable as a namespace name",
                          "hub ids are lowercase letters, digits and '-'")


def load(lab_id: str) -> LabInfo | None:
    """The lab of hub ``lab_id`` if it was brought up, else None."""
    st = State.load(lab_id)
    if st is None or "hosts" not in st.data:
        return None
    d = lab_dir(lab_id)
    return LabInfo(id=lab_id, prefix=st.get("prefix"), dir=d, mode=st.get("mode"),
                   netns_mgmt=st.get("netns_mgmt"), ssh_config=d / "ssh_config",
                   known_hosts=d / "known_hosts", private_key=d / "id_ed25519",
                   inventory_dir=d / "inventory", admin=st.get("admin"), hosts=st.get("hosts"),
                   factory=bool(st.get("factory")))


def _hub_topology(record):
    from hubkit import topology
    from hubkit.errors import FindingsError
    if record.model is None or any(f.severity == "error" for f in record.findings):
        raise FindingsError(record.findings or [])
    return record.model, topology.build(record.model)


# The controller reaches the simulated data centre through the hub router's WAN.
# When the first converge loads the router's masquerade rule, NAT takes over that
# SSH flow mid-stream: the controller's end closes, the core never hears of it,
# and its session (with Ansible's Mitogen interpreters) would stay until `lab down`.
# sshd probing idle clients ends such a session after 3 unanswered probes 10 s
# apart (seen: about a minute after the run).  Core only: hub hosts keep exactly
# the sshd settings hubkit renders for them.
CORE_SSHD = """# Written by `hubkit lab up` (the simulated data centre only).
ClientAliveInterval 10
ClientAliveCountMax 3
"""


def _etc_hosts(topo_hosts: list[tuple[str, str]], own: str) -> str:
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{own}", "::1\tlocalhost ip6-localhost ip6-loopback", ""]
    lines[3:3] = [f"{addr}\t{name}" for name, addr in sorted(topo_hosts) if name != own]
    return "\n".join(lines) + "\n"


def _host_objs(st: State) -> list[hosts.Host]:
    img_root = image.CACHE / st.get("image", "") / "rootfs"
    return [hosts.Host(st.lab_id, st.dir, h["name"], h["netns"], img_root)
            for h in st.get("hosts", []) if h["role"] != "mgmt"]


def healthy(lab_id: str) -> bool:
    st = State.load(lab_id)
    if st is None or st.get("phase") != "up":
        return False
    if not all(wiring.netns_exists(n) for n in st.get("netns", [])):
        return False
    return all(h.running() for h in _host_objs(st))


def up(record, rebuild: bool = False, on_event=None, factory: bool = False) -> dict:
    """Bring the lab of ``record`` (a HubRecord) up.  Returns ``{"noop": bool, "seconds": s}``.

    ``factory``: the hub's hosts boot as a vendor delivers them (root login
    with the lab's installer key, no admin accounts, sshd at Debian's
    defaults), for `hubkit bootstrap` to take over.  The data centre's core
    is never factory-fresh: it is already managed.
    """
    say = on_event or (lambda *a: None)
    prereq.require_root()
    hub, topo = _hub_topology(record)
    prereq.require_tools()
    lab_id = hub.id
    _check_id(lab_id)
    with lab_lock(lab_id):
        return _up(hub, topo, lab_id, rebuild, say, factory)


def _up(hub, topo, lab_id: str, rebuild: bool, say, factory: bool = False) -> dict:
    t0 = time.monotonic()
    if (old := State.load(lab_id)) is not None:
        if healthy(lab_id) and not rebuild and bool(old.get("factory")) == factory:
            # Re-rendered on every up: a template change reaches a running lab's stand-in.
            standin.prepare(lab_dir(lab_id), hub)
            return {"noop": True, "seconds": 0.0, "standin": _standin_note(hub)}
        say("teardown", lab_id)
        _down(lab_id)
    img = image.require_current()
    mode = hosts.detect_mode(img.rootfs)
    sysctl_note = None  # the one machine-wide change, reported by the caller
    prefix = f"{PREFIX}-{lab_id}"
    p = wiring.plan(topo, prefix, hub.network.site_prefix, hub.vpn.core_networks)
    taken = [n.netns for n in p.nodes if wiring.netns_exists(n.netns)]
    if taken:
        raise HubkitError(f"netns {', '.join(taken)} exist but belong to no hubkit lab ledger",
                          "remove them by hand ('ip netns del NAME') if they are leftovers")
    st = State(lab_id)
    d = st.dir
    st.record("dirs", str(d))
    admin = hub.connect_user()
    admins = [{"username": a.username, "full_name": a.full_name, "ssh_keys": list(a.ssh_keys)}
              for a in hub.hub_admins()]
    st.set(hub=lab_id, prefix=prefix, mode=mode, image=img.hash, admin=admin, factory=factory,
           netns_mgmt=next(n.netns for n in p.nodes if n.role == "mgmt"),
           hosts=[{"name": n.name, "role": n.role, "netns": n.netns, "mgmt_address": n.mgmt_address}
                  for n in p.nodes])
    if mode == hosts.NSPAWN:
        # After the ledger exists: a concurrent `lab down` of the last other lab
        # then sees this one and leaves the limit raised.
        with machine_lock("sysctl"):
            old = prereq.raise_inotify_limit()
        if old is not None:
            sysctl_note = (f"fs.inotify.max_user_instances {old} -> {prereq.INOTIFY_INSTANCES} "
                           "(the last 'lab down' restores it)")
            say("sysctl", sysctl_note)
    _key, pub = artifacts.ssh_keypair(d, lab_id)
    _ikey, installer_pub = artifacts.ssh_keypair(d, lab_id, "installer_ed25519")
    wg_key, wg_pub = artifacts.wg_keypair(d)
    switch_standin = standin.prepare(d, hub)
    if switch_standin is not None:
        say("stand-in", _standin_note(hub))
    say("wiring", f"{len(p.nodes)} netns, {len(p.links)} links")
    wiring.apply(st, p)

    booting = [n for n in p.nodes if n.boots]
    host_objs = {n.name: hosts.Host(lab_id, d, n.name, n.netns, img.rootfs) for n in booting}
    addr_list = [(n.name, n.mgmt_address) for n in p.nodes]

    def prepare_and_start(n):
        h = host_objs[n.name]
        h.mount(st)
        fresh = factory and n.role != "core"
        h.identity(n.name, _etc_hosts(addr_list, n.name), admins, admin, pub,
                   installer_key=installer_pub if fresh else None,
                   sshd_dropin=CORE_SSHD if n.role == "core" else None)
        say("booting", n.name)
        return h.start(st, mode, n.name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(prepare_and_start, booting))
    keys = [(n.name, n.mgmt_address, host_objs[n.name].host_keys()) for n in booting]
    artifacts.known_hosts(d, keys)
    # A prepared lab is as bootstrap leaves a site: every host key recorded.
    artifacts.known_hosts(d, [k for k, n in zip(keys, booting) if not factory or n.role == "core"],
                          name="site_known_hosts")
    artifacts.ssh_config(d, admin, [(n.name, n.mgmt_address) for n in booting])
    artifacts.inventory(d, pub, [(n.name, n.role, n.mgmt_address) for n in booting], wg_pub, wg_key,
                        switch_standin)
    _wait_ssh(st, booting, host_objs, say, factory)
    st.set(phase="up")
    return {"noop": False, "seconds": round(time.monotonic() - t0, 2), "sysctl": sysctl_note,
            "standin": _standin_note(hub)}


def _standin_note(hub) -> str | None:
    s = standin.for_hub(hub)
    return s.note() if s else None


def _wait_ssh(st: State, booting, host_objs, say, factory: bool = False) -> None:
    """Wait until every host answers an SSH login (``hostname``) from the mgmt netns.

    A probe in the mgmt netns reports each sshd banner as it appears; the login of
    that host starts at once, overlapping with the other hosts' boots.
    """
    by_addr = {n.mgmt_address: n for n in booting}
    info = load(st.lab_id)

    def login(n):
        # A factory host has only root with the installer key (no master: root's
        # session must not outlive bootstrap, which disables root logins).
        argv = info.ssh(n.name, "hostname") if not factory or n.role == "core" else info.netns_exec(
            "ssh", "-F", str(info.ssh_config), "-l", "root", "-i", str(info.installer_key),
            "-o", "ControlMaster=no", "-o", "ControlPath=none", n.name, "hostname")
        # sshd may answer before systemd-user-sessions removed /run/nologin: retry briefly.
        deadline = time.monotonic() + 15
        while True:
            # stdin from /dev/null: this ssh may become the lab's persisted
            # ControlMaster, which would otherwise keep (and set non-blocking)
            # the caller's stdin for as long as it lives.
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0 or time.monotonic() > deadline:
                ok = r.returncode == 0 and r.stdout.strip() == n.name
                if ok:
                    say("ready", n.name)
                return n.name, r.returncode, r.stdout.strip(), r.stderr.strip()
            time.sleep(0.2)

    proc = subprocess.Popen(["ip", "netns", "exec", st.get("netns_mgmt"), sys.executable, "-c", PROBE,
                             str(SSH_TIMEOUT), *sorted(by_addr)], stdout=subprocess.PIPE, text=True)
    futures = {}
    with ThreadPoolExecutor(max_workers=len(booting) or 1) as pool:
        for line in proc.stdout:
            n = by_addr.get(line.strip())
            if n and n.name not in futures:
                say("ssh-banner", n.name)
                futures[n.name] = pool.submit(login, n)
        proc.wait()
        results = {name: f.result() for name, f in futures.items()}
    bad = [f"{name}: {'hostname ' + out if rc == 0 else err or f'exit {rc}'}"
           for name, rc, out, err in results.values() if rc != 0 or out != name]
    bad += [f"{n.name}: no SSH banner within {SSH_TIMEOUT:.0f} s" for n in booting if n.name not in results]
    if bad:
        logs = ", ".join(str(host_objs[b.split(':')[0]].dir / "console.log") for b in sorted(bad))
        raise HubkitError("hosts not reachable over SSH from the mgmt netns: " + "; ".join(sorted(bad)),
                          f"see {logs}; then 'hubkit lab down {st.lab_id}'"
                          + ("; if systemd-nspawn cannot run on this machine, retry with "
                             "HUBKIT_LAB_MODE=chroot" if st.get("mode") == hosts.NSPAWN else ""))


def down(lab_id: str) -> dict:
    """Remove exactly what the ledger of ``lab_id`` lists.  Returns counts of what it removed."""
    prereq.require_root()
    if State.load(lab_id) is None:
        raise PrerequisiteError(f"no lab {lab_id!r} on this machine", "see 'hubkit lab list'")
    with lab_lock(lab_id):
        return _down(lab_id)


def _down(lab_id: str) -> dict:
    st = State.load(lab_id)
    if st is None:
        return {k: 0 for k in ("netns", "links", "mounts", "cgroups", "processes", "seconds")}
    t0 = time.monotonic()
    procs = st.get("processes", [])
    supervisors = {p["host"]: p["pid"] for p in procs}
    host_names = {p["host"] for p in procs} | {Path(m).parent.name for m in st.get("mounts", [])
                                                if Path(m).parent.parent.name == "hosts"}
    img_root = image.CACHE / st.get("image", "") / "rootfs"
    netns_of = {h["name"]: h["netns"] for h in st.get("hosts", [])}
    hs = [hosts.Host(lab_id, st.dir, n, netns_of.get(n, n), img_root) for n in sorted(host_names)]
    # Only cgroups the ledger lists (a kill -9 may have hit before a host recorded its own).
    recorded = set(st.get("cgroups", []))
    for h in hs:
        h.cgroups = [c for c in h.cgroups if str(c) in recorded]
    hosts.stop_all(hs, supervisors)
    from hubkit.lab import keycloak
    keycloak.stop(st)  # before the netns sweep below: a clean stop, then SIGKILL for strays
    # Anything else living in a lab netns (ssh ControlMaster processes in mgmt, strays).
    for pids in wiring.pids_in_netns(st.get("netns", [])).values():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(hosts.umount, reversed(st.get("mounts", []))))
    for c in sorted(st.get("cgroups", []), key=lambda c: -c.count("/")):
        cgroups.remove(Path(c))
        parent = Path(c).parent
        if parent.name == f"hubkit-{lab_id}":
            try:
                parent.rmdir()
            except OSError:
                pass
    for pdir in st.get("propagate", []):
        shutil.rmtree(pdir, ignore_errors=True)
    wiring.delete_links(st.get("links", []))
    wiring.delete_netns(st.get("netns", []))
    counts = {k: len(st.get(k, [])) for k in ("netns", "links", "mounts", "cgroups", "processes")}
    leftovers = [m for m in st.get("mounts", []) if Path(m).is_mount()]
    leftovers += [n for n in st.get("netns", []) if wiring.netns_exists(n)]
    if leftovers:
        raise HubkitError(f"lab {lab_id}: could not remove {', '.join(leftovers)}",
                          f"the ledger {st.path} is kept; run 'hubkit lab down {lab_id}' again")
    with ThreadPoolExecutor(max_workers=4) as pool:  # host dirs first, in parallel
        list(pool.map(lambda dd: shutil.rmtree(dd, ignore_errors=True),
                      [dd for dd in st.get("dirs", []) if Path(dd) != st.dir]))
    shutil.rmtree(st.dir, ignore_errors=True)
    with machine_lock("sysctl"):
        if not all_states():
            counts["inotify_restored"] = prereq.restore_inotify_limit()
    counts["seconds"] = round(time.monotonic() - t0, 2)
    return counts


def status(lab_id: str) -> dict:
    from hubkit.lab import keycloak
    st = State.load(lab_id)
    if st is None:
        raise PrerequisiteError(f"no lab {lab_id!r} on this machine", f"run 'hubkit lab up {lab_id}'")
    objs = {h.name: h for h in _host_objs(st)} if "hosts" in st.data else {}
    out_hosts = []
    for h in st.get("hosts", []):
        exists = wiring.netns_exists(h["netns"])
        if h["role"] == "mgmt":
            state, mode = ("up" if exists else "missing"), "netns"
        else:
            state = "running" if (exists and objs[h["name"]].running()) else "stopped"
            mode = st.get("mode")
        out_hosts.append({"name": h["name"], "role": h["role"], "netns": h["netns"],
                          "mgmt_address": h["mgmt_address"],
                          "addresses": wiring.addresses(h["netns"]) if exists else [],
                          "state": state, "mode": mode})
    d = st.dir
    return {"id": lab_id, "phase": st.get("phase"), "mode": st.get("mode"), "image": st.get("image"),
            "netns_mgmt": st.get("netns_mgmt"), "dir": str(d), "ssh_config": str(d / "ssh_config"),
            "known_hosts": str(d / "known_hosts"), "site_known_hosts": str(d / "site_known_hosts"),
            "inventory": str(d / "inventory"), "factory": bool(st.get("factory")),
            "installer_key": str(d / "installer_ed25519") if st.get("factory") else None,
            "services": {"keycloak": keycloak.describe(lab_id)},
            "hosts": out_hosts}


def list_labs() -> list[dict]:
    return [{"id": s["id"], "phase": s.get("phase"), "mode": s.get("mode"),
             "hosts": len(s.get("hosts", []))} for s in all_states()]


def exec_argv(lab_id: str, host: str, cmd: list[str], tty: bool = False) -> list[str]:
    """argv that runs ``cmd`` on ``host``: over SSH from mgmt (the real path), or a shell in mgmt."""
    info = load(lab_id)
    if info is None:
        raise PrerequisiteError(f"no lab {lab_id!r} on this machine", f"run 'hubkit lab up {lab_id}'")
    h = info.host(host)
    if h["role"] == "mgmt":
        return info.netns_exec(*(cmd or ["bash"]))
    ssh = ["ssh", "-F", str(info.ssh_config)] + (["-t"] if tty else [])
    # ssh joins its arguments with spaces for the remote shell: quote them so that
    # `exec H -- sh -c 'exit 7'` means what it says; a single argument stays a shell line.
    remote = [cmd[0]] if len(cmd) == 1 else ([shlex.join(cmd)] if cmd else [])
    return info.netns_exec(*ssh, host, *remote)
