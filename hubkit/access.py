"""How hubkit reaches a hub's hosts: as whom, with which key, through which
jump host, against which recorded host keys.

The rendered inventory carries the site's defaults (the hub's connect admin,
become, strict host keys against the fleet's ``known_hosts/<id>``).  An
operator adds their own user, private key and jump host per run (CLI options
or ``HUBKIT_SSH_USER``, ``HUBKIT_SSH_KEY``, ``HUBKIT_SSH_JUMP``), never by
editing rendered files.  The lab supplies the same fields from its own small
overlay (addresses reachable from its mgmt netns, its key, its known_hosts).
configure (Ansible), verify (an ssh_config for testinfra) and bootstrap all
take an ``Access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubkit.errors import PrerequisiteError, UsageError
from hubkit.render.inventory import KNOWN_HOSTS_DIR


@dataclass(frozen=True)
class Access:
    hub_id: str
    user: str
    known_hosts: Path
    private_key: Path | None = None
    jump: str | None = None
    # Set for a lab: the mgmt netns every connection starts from.
    netns: str | None = None
    lab: bool = False
    # What the operator chose for this run (the rest comes from the inventory).
    overrides: tuple[str, ...] = ()

    def ansible_extra_vars(self) -> dict:
        """Extra vars for the operator's choices (they outrank inventory variables)."""
        out: dict = {}
        if "user" in self.overrides:
            out["ansible_user"] = self.user
        if "private_key" in self.overrides:
            out["ansible_ssh_private_key_file"] = str(self.private_key)
        if "jump" in self.overrides:
            out["ansible_ssh_extra_args"] = f"-o ProxyJump={self.jump}"
        return out

    def ssh_options(self) -> list[str]:
        """ssh(1) options for one connection outside Ansible (checks, keyscan follow-ups)."""
        opts = ["-o", f"User={self.user}", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if self.private_key:
            opts += ["-o", f"IdentityFile={self.private_key}", "-o", "IdentitiesOnly=yes"]
        if self.jump:
            opts += ["-o", f"ProxyJump={self.jump}"]
        return opts

    def ssh_config(self, hosts: dict[str, str]) -> str:
        """An ssh_config with one block per host (name -> address) for testinfra's ssh backend."""
        lines = []
        for name, address in sorted(hosts.items()):
            lines += [f"Host {name}", f"  HostName {address}", f"  HostKeyAlias {name}"]
        lines += ["Host *", f"  User {self.user}", "  StrictHostKeyChecking yes",
                  f"  UserKnownHostsFile {self.known_hosts}", "  GlobalKnownHostsFile /dev/null",
                  "  BatchMode yes", "  ConnectTimeout 10", "  LogLevel ERROR"]
        if self.private_key:
            lines += [f"  IdentityFile {self.private_key}", "  IdentitiesOnly yes"]
        if self.jump:
            lines.append(f"  ProxyJump {self.jump}")
        return "\n".join(lines) + "\n"


def known_hosts_path(fleet_root: Path, hub_id: str) -> Path:
    """The fleet's record of a hub's host keys (committed with the fleet)."""
    return Path(fleet_root).resolve() / KNOWN_HOSTS_DIR / hub_id


def _admin_user(hub, user: str | None) -> str:
    admins = [a.username for a in hub.hub_admins()]
    name = user or hub.connect_user()
    if name is None:
        raise UsageError(f"hub {hub.id!r} has no admin account to connect as",
                         "declare `admins` in fleet.yaml (rule HK124)")
    if name not in admins:
        raise UsageError(f"unknown admin {name!r} for hub {hub.id!r}",
                         f"connect as one of the hub's admins: {', '.join(admins)}")
    return name


def site_access(fleet_root: Path, hub, *, user: str | None = None, private_key: Path | None = None,
                jump: str | None = None) -> Access:
    """How an operator reaches the real site of ``hub`` (a Hub model)."""
    overrides = tuple(k for k, v in (("user", user), ("private_key", private_key), ("jump", jump)) if v)
    if private_key is not None:
        private_key = Path(private_key).expanduser().resolve()
        if not private_key.is_file():
            raise PrerequisiteError(f"private key {private_key} does not exist",
                                    "pass the key you log in with (--private-key or $HUBKIT_SSH_KEY)")
    if jump is not None and (not jump or any(c.isspace() for c in jump) or jump.startswith("-")):
        raise UsageError(f"bad jump host {jump!r}", "use [user@]host[:port], as ssh -J takes it")
    return Access(hub.id, _admin_user(hub, user), known_hosts_path(fleet_root, hub.id),
                  private_key, jump or None, overrides=overrides)


def lab_access(info, hub, *, user: str | None = None, private_key: Path | None = None,
               jump: str | None = None) -> Access:
    """How hubkit reaches the lab of ``hub``: the lab's key, known_hosts and mgmt netns."""
    if user or private_key or jump:
        raise UsageError("--user, --private-key and --jump are for a real site",
                         "the lab connects as the hub's connect admin with its own key, from its mgmt netns")
    return Access(hub.id, _admin_user(hub, None), info.site_known_hosts, info.private_key,
                  netns=info.netns_mgmt, lab=True)
