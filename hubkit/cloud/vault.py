"""Staff initial passwords from the hub's vault (``hubkit.secrets``)."""

from __future__ import annotations

from pathlib import Path

from hubkit.errors import HubkitError
from hubkit.model import Hub


def staff_passwords(fleet_root: Path, hub: Hub, password: str) -> dict[str, str]:
    """Initial passwords of the hub's staff, by username.  Never logged."""
    from hubkit.secrets import load_secrets
    data = load_secrets(fleet_root, hub.id, password)
    pws = data.get("vault_staff_passwords") or {}
    missing = sorted(m.username for m in hub.staff if not pws.get(m.username))
    if missing:
        raise HubkitError(f"vault of hub {hub.id!r} has no initial password for: {', '.join(missing)}",
                          f"run `hubkit secrets init {hub.id}`: it keeps existing secrets and adds the missing ones")
    return {m.username: str(pws[m.username]) for m in hub.staff}
