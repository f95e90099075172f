"""The lab's base image: a debootstrapped Debian bookworm, cached by content.

The cache key is a hash of the package list and the build-script version, so a
changed list yields a new directory: a base that overlays sit on is never
modified.  A build happens in a temp dir and is renamed into place (atomic).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError
from hubkit.lab import prereq

CACHE = Path(os.environ.get("HUBKIT_IMAGE_CACHE", "/var/cache/hubkit/images"))
SUITE = "bookworm"
# Bump when the build steps below change: it is part of the cache key.
BUILD_VERSION = "4"
PACKAGES = sorted("""
    openssh-server python3 python3-apt sudo iproute2 iputils-ping nftables dnsmasq chrony
    wireguard-tools wireguard-go systemd systemd-sysv dbus rsyslog unattended-upgrades
    isc-dhcp-client netcat-openbsd bind9-dnsutils procps kmod less
""".split())
# Packages the roles (re)install at converge time; their .debs are pre-seeded in
# the image's apt cache because lab hosts have no route to any mirror.
ROLE_PACKAGES = sorted("""
    openssh-server nftables dnsmasq chrony wireguard-tools wireguard-go rsyslog
    unattended-upgrades sudo isc-dhcp-client libpam-pwquality libpam-tmpdir debsums
""".split())
# Packages only a test installs (from the same pre-seeded cache): the Lynis scan
# of tests/verify/test_hardening_lab.py and bench/lynis.py.  No role installs
# them, so a hub host (in the lab or at a site) never carries the scanner.
AUDIT_PACKAGES = ["lynis"]
# Services the roles own (enable and configure); disabled in the base.  The
# timers would only try to reach a mirror from an offline host.
DISABLED_UNITS = ["dnsmasq.service", "chrony.service", "nftables.service", "rsyslog.service",
                  "unattended-upgrades.service", "apt-daily.timer", "apt-daily-upgrade.timer",
                  "e2scrub_all.timer", "fstrim.timer", "e2scrub_reap.service"]
# chrony in a container lacks CAP_SYS_TIME (kept dropped); -x serves time without setting it.
CHRONY_DROPIN = """[Unit]
ConditionCapability=

[Service]
ExecStart=
ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x
"""
# No WireGuard kernel module inside the lab: wg-quick uses wireguard-go.
WG_DROPIN = """[Service]
Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go
Environment=WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
"""
APT_NOCACHE = 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'


def image_hash() -> str:
    text = json.dumps({"packages": PACKAGES, "role_packages": ROLE_PACKAGES, "audit_packages": AUDIT_PACKAGES,
                       "suite": SUITE, "build": BUILD_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    hash: str
    path: Path  # the image dir; the root fs is path / "rootfs"
    meta: dict

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"


def current() -> Image | None:
    """The image for the current package list, if built."""
    h = image_hash()
    d = CACHE / h
    meta_file = d / "meta.json"
    if not meta_file.is_file():
        return None
    return Image(h, d, json.loads(meta_file.read_text()))


def require_current() -> Image:
    img = current()
    if img is None:
        raise PrerequisiteError(f"no lab base image {image_hash()} in {CACHE}",
                                "run 'hubkit lab image build' first")
    return img


def mirror() -> str:
    """The machine's configured Debian mirror (read at build time, never hardcoded)."""
    found: list[str] = []
    src_dir = Path("/etc/apt/sources.list.d")
    for f in sorted(src_dir.glob("*.sources")) if src_dir.is_dir() else []:
        for stanza in f.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split():
                found += fields.get("URIs", "").split()
    lists = [Path("/etc/apt/sources.list")] + (sorted(src_dir.glob("*.list")) if src_dir.is_dir() else [])
    for f in lists:
        if not f.is_file():
            continue
        for line in f.read_text().splitlines():
            m = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(2) == SUITE:
                found.append(m.group(1))
    if not found:
        raise PrerequisiteError(f"no Debian {SUITE} mirror in /etc/apt/sources.list(.d)",
                                f"add a 'deb <mirror> {SUITE} main' source and retry")
    return found[0]


def _run(cmd: list[str], what: str, **kw) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip()[-800:]
        raise HubkitError(f"{what} failed (exit {r.returncode}): {' '.join(cmd[:4])} ...\n{tail}",
                          "check the apt mirror and disk space, then run 'hubkit lab image build' again")


def _chroot(root: Path, *args: str, what: str) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LC_ALL": "C"}
    _run(["chroot", str(root), *args], what, env=env)


def _du(path: Path) -> int:
    r = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    return int(r.stdout.split()[0]) if r.returncode == 0 else 0


