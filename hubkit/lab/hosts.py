"""Host lifecycle: overlay root, day-0 identity, boot (nspawn or chroot fallback), stop.

Each host is ``overlay lowerdir=<base>,upperdir=<lab>/hosts/<host>/upper``
booted by ``systemd-nspawn`` into the host's lab netns, in its own cgroup,
under a tiny supervisor that restarts the guest after ``systemctl reboot``
(nspawn exits 133).  Without nspawn, the fallback runs sshd in a chroot under
``unshare`` (no systemd inside).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from hubkit.errors import HubkitError
from hubkit.lab import cgroups

NSPAWN = "nspawn"
CHROOT = "chroot"
ADMIN_UID = 1000  # free in the minbase image (no users >= 1000)
# The group that marks hubkit's admin accounts and gives them sudo (as the common role does).
ADMIN_GROUP = "hubkit-admin"
ADMIN_GID = 2000  # above the admins (1000 + i); 999 is systemd-journal in the image

# The supervisor: joins the host's cgroups first, then (re)starts the guest.
# SIGTERM is forwarded to nspawn, which halts the guest cleanly.
SUPERVISOR = r"""
for cg in $HK_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 90; done
stop=0; pid=
trap 'stop=1; [ -n "$pid" ] && kill -TERM $pid 2>/dev/null' TERM INT
while :; do
  "$@" </dev/null &
  pid=$!
  wait $pid; rc=$?
  while kill -0 $pid 2>/dev/null; do wait $pid; rc=$?; done
  [ $stop = 0 ] && [ $rc = 133 ] || exit $rc
  echo "hubkit: guest rebooted, starting it again" >&2
