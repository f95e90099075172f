"""Lab artifacts for configure/verify: SSH keys, known_hosts, ssh_config, inventory overlay, core WG key.

The inventory is an *overlay* used together with the rendered one
(``-i build/<id>/inventory -i <lab>/inventory``): same groups and host names;
it changes connection details only (addresses reachable from the mgmt netns,
the lab's key, the lab's record of host keys) plus the few lab variables
docs/lab.md lists.  User, become and every task come from the rendered
inventory, exactly as on a real site.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hubkit.atomic import write_atomic
from hubkit.errors import HubkitError

GROUPS = {"router": "router", "switch": "switch", "workstation": "workstations", "core": "core"}


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, text, mode)


def ssh_keypair(lab_dir: Path, lab_id: str, name: str = "id_ed25519") -> tuple[Path, str]:
    """The lab's SSH key (``id_ed25519``) or its stand-in installer key (``installer_ed25519``)."""
    key = lab_dir / name
    if not key.exists():
        r = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"hubkit-lab-{lab_id}-{name}",
                            "-f", str(key)], capture_output=True, text=True)
        if r.returncode != 0:
            raise HubkitError(f"ssh-keygen failed: {r.stderr.strip()}", "check that openssh-client works")
    return key, (lab_dir / f"{name}.pub").read_text().strip()


def wg_keypair(lab_dir: Path) -> tuple[Path, str]:
    """The lab core's WireGuard key: private key 0600 in the lab dir, public key returned."""
    path = lab_dir / "core-wg.key"
    if path.exists():
        priv = X25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))
    else:
        priv = X25519PrivateKey.generate()
        raw = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        _write(path, base64.b64encode(raw).decode() + "\n", 0o600)
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return path, base64.b64encode(pub).decode()


def known_hosts(lab_dir: Path, entries: list[tuple[str, str, list[str]]],
                name: str = "known_hosts") -> Path:
    """``entries``: (name, address, ["type base64", ...]) per host.

    ``known_hosts``: every key the lab generated (for `lab ssh` and the lab's
    own checks).  ``site_known_hosts``: what an operator has recorded, the
    file configure and bootstrap check against; a factory lab starts it with
    the data centre only, and `hubkit bootstrap` records the hub's hosts.
    """
    lines = [f"{host},{addr} {key}" for host, addr, keys in sorted(entries) for key in keys]
    path = lab_dir / name
    _write(path, "\n".join(lines) + ("\n" if lines else ""))
    return path


def control_dir(lab_dir: Path) -> Path:
    d = lab_dir / "cm"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def ssh_config(lab_dir: Path, admin: str, hosts: list[tuple[str, str]]) -> Path:
    """``hosts``: (name, address).  ``ssh -F <this> <name>`` from the mgmt netns reaches a host."""
    cm = control_dir(lab_dir)
    out = ["# hubkit lab: use from the lab's mgmt netns (hubkit lab ssh ID HOST)"]
    for name, addr in sorted(hosts):
        out += [f"Host {name} {addr}", f"  HostName {addr}", f"  HostKeyAlias {name}", ""]
    out += ["Host *", f"  User {admin}", f"  IdentityFile {lab_dir / 'id_ed25519'}", "  IdentitiesOnly yes",
            "  PreferredAuthentications publickey", "  GSSAPIAuthentication no",
            f"  UserKnownHostsFile {lab_dir / 'known_hosts'}", "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes", "  CheckHostIP no", "  BatchMode yes",
            "  ControlMaster auto", f"  ControlPath {cm}/%C", "  ControlPersist 60s",
            "  ConnectTimeout 5", "  LogLevel ERROR", ""]
    path = lab_dir / "ssh_config"
    _write(path, "\n".join(out))
    return path


# What the overlay may set: connection details, and the lab's own variables.
CONNECTION_VARS = ("ansible_host", "ansible_ssh_private_key_file", "ansible_ssh_common_args")
LAB_VARS = ("hubkit_lab", "hubkit_lab_ssh_public_key", "hubkit_vpn_peer_public_key",
            "hubkit_lab_core_wg_private_key_file", "hubkit_lab_switch_standin")


def inventory(lab_dir: Path, lab_pub: str, hosts: list[tuple[str, str, str]], wg_pub: str,
              wg_key: Path, switch_standin: dict | None = None) -> Path:
    """``hosts``: (name, role, address) for the managed hosts; ``switch_standin``: the
    Linux stand-in for a vendor switch (``hubkit.lab.standin.prepare``), if the hub has one."""
    inv = lab_dir / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    groups: dict[str, dict] = {g: {"hosts": {}} for g in sorted(GROUPS.values())}
    for name, role, addr in hosts:
        groups[GROUPS[role]]["hosts"][name] = {"ansible_host": addr}
    _write(inv / "hosts.yml", yaml.safe_dump({"all": {"children": groups}}, sort_keys=True))
    # No ControlMaster here: under Mitogen (hubkit's strategy) a persisted
    # master kept the hosts' Mitogen interpreters alive after configure ended.
    # Stock Ansible gets its masters from ANSIBLE_SSH_ARGS (hubkit.configure).
    common = (f"-o UserKnownHostsFile={lab_dir / 'site_known_hosts'} -o StrictHostKeyChecking=yes "
              f"-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o PreferredAuthentications=publickey "
              f"-o GSSAPIAuthentication=no")
    all_vars = {
        # Connection: the lab's key and its record of host keys (a site: the operator's, the fleet's).
        "ansible_ssh_private_key_file": str(lab_dir / "id_ed25519"),
        "ansible_ssh_common_args": common,
        # The lab's own variables (docs/lab.md, "What the lab does differently").
        "hubkit_lab": True,
        "hubkit_lab_ssh_public_key": lab_pub,
        "hubkit_vpn_peer_public_key": wg_pub,
        "hubkit_lab_core_wg_private_key_file": str(wg_key),
    }
    if switch_standin is not None:
        # A lab variable, not a connection detail: the playbook manages the switch
        # as a Linux bridge and skips the vendor play (docs/lab.md).
        all_vars["hubkit_lab_switch_standin"] = switch_standin
    _write(inv / "group_vars" / "all.yml", "# hubkit lab overlay: connection details and lab variables only\n"
           + yaml.safe_dump(all_vars, sort_keys=True))
    return inv
