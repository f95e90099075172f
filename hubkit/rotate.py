"""`hubkit secrets rotate`: new keys and passwords, applied where they live.

WireGuard (``--wireguard``), in one command, resumable:

1. a new hub key pair goes into the vault (the public key into
   ``secrets/<id>.pub``), and ``.hubkit/runs/<id>/rotation.json`` records the
   old and new public keys and the phase reached;
2. render (the concentrator's peer file carries the new public key);
3. the router gets the new private key (configure, limited to the router);
4. the concentrator gets the new peer and drops the old one (configure,
   limited to the core, naming the former key);
5. the tunnel must come up with the new key: a handshake newer than the
   rotation, and the old key no longer a peer on the concentrator.

Each phase is recorded before the next starts, so a run killed anywhere
(e.g. between router and concentrator, when the tunnel is down) is finished
by running the same command again: it continues from the recorded phase.

Staff (``--staff USER``): a new initial password in the vault; the next
configure sets it on the member's workstation and forces a change at the next
login.  Nothing secret is printed, logged or written outside the vault (the
record holds public keys only).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path

from hubkit.atomic import write_atomic
from hubkit.errors import HubkitError, UsageError

RECORD = "rotation.json"
PHASES = ("keys", "render", "router", "core", "done")
HANDSHAKE_TIMEOUT = 90.0


def _record_path(fleet_root: Path, hub_id: str) -> Path:
    from hubkit.runs import runs_dir
    return runs_dir(fleet_root, hub_id) / RECORD


def _read(fleet_root: Path, hub_id: str) -> dict | None:
    p = _record_path(fleet_root, hub_id)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        raise HubkitError(f"{p}:1:1: not a rotation record", "delete it if no rotation is under way") from None


def _write(fleet_root: Path, hub_id: str, rec: dict) -> None:
    write_atomic(_record_path(fleet_root, hub_id), json.dumps(rec, indent=2, sort_keys=True) + "\n")


def _hub(fleet_root: Path, hub_id: str):
    from hubkit.fleet.repo import load_fleet
    from hubkit.rules import valid_hub
    fleet = load_fleet(fleet_root)
    return fleet, valid_hub(fleet, hub_id)


def rotate_staff(fleet_root: Path, hub_id: str, user: str, password: str) -> dict:
    """A new initial password for ``user`` in the vault (applied by the next configure)."""
    from hubkit.secrets import init_secrets
    _fleet, hub = _hub(fleet_root, hub_id)
    staff = [m.username for m in hub.staff]
    if user not in staff:
        raise UsageError(f"{user!r} is not a staff member of hub {hub_id}", f"staff: {', '.join(staff)}")
    res = init_secrets(fleet_root, hub_id, staff, password, rotate=(f"staff:{user}",))
    return {"hub": hub_id, "rotated": res.rotated,
            "next": f"`hubkit configure {hub_id}` sets it on the member's workstation and forces a change "
                    "at the next login"}


def rotate_wireguard(fleet_root: Path, hub_id: str, password: str, *, lab: bool = False, say=None,
                     **access) -> dict:
    """Rotate the hub's WireGuard key pair end to end (see the module doc); resumable."""
    from hubkit.configure import configure
    from hubkit.lock import hub_lock
    from hubkit.render import render_fleet
    from hubkit.secrets import init_secrets, read_public_key
    say = say or (lambda msg: None)
    fleet, hub = _hub(fleet_root, hub_id)
    from hubkit import topology
    topo = topology.build(hub)
    with hub_lock(fleet_root, hub_id, command="secrets rotate"):
        rec = _read(fleet_root, hub_id)
        if rec is None:
            old = read_public_key(fleet_root, hub_id)
            if old is None:
                raise UsageError(f"hub {hub_id} has no WireGuard key yet", f"run `hubkit secrets init {hub_id}`")
            started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            init_secrets(fleet_root, hub_id, [m.username for m in hub.staff], password, rotate=("wg",))
            rec = {"kind": "wireguard", "hub": hub_id, "old_public_key": old,
                   "new_public_key": read_public_key(fleet_root, hub_id), "started": started, "phase": "keys"}
            _write(fleet_root, hub_id, rec)
            say("keys: new key pair in the vault")
        else:
            say(f"resuming the rotation started {rec['started']} after phase {rec['phase']}")
        if rec["phase"] == "keys":
            render_fleet(fleet, [hub_id])
            rec["phase"] = "render"
            _write(fleet_root, hub_id, rec)
            say("render: the concentrator's peer file carries the new key")
        for phase, host, extra in (("router", topo.router.name, {}),
                                   ("core", topo.core.name, {"hubkit_wg_retired_keys": [rec["old_public_key"]]})):
            if PHASES.index(rec["phase"]) >= PHASES.index(phase):
                continue
            res = configure(fleet_root, hub_id, lab=lab, limit=(host,), extra_vars=extra, **access)
            if not res.succeeded:
                raise HubkitError(f"rotation stopped: configuring {host} failed "
                                  f"({', '.join(f['msg'] for f in res.failures)[:300]})",
                                  f"fix it and run `hubkit secrets rotate {hub_id} --wireguard"
                                  f"{' --lab' if lab else ''}` again: it continues from here")
            rec["phase"] = phase
            _write(fleet_root, hub_id, rec)
            say(f"{phase}: {host} has the new key")
        age = _wait_for_handshake(fleet_root, hub_id, hub, topo, rec, lab=lab, **access)
        _record_path(fleet_root, hub_id).unlink(missing_ok=True)
        return {"hub": hub_id, "old_public_key": rec["old_public_key"], "new_public_key": rec["new_public_key"],
                "handshake_age_s": age, "old_key_on_concentrator": False}


