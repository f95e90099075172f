"""The last gate before an audit writes anything: no secret value of the hub in its outputs.

The values come from the hub's vault, so the scan needs the vault password.
Without one the audit still runs and its summary says the scan did not run and
why; a password that does not open the vault stops the audit (exit 3): it was
given to be used, and a scan that silently checks nothing would look like one
that found nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError

REDACTED = "[redacted]"
MIN_LENGTH = 8  # shorter values would match ordinary text


@dataclass(frozen=True)
class SecretScan:
    values: tuple[str, ...]
    note: str          # what the scan covers, or why it did not run (said in the report's summary)
    ran: bool

    def as_dict(self) -> dict:
        return {"ran": self.ran, "note": self.note}


def prepare(fleet_root: Path, hub_id: str, password: str | None) -> SecretScan:
    from hubkit import secrets
    vault = f"secrets/{hub_id}.vault.yml"
    if not secrets.vault_path(fleet_root, hub_id).is_file():
        return SecretScan((), f"The secret scan did not run: the hub has no vault ({vault}), so there is "
                              "no secret value to look for.", False)
    if password is None:
        return SecretScan((), f"The secret scan did NOT run: no vault password was given "
                              f"({secrets.ENV_PASSWORD} or --vault-password-file), so this report and "
                              f"evidence.json were not checked for the values in {vault}.", False)
    try:
        data = secrets.load_secrets(fleet_root, hub_id, password)
    except secrets.VaultDecryptError:
        raise PrerequisiteError(f"the vault password does not open {vault}: the audit cannot scan its "
                                "report for the hub's secrets, so it wrote nothing",
                                "give the right password, or audit without one (no "
                                f"{secrets.ENV_PASSWORD}, no --vault-password-file): the report then says "
                                "the scan did not run") from None
    values = [data.get("vault_wg_private_key", ""), *(data.get("vault_staff_passwords") or {}).values(), password]
    values = tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH}))
    return SecretScan(values, f"The report and evidence.json were scanned for the {len(values)} secret "
                              f"value(s) of {vault} (WireGuard private key, staff initial passwords, the vault "
                              "password) before they were written: none found.", True)


def scrub(text: str, scan: SecretScan) -> tuple[str, int]:
    hits = 0
    for s in scan.values:
        if s in text:
            hits += text.count(s)
            text = text.replace(s, REDACTED)
    return text, hits


def refuse(hub_id: str, hits: int) -> HubkitError:
    return HubkitError(f"a secret of hub {hub_id} appeared in the audit sources ({hits} hit(s)); nothing was written",
                       "find which record carries it (configure/verify output) and fix that part")
