"""Hub secrets: WireGuard keypair and initial staff passwords in an ansible-vault file.

``secrets/<id>.vault.yml`` holds a YAML mapping whose keys are the Ansible
variable names (docs/architecture.md):  ``vault_wg_private_key``,
``vault_wg_public_key``, ``vault_staff_passwords``.  The public key is also
written in plain text to ``secrets/<id>.pub`` so that render can put it in
the core's peer file without the vault password.

Nothing here logs or returns a secret value except ``load_secrets``.
"""

from __future__ import annotations

import base64
import os
import secrets as _random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hubkit.atomic import write_atomic
from hubkit.errors import HubkitError, PrerequisiteError, UsageError

SECRETS_DIR = "secrets"
ENV_PASSWORD = "HUBKIT_VAULT_PASSWORD"
KEYS = ("vault_wg_private_key", "vault_wg_public_key", "vault_staff_passwords")
_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 20


class VaultDecryptError(HubkitError):
    """The vault password does not open the hub's vault (a wrong password, or another vault)."""


def vault_path(fleet_root: Path, hub_id: str) -> Path:
    return Path(fleet_root) / SECRETS_DIR / f"{hub_id}.vault.yml"


def public_key_path(fleet_root: Path, hub_id: str) -> Path:
    return Path(fleet_root) / SECRETS_DIR / f"{hub_id}.pub"


def read_public_key(fleet_root: Path, hub_id: str) -> str | None:
    """The hub's WireGuard public key (not secret), or None before `secrets init`."""
    try:
        key = public_key_path(fleet_root, hub_id).read_text().strip()
    except FileNotFoundError:
        return None
    return key or None


def vault_password(password_file: Path | None = None, *, env: Mapping[str, str] | None = None,
                   required: bool = True) -> str | None:
    """The vault password: the one reader for every command (and the audit).

    From ``password_file`` when given, else $HUBKIT_VAULT_PASSWORD (in ``env``,
    default the process environment).  Read the way Ansible reads it, so that
    hubkit and ansible-playbook always agree on the password: a file's content
    without surrounding whitespace (ansible-vault's --vault-password-file), the
    variable without trailing CR/LF (Ansible gets it through
    playbooks/vault-password-env.py, whose output it strips of those).

    No password, or an empty one: PrerequisiteError (exit 3), or None when not
    ``required``.  A password file that cannot be read is exit 3 either way:
    the caller asked for it.
    """
    if password_file is not None:
        try:
            pw = Path(password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or "not UTF-8 text"
            raise PrerequisiteError(f"cannot read vault password file {password_file}: {why}",
                                    "check the path given to --vault-password-file") from None
        if not pw:
            raise PrerequisiteError(f"vault password file {password_file} is empty",
                                    "put the vault password in it, or set " + ENV_PASSWORD)
        return pw
    pw = (os.environ if env is None else env).get(ENV_PASSWORD, "").rstrip("\r\n")
    if not pw and required:
        raise PrerequisiteError(f"no vault password: {ENV_PASSWORD} is not set",
                                f"export {ENV_PASSWORD}=... (the password of secrets/<id>.vault.yml) "
                                "or pass --vault-password-file FILE")
    return pw or None


def wg_keypair() -> tuple[str, str]:
    """A WireGuard (X25519) keypair as base64 strings: (private, public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    key = X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    priv = key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    return base64.b64encode(priv).decode(), base64.b64encode(pub).decode()


def new_password() -> str:
    return "".join(_random.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def _vault(password: str):
    from ansible.parsing.vault import VaultLib, VaultSecret
    return VaultLib([("default", VaultSecret(password.encode()))])


def load_secrets(fleet_root: Path, hub_id: str, vault_password: str) -> dict:
    """Decrypt ``secrets/<id>.vault.yml``: keys exactly ``KEYS``."""
    path = vault_path(fleet_root, hub_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HubkitError(f"no secrets for hub {hub_id} ({SECRETS_DIR}/{hub_id}.vault.yml)",
                          f"run `hubkit secrets init {hub_id}`") from None
    from ansible.errors import AnsibleError
    try:
        plain = _vault(vault_password).decrypt(data)
    except AnsibleError:
        raise VaultDecryptError(f"cannot decrypt {SECRETS_DIR}/{hub_id}.vault.yml",
                          f"check the vault password ({ENV_PASSWORD} or --vault-password-file)") from None
    doc = yaml.safe_load(plain) or {}
    if not isinstance(doc, dict):
        raise HubkitError(f"{SECRETS_DIR}/{hub_id}.vault.yml:1:1: not a mapping",
                          f"re-create it with `hubkit secrets init {hub_id}`")
    return {"vault_wg_private_key": doc.get("vault_wg_private_key", ""),
            "vault_wg_public_key": doc.get("vault_wg_public_key", ""),
            "vault_staff_passwords": dict(doc.get("vault_staff_passwords") or {})}


def save_secrets(fleet_root: Path, hub_id: str, vault_password: str, data: dict) -> None:
    """Encrypt and write the vault (0600) and the plain public key file."""
    doc = {k: data[k] for k in KEYS}
    plain = yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)
    blob = _vault(vault_password).encrypt(plain)
    write_atomic(vault_path(fleet_root, hub_id), blob, 0o600, fsync=True)
    write_atomic(public_key_path(fleet_root, hub_id), data["vault_wg_public_key"] + "\n", 0o644, fsync=True)


@dataclass
class InitResult:
    """What `secrets init` did, by name only (never values)."""

    hub: str
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"hub": self.hub, "created": self.created, "kept": self.kept, "rotated": self.rotated}


def init_secrets(fleet_root: Path, hub_id: str, staff: list[str], vault_password: str,
                 rotate: tuple[str, ...] = ()) -> InitResult:
    """Create or complete a hub's secrets; existing ones are kept unless rotated.

    ``rotate`` items: ``wg`` (the WireGuard keypair) or ``staff:<username>``.
    """
    for key in rotate:
        if key != "wg" and not (key.startswith("staff:") and key[6:] in staff):
            raise UsageError(f"cannot rotate {key!r}",
                             "use --rotate wg or --rotate staff:<username> of a staff member of the hub")
    exists = vault_path(fleet_root, hub_id).exists()
    data = load_secrets(fleet_root, hub_id, vault_password) if exists else \
        {"vault_wg_private_key": "", "vault_wg_public_key": "", "vault_staff_passwords": {}}
    res = InitResult(hub_id)
    if not data["vault_wg_private_key"] or "wg" in rotate:
        (res.rotated if data["vault_wg_private_key"] else res.created).append("wg")
        data["vault_wg_private_key"], data["vault_wg_public_key"] = wg_keypair()
    else:
        res.kept.append("wg")
    pw = data["vault_staff_passwords"]
    for user in staff:
        name = f"staff:{user}"
        if user not in pw:
            pw[user] = new_password()
            res.created.append(name)
        elif name in rotate:
            pw[user] = new_password()
            res.rotated.append(name)
        else:
            res.kept.append(name)
    save_secrets(fleet_root, hub_id, vault_password, data)
    return res