done
"""

# Fallback "init" inside unshare: a minimal /dev, /proc, /sys, /run, then sshd.
CHROOT_INIT = r"""
M="$1"; H="$2"
mount -t proc proc "$M/proc"
# Lab root is the machine's root: only /proc/sys/net (per netns) stays writable.
mount --bind "$M/proc/sys" "$M/proc/sys"
mount --bind "$M/proc/sys/net" "$M/proc/sys/net"
mount -o remount,bind,ro "$M/proc/sys"
mount -t sysfs -o ro sysfs "$M/sys"
mount -t tmpfs -o mode=755,size=16m tmpfs "$M/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  n=${d%%:*}; r=${d#*:}; mknod -m 666 "$M/dev/$n" c ${r%:*} ${r#*:}
done
mkdir -p "$M/dev/pts" "$M/dev/shm" "$M/dev/net"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$M/dev/pts"
ln -s pts/ptmx "$M/dev/ptmx"
mknod -m 666 "$M/dev/net/tun" c 10 200
mount -t tmpfs -o mode=755,size=32m tmpfs "$M/run"
mkdir -p "$M/run/sshd" "$M/run/lock"
hostname "$H"
# CAP_SYS_TIME (the machine's clock) and CAP_SYS_MODULE leave the bounding set.
exec setpriv --bounding-set=-sys_time,-sys_module chroot "$M" /usr/sbin/sshd -D -e
"""


def detect_mode(image_root: Path | None = None) -> str:
    """``nspawn`` when systemd-nspawn can run a container here, else ``chroot``.

    ``HUBKIT_LAB_MODE`` forces a mode.  With ``image_root``, nspawn is proven by a
    real run of ``/bin/true`` in the (read-only) image; the verdict is cached per
    boot in /run/hubkit (the image is never written: --read-only, no /etc setup).
    """
    forced = os.environ.get("HUBKIT_LAB_MODE")
    if forced in (NSPAWN, CHROOT):
        return forced
    if not (shutil.which("systemd-nspawn") and cgroups.hierarchies()):
        return CHROOT
    if image_root is None:
        return NSPAWN
    return NSPAWN if nspawn_works(image_root) else CHROOT


PROBE_CACHE = Path("/run/hubkit/nspawn-probe")


def nspawn_works(image_root: Path) -> bool:
    key = str(image_root)
    try:
        verdict, cached_for = PROBE_CACHE.read_text().split("\n")[:2]
        if cached_for == key:
            return verdict == "ok"
    except (OSError, ValueError):
        pass
    cgs = [h / f"hubkit-probe-{os.getpid()}" / "probe" for h in cgroups.hierarchies()]
    try:
        for cg in cgs:
            cg.mkdir(parents=True, exist_ok=True)
        script = 'for cg in $HK_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 90; done; exec "$@"'
        r = subprocess.run(["sh", "-c", script, "hubkit-nspawn-probe", "systemd-nspawn", "--quiet",
                            "--register=no", "--keep-unit", "--private-network", "--read-only",
                            "-D", str(image_root), "-M", f"hubkit-probe-{os.getpid()}",
                            "--resolv-conf=off", "--timezone=off", "--link-journal=no", "/bin/true"],
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                "HK_CGROUPS": " ".join(map(str, cgs))},
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        ok = r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    finally:
        for cg in cgs:
            cgroups.remove(cg.parent)
        shutil.rmtree(f"/run/systemd/nspawn/propagate/hubkit-probe-{os.getpid()}", ignore_errors=True)
    PROBE_CACHE.parent.mkdir(parents=True, exist_ok=True)
    PROBE_CACHE.write_text(f"{'ok' if ok else 'failed'}\n{key}\n")
    return ok


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise HubkitError(f"{what} failed: {' '.join(cmd)}: {r.stderr.strip()[-400:]}",
                          "run 'hubkit lab down ID' and retry")
    return r


LAB_SSHD_DROPIN = "05-hubkit-lab.conf"


def _authorize(home: Path, uid: int, gid: int, keys: list[str], home_mode: int) -> None:
    """``home/.ssh/authorized_keys`` holding exactly ``keys``, owned by uid:gid."""
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh/authorized_keys").write_text("".join(k.strip() + "\n" for k in keys))
    home.chmod(home_mode)
    (home / ".ssh").chmod(0o700)
    (home / ".ssh/authorized_keys").chmod(0o600)
    for p in (home, home / ".ssh", home / ".ssh/authorized_keys"):
        os.chown(p, uid, gid)


class Host:
    """One booting lab host.  Paths and names only; the state ledger records resources."""

    def __init__(self, lab_id: str, lab_dir: Path, name: str, netns: str, image_root: Path):
        self.lab_id = lab_id
        self.name = name
        self.netns = netns
        self.dir = lab_dir / "hosts" / name
        self.upper, self.work, self.merged = self.dir / "upper", self.dir / "work", self.dir / "merged"
        self.image_root = image_root
        self.cgroups = cgroups.paths(lab_id, netns)
        self.machine = netns  # unique across labs (two hubs may both have "dc-core")

    # -- disk -------------------------------------------------------------
    def mount(self, state) -> None:
        state.record("dirs", str(self.dir))
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        state.record("mounts", str(self.merged))
        _run(["mount", "-t", "overlay", f"hk-{self.netns}", "-o",
              f"lowerdir={self.image_root},upperdir={self.upper},workdir={self.work}",
              str(self.merged)], f"mounting the overlay of {self.name}")

    def identity(self, hostname: str, etc_hosts: str, admins: list[dict], connect_user: str,
                 lab_key: str, installer_key: str | None = None, sshd_dropin: str | None = None) -> None:
        """Day-0 identity, like cloud-init: hostname, machine-id, host keys, and accounts.

        Prepared (``installer_key`` None): the state ``hubkit bootstrap`` leaves
        (the hub's admins with their fleet keys and sudo through the
        hubkit-admin group; the lab's key authorized for ``connect_user``).
        Factory (``installer_key`` given): as a vendor delivers a fresh Debian
        install: root logs in with the installer key, no admin accounts, sshd
        at Debian's defaults.  ``sshd_dropin``: extra sshd settings for this
        host, in place before sshd's first start.
        """
        m = self.merged
        if sshd_dropin is not None:
            (m / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
            (m / "etc/ssh/sshd_config.d" / LAB_SSHD_DROPIN).write_text(sshd_dropin)
        (m / "etc/hostname").write_text(hostname + "\n")
        (m / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")  # what systemd-id128 new prints
        (m / "etc/hosts").write_text(etc_hosts)
        # Like ``ssh-keygen -A -f <merged>`` minus RSA: a 3072-bit RSA key costs ~0.5 s CPU
        # per host, which alone would eat half of the 10 s lab-up budget on 2 cores.
        for kind in ("ed25519", "ecdsa"):
            key = m / "etc/ssh" / f"ssh_host_{kind}_key"
            if not key.exists():
                _run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{hostname}", "-f", str(key)],
                     f"host keys for {self.name}")
        # The journal in the guest's /run: no 8 MB journal file per host in the upper
        # dir to write at boot and delete at down (lab logs are not kept anyway).
        jd = m / "etc/systemd/journald.conf.d"
        jd.mkdir(parents=True, exist_ok=True)
        (jd / "hubkit-lab.conf").write_text("[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n")
        if installer_key is not None:
            _authorize(m / "root", 0, 0, [installer_key], home_mode=0o700)
            return
        users = [(a["username"], a.get("full_name", ""), ADMIN_UID + i) for i, a in enumerate(admins)]
        entries = {"passwd": [f"{u}:x:{uid}:{uid}:{name}:/home/{u}:/bin/bash" for u, name, uid in users],
                   "group": [f"{u}:x:{uid}:" for u, _, uid in users]
                   + [f"{ADMIN_GROUP}:x:{ADMIN_GID}:{','.join(u for u, _, _ in users)}"],
                   "shadow": [f"{u}:*:19000:0:99999:7:::" for u, _, _ in users],
                   "gshadow": [f"{u}:!::" for u, _, _ in users]
                   + [f"{ADMIN_GROUP}:!::{','.join(u for u, _, _ in users)}"]}
        for f, lines in entries.items():
            p = m / "etc" / f
            text = p.read_text()
            have = {ln.split(":")[0] for ln in text.splitlines()}
            add = [ln for ln in lines if ln.split(":")[0] not in have]
            if add:
                p.write_text(text + "\n".join(add) + "\n")
        sudoers = m / "etc/sudoers.d/hubkit-admins"
        sudoers.write_text(f"%{ADMIN_GROUP} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
        for a, (u, _name, uid) in zip(admins, users):
            keys = list(a["ssh_keys"]) + ([lab_key] if u == connect_user else [])
            _authorize(m / "home" / u, uid, uid, keys, home_mode=0o755)

    def host_keys(self) -> list[str]:
        return sorted(p.read_text().split()[0] + " " + p.read_text().split()[1]
                      for p in (self.merged / "etc/ssh").glob("ssh_host_*_key.pub"))

    # -- processes ----------------------------------------------------------
    def start(self, state, mode: str, hostname: str) -> int:
        for cg in self.cgroups:
            state.record("cgroups", str(cg))
            cg.mkdir(parents=True, exist_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HK_CGROUPS": " ".join(map(str, self.cgroups))}
        if mode == NSPAWN:
            state.record("propagate", f"/run/systemd/nspawn/propagate/{self.machine}")
            env["SYSTEMD_NSPAWN_API_VFS_WRITABLE"] = "network"
            payload = ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
                       f"--network-namespace-path=/run/netns/{self.netns}", "-D", str(self.merged),
                       "-M", self.machine, f"--hostname={hostname}", "--console=pipe",
                       "--resolv-conf=off", "--timezone=off", "--link-journal=no",
                       "--capability=CAP_NET_ADMIN"]
        else:
            payload = ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--pid", "--uts",
                       "--ipc", "--fork", "--kill-child", "sh", "-c", CHROOT_INIT, "hubkit-init",
                       str(self.merged), hostname]
        log = open(self.dir / "console.log", "ab")
        proc = subprocess.Popen(["sh", "-c", SUPERVISOR, f"hubkit-lab-{self.machine}", *payload],
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        log.close()
        state.record("processes", {"host": self.name, "pid": proc.pid, "cgroup": str(self.cgroups[0])
                                   if self.cgroups else ""})
        return proc.pid

    def pids(self) -> set[int]:
        out: set[int] = set()
        for cg in self.cgroups:
            out |= cgroups.pids(cg)
        return out

    def running(self) -> bool:
        return bool(self.pids())


# How long guests get to halt cleanly before SIGKILL.  A lab's disks are thrown
# away on down, so a clean halt buys nothing lasting; idle, a halt takes ~0.7 s.
STOP_GRACE = float(os.environ.get("HUBKIT_LAB_STOP_GRACE", "1.5"))


def stop_all(hosts: list[Host], supervisors: dict[str, int], timeout: float | None = None) -> None:
    """Stop every host in parallel: SIGTERM (nspawn halts the guest), then the guest's
    poweroff signal when nspawn is gone (kill -9 case), then SIGKILL at the deadline."""
    timeout = STOP_GRACE if timeout is None else timeout
    for h in hosts:
        pid = supervisors.get(h.name)
        if pid and pid in h.pids():  # only a pid that is still ours (no pid reuse accident)
            _kill(pid, signal.SIGTERM)
        # The nspawn child of the supervisor gets it too; the chroot fallback's sshd as well.
        for cg in h.cgroups[:1]:
            for sub in ("supervisor",):
                cgroups.signal_all(cg / sub, signal.SIGTERM)
            if not (cg / "supervisor").exists():
                cgroups.signal_all(cg, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    powered: set[str] = set()
    while time.monotonic() < deadline:
        alive = [h for h in hosts if h.running()]
        if not alive:
            return
        for h in alive:
            cg = h.cgroups[0] if h.cgroups else None
            # nspawn gone but the guest still runs (re-parented after kill -9): poweroff.
            if cg and h.name not in powered and not cgroups.pids(cg / "supervisor") \
                    and not _has_supervisor(h, supervisors):
                cgroups.poweroff(cg)
                powered.add(h.name)
        time.sleep(0.05)
    for h in hosts:
        for cg in h.cgroups:
            cgroups.signal_all(cg, signal.SIGKILL)
    end = time.monotonic() + 2
    while time.monotonic() < end and any(h.running() for h in hosts):
        time.sleep(0.05)


def _has_supervisor(h: Host, supervisors: dict[str, int]) -> bool:
    pid = supervisors.get(h.name)
    return bool(pid) and pid in h.pids()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def umount(path: str) -> None:
    if os.path.ismount(path):
        r = subprocess.run(["umount", path], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)