def _runner(fleet_root: Path, hub_id: str, hub, lab: bool, **access):
    """A function that runs a shell command on a hub host (lab or site) and returns its stdout."""
    if lab:
        from hubkit import lab as hklab
        info = hklab.load(hub_id)

        def run(host: str, cmd: str) -> str:
            p = subprocess.run(info.ssh(host, "sudo", "sh", "-c", f"'{cmd}'"), capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=60)
            return p.stdout
        return run
    from hubkit import topology
    from hubkit.access import site_access
    acc = site_access(fleet_root, hub, **access)
    topo = topology.build(hub)
    addr = {h.name: topo.ansible_host(h) for h in topo.hosts()}

    def run(host: str, cmd: str) -> str:
        p = subprocess.run(["ssh", *acc.ssh_options(), "-o", f"HostKeyAlias={host}", addr[host], "sudo", "sh", "-c",
                            f"'{cmd}'"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        return p.stdout
    return run


def _wait_for_handshake(fleet_root, hub_id, hub, topo, rec, *, lab: bool, **access) -> float:
    run = _runner(fleet_root, hub_id, hub, lab, **access)
    started = dt.datetime.fromisoformat(rec["started"]).timestamp()
    core_tunnel = str(hub.vpn.concentrator.address)
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    latest = 0
    while time.monotonic() < deadline:
        # Traffic into the tunnel makes WireGuard shake hands now rather than at the next keepalive.
        run(topo.router.name, f"ping -c 1 -W 1 {core_tunnel} >/dev/null 2>&1; wg show wg0 latest-handshakes")
        out = run(topo.router.name, "wg show wg0 latest-handshakes")
        stamps = [int(p[1]) for p in (line.split() for line in out.splitlines()) if len(p) == 2 and p[1].isdigit()]
        latest = max(stamps, default=0)
        if latest >= started:
            break
        time.sleep(2)
    else:
        raise HubkitError(f"no WireGuard handshake with the new key within {HANDSHAKE_TIMEOUT:.0f} s "
                          f"(last one at {latest or 'never'})",
                          f"check the tunnel (`hubkit verify {hub_id}{' --lab' if lab else ''} -k wireguard`); "
                          "run the rotation again to retry")
    peers = run(topo.core.name, "wg show wg0 peers").split()
    if rec["old_public_key"] in peers:
        raise HubkitError("the concentrator still has the hub's former key as a peer",
                          f"run `hubkit secrets rotate {hub_id} --wireguard` again")
    if rec["new_public_key"] not in peers:
        raise HubkitError("the concentrator does not have the hub's new key as a peer",
                          f"run `hubkit secrets rotate {hub_id} --wireguard` again")
    return round(time.time() - latest, 1)
