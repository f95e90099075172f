"""Staff initial passwords from the hub's vault (``hubkit.secrets``)."""

from __future__ import annotations

import os
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError, UsageError
from hubkit.model import Hub

VAULT_PASSWORD_ENV = "HUBKIT_VAULT_PASSWORD"


def vault_password(password_file: Path | None = None) -> str | None:
    """The vault password from ``--vault-password-file`` or ``HUBKIT_VAULT_PASSWORD``."""
    if password_file is not None:
        try:
            return Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise UsageError(f"cannot read vault password file {password_file}: {e.strerror}",
                             "pass a readable file to --vault-password-file") from None
    return os.environ.get(VAULT_PASSWORD_ENV) or None


def staff_passwords(fleet_root: Path, hub: Hub, password: str) -> dict[str, str]:
    """Initial passwords of the hub's staff, by username.  Never logged."""
    try:
        from hubkit.secrets import load_secrets
    except ImportError:
        raise PrerequisiteError("hubkit.secrets is not available in this installation",
                                "install a hubkit version with `hubkit secrets`") from None
    data = load_secrets(fleet_root, hub.id, password)
    pws = data.get("vault_staff_passwords") or {}
    missing = sorted(m.username for m in hub.staff if not pws.get(m.username))
    if missing:
        raise HubkitError(f"vault of hub {hub.id!r} has no initial password for: {', '.join(missing)}",
                          f"run `hubkit secrets init {hub.id}`: it keeps existing secrets and adds the missing ones")
    return {m.username: str(pws[m.username]) for m in hub.staff}