def _customize(root: Path) -> None:
    # Host keys: debootstrap's openssh postinst made some; every host gets its own.
    for k in (root / "etc/ssh").glob("ssh_host_*"):
        k.unlink()
    (root / "etc/apt/apt.conf.d/00hubkit-nopkgcache").write_text(APT_NOCACHE)
    for name in ("pkgcache.bin", "srcpkgcache.bin"):
        (root / "var/cache/apt" / name).unlink(missing_ok=True)
    # Empty machine-id: systemd treats it as "first boot, generate"; the lab writes one per host.
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/hostname").write_text("localhost\n")
    for unit, text in (("chrony.service", CHRONY_DROPIN), ("wg-quick@.service", WG_DROPIN)):
        d = root / "etc/systemd/system" / f"{unit}.d"
        d.mkdir(parents=True, exist_ok=True)
        (d / "hubkit-lab.conf").write_text(text)
    # Keep the guest's boot short and quiet: no consoles to serve in the lab.
    for unit in ("getty@tty1.service", "console-getty.service", "systemd-networkd-wait-online.service"):
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def build(force_prereqs: bool = True, progress=None) -> tuple[Image, bool]:
    """Build the current image unless cached.  Returns (image, built_now)."""
    prereq.require_root()
    say = progress or (lambda msg: None)
    installed = prereq.install_host_packages() if force_prereqs else []
    if installed:
        say(f"installed host packages: {' '.join(installed)}")
    img = current()
    if img is not None:
        return img, False
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build waits, then finds the cache warm
        img = current()
        if img is not None:
            return img, False
        h = image_hash()
        tmp = CACHE / f".tmp-{h}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        root = tmp / "rootfs"
        root.mkdir(parents=True)
        t0 = time.monotonic()
        src = mirror()
        say(f"debootstrap {SUITE} from the configured mirror ({len(PACKAGES)} packages)")
        try:
            _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                  SUITE, str(root), src], "debootstrap")
            say("pre-seeding the apt cache with the role packages")
            # resolv.conf for the build only (the chroot shares the build machine's network).
            # unlink first: a symlink there must never make us write outside the image.
            (root / "etc/resolv.conf").unlink(missing_ok=True)
            shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
            _chroot(root, "apt-get", "update", "-qq", what="apt-get update in the image")
            # Without recommends, as the roles install them (ansible.builtin.apt install_recommends: false).
            _chroot(root, "apt-get", "install", "-y", "-qq", "--download-only", "--reinstall",
                    "--no-install-recommends", *ROLE_PACKAGES, *AUDIT_PACKAGES,
                    what="apt-get --download-only in the image")
            (root / "etc/resolv.conf").write_text("")
            for unit in DISABLED_UNITS:
                subprocess.run(["chroot", str(root), "systemctl", "disable", "--quiet", unit],
                               capture_output=True)
            _customize(root)
            meta = {"hash": h, "suite": SUITE, "packages": PACKAGES, "role_packages": ROLE_PACKAGES,
                    "audit_packages": AUDIT_PACKAGES,
                    "build_version": BUILD_VERSION, "build_seconds": round(time.monotonic() - t0, 1),
                    "size_bytes": _du(root)}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            os.rename(tmp, CACHE / h)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Image(h, CACHE / h, meta), True


def in_use() -> set[str]:
    """Image hashes that a lab on this machine has overlays on."""
    from hubkit.lab import state
    return {s.get("image", "") for s in state.all_states()}


def status() -> dict:
    imgs = []
    cur = image_hash()
    used = in_use()
    if CACHE.is_dir():
        for d in sorted(CACHE.iterdir()):
            meta = d / "meta.json"
            if d.name.startswith(".") or not meta.is_file():
                continue
            m = json.loads(meta.read_text())
            imgs.append({"hash": d.name, "path": str(d), "current": d.name == cur,
                         "in_use": d.name in used, "size_bytes": m.get("size_bytes"),
                         "build_seconds": m.get("build_seconds")})
    return {"cache": str(CACHE), "current_hash": cur, "current_built": (CACHE / cur / "meta.json").is_file(),
            "images": imgs}


def prune(all_images: bool = False) -> list[str]:
    """Remove cached images that no lab uses (and, unless ``all_images``, not the current one)."""
    prereq.require_root()
    removed = []
    used = in_use()
    cur = image_hash()
    if not CACHE.is_dir():
        return removed
    for d in sorted(CACHE.iterdir()):
        if not d.name.startswith(".tmp-") and not (d / "meta.json").is_file():
            continue  # not an image: leave it alone
        if d.name.startswith(".tmp-"):
            pid = d.name.rsplit("-", 1)[-1]
            if pid.isdigit() and Path(f"/proc/{pid}").exists():
                continue  # a build in progress
        elif d.name in used or (d.name == cur and not all_images):
            continue
        shutil.rmtree(d)
        removed.append(d.name)
    return removed
