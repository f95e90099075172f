"""A real Keycloak in the lab's data centre, for `provision --lab` and verify.

The distribution comes from Maven Central (``org.keycloak:keycloak-quarkus-dist``,
pinned below); ``.ci/fetch-keycloak`` unpacks it once per machine into
``/var/cache/hubkit/keycloak/<version>`` and pre-builds it (``kc.sh build
--db=dev-file``), so a lab only starts it.  It runs on the machine's Java
(Debian's OpenJDK 17) in the lab's own netns ``hk-<id>-idp``, cabled to the
mgmt netns alone: the engineer's laptop (where hubkit runs the Pulumi engine
and verify) reaches it; a hub segment never can (the mgmt netns does not
forward, and no hub host has a route to it).

A lab starts it once, on first need (`provision/plan/destroy --lab`, or
`lab up --keycloak`), and every later use shares it.  Its files sit on an
overlay over the cached distribution, its database (H2, dev-file) in the lab
directory; the admin password is generated per lab into a root-only file.
Everything is in the lab's ledger: `lab down` removes it with the lab.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError
from hubkit.lab import image, wiring
from hubkit.lab.state import State, lab_dir, lab_lock

VERSION = "26.7.3"
CACHE = image.CACHE.parent / "keycloak" / VERSION
# A private (RFC 1918) link: Keycloak's master realm refuses plain HTTP from
# public addresses ("HTTPS required"); hubs take their prefixes from 10.0.0.0/8.
ADDRESS = "172.31.255.1"
MGMT_SIDE = "172.31.255.2"
PREFIX_LEN = 30
PORT = 8080
ADMIN_USER = "admin"
READY_TIMEOUT = 300.0
# Measured: about half the CPU and 150 MiB less memory for the same start (docs/cloud.md).
JAVA_OPTS = "-XX:-UseG1GC -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms64m -Xmx768m"

# Run in the mgmt netns: waits until Keycloak answers its OpenID discovery document.
_PROBE = r"""
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
ready = False
while not ready and time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            ready = r.status == 200
    except OSError:
        pass
    if not ready:
        time.sleep(0.5)
print("ready" if ready else "not ready")
"""


@dataclass(frozen=True)
class Service:
    lab_id: str
    netns: str
    dir: Path

    @property
    def url(self) -> str:
        return f"http://{ADDRESS}:{PORT}"

    @property
    def admin_password_file(self) -> Path:
        return self.dir / "admin-password"

    @property
    def log(self) -> Path:
        return self.dir / "keycloak.log"

    def admin_password(self) -> str:
        return self.admin_password_file.read_text().strip()


def service(lab_id: str) -> Service:
    return Service(lab_id, f"hk-{lab_id}-idp", lab_dir(lab_id) / "keycloak")


def state_passphrase(lab_id: str) -> str:
    """The passphrase of the lab's Pulumi state (root-only file, generated on first use)."""
    path = lab_dir(lab_id) / "pulumi-passphrase"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def cache_ready(cache: Path = CACHE) -> bool:
    return (cache / "bin" / "kc.sh").is_file() and (cache / ".hubkit-built").is_file()


def _pid(st: State) -> int | None:
    for p in st.get("services", []):
        if p.get("name") == "keycloak":
            return p.get("pid")
    return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def state(lab_id: str) -> str:
    """not started | running | stopped (it was started, and its process is gone)."""
    st = State.load(lab_id)
    if st is None or not st.get("services"):
        return "not started"
    return "running" if _alive(_pid(st)) else "stopped"


def describe(lab_id: str) -> dict:
    """``lab status``'s ``services.keycloak``: all a client needs to talk to it."""
    s = service(lab_id)
    return {"url": s.url, "admin_user": ADMIN_USER, "admin_password_file": str(s.admin_password_file),
            "state": state(lab_id), "version": VERSION, "netns": s.netns,
            "reachable_from": "the lab's mgmt netns only"}


def start(lab_id: str) -> Service:
    """Start Keycloak in lab ``lab_id`` unless it runs already; does not wait for it."""
    st = State.load(lab_id)
    if st is None or st.get("phase") != "up":
        raise PrerequisiteError(f"no lab {lab_id!r} is up", f"run 'hubkit lab up {lab_id}' first")
    if not cache_ready():
        raise PrerequisiteError(f"Keycloak {VERSION} is not prepared on this machine ({CACHE})",
                                "run 'bash .ci/setup --lab' (it fetches and builds it once)")
    s = service(lab_id)
    with lab_lock(lab_id):
        st = State.load(lab_id)
        if _alive(_pid(st)):
            return s
        mgmt = st.get("netns_mgmt")
        if not wiring.netns_exists(s.netns):
            st.record("netns", s.netns)
            wiring._ip(["netns", "add", s.netns], f"creating netns {s.netns}")
            link = [s.netns, "idp0", mgmt, "idp0"]
            st.record("links", link)
            wiring._ip(["-n", s.netns, "link", "add", "idp0", "type", "veth", "peer", "name", "idp0",
                        "netns", mgmt], "cabling the identity provider to mgmt")
            for ns, addr in ((s.netns, ADDRESS), (mgmt, MGMT_SIDE)):
                wiring._ip(["-n", ns, "-batch", "-"], f"addressing {ns}",
                           f"link set lo up\naddress add {addr}/{PREFIX_LEN} dev idp0\nlink set idp0 up\n")
        merged, upper, work = s.dir / "merged", s.dir / "upper", s.dir / "work"
        st.record("dirs", str(s.dir))
        for d in (merged, upper, work):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(s.dir, 0o700)
        if not merged.joinpath("bin").is_dir():
            st.record("mounts", str(merged))
            subprocess.run(["mount", "-t", "overlay", f"hk-{lab_id}-keycloak", "-o",
                            f"lowerdir={CACHE},upperdir={upper},workdir={work}", str(merged)],
                           check=True, capture_output=True)
        if not s.admin_password_file.exists():
            fd = os.open(s.admin_password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24) + "\n")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
               "KC_BOOTSTRAP_ADMIN_PASSWORD": s.admin_password(), "JAVA_OPTS_APPEND": JAVA_OPTS,
               "HOME": str(s.dir)}
        log = open(s.log, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            ["ip", "netns", "exec", s.netns, str(merged / "bin" / "kc.sh"), "start", "--optimized",
             "--hostname-strict=false", "--http-enabled=true", "--cache=local",
             f"--http-host={ADDRESS}", f"--http-port={PORT}"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        st.record("services", {"name": "keycloak", "pid": proc.pid, "started": time.time()})
    return s


def wait_ready(lab_id: str, timeout: float = READY_TIMEOUT) -> float:
    """Block until Keycloak answers (seconds waited); HubkitError naming its log if not."""
    st = State.load(lab_id)
    s = service(lab_id)
    t0 = time.monotonic()
    r = subprocess.run(["ip", "netns", "exec", st.get("netns_mgmt"), sys.executable, "-c", _PROBE,
                        f"{s.url}/realms/master/.well-known/openid-configuration", str(timeout)],
                       stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0 or r.stdout.strip() != b"ready":
        raise HubkitError(f"Keycloak in lab {lab_id} did not answer within {timeout:.0f} s "
                          f"({state(lab_id)})", f"see {s.log}")
    return time.monotonic() - t0


def ensure(lab_id: str) -> Service:
    s = start(lab_id)
    wait_ready(lab_id)
    return s


def stop(st: State) -> None:
    """SIGTERM to Keycloak's session (kc.sh forwards it to Java: a clean stop in ~1 s)."""
    pid = _pid(st)
    if not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
