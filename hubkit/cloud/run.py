"""The core of `hubkit plan/provision/destroy`: hub → checks → lock → run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hubkit.cloud import plan as offline
from hubkit.cloud import policies, provision, record, vault
from hubkit.errors import FindingsError, PrerequisiteError
from hubkit.fleet.repo import Fleet
from hubkit.lock import hub_lock
from hubkit.model import Hub

VAULT_FILE = "secrets/{id}.vault.yml"


def valid_hub(fleet: Fleet, hub_id: str) -> Hub:
    """The hub's model, refusing a hub with validation findings."""
    from hubkit.rules import validate
    rec = fleet.hub(hub_id)
    found = [f for f in validate(fleet, [hub_id]) if f.severity == "error"]
    if found or rec.model is None:
        raise FindingsError(found or rec.findings)
    return rec.model


def offline_plan(fleet: Fleet, hub_id: str, password_file: Path | None = None):
    """(plan, findings): the vault is used when a password is given and the vault exists."""
    hub = valid_hub(fleet, hub_id)
    pw = vault.vault_password(password_file)
    if pw and (fleet.root / VAULT_FILE.format(id=hub_id)).is_file():
        the_plan = offline.offline_plan(hub, vault.staff_passwords(fleet.root, hub, pw), source="vault")
    else:
        the_plan = offline.offline_plan(hub)
    return the_plan, policies.check(the_plan)


def real_run(fleet: Fleet, hub_id: str, action: str, password_file: Path | None = None,
             wait: float = 0, on_output: Callable[[str], None] | None = None,
             confirm: Callable[[], bool] | None = None) -> dict:
    """preview / up / destroy through the Automation API.

    Order matters: nothing is written (no lock, no state, no work dir) until
    the CLI and passphrase are known to be there.
    """
    hub = valid_hub(fleet, hub_id)
    provision.check_prerequisites()
    passwords: dict[str, str] = {}
    if action != "destroy":
        # Policies gate every real run, as CrossGuard would: a refused plan never reaches the cloud.
        found = policies.check(offline.offline_plan(hub))
        if found:
            raise FindingsError(found)
        pw = vault.vault_password(password_file)
        if not pw:
            raise PrerequisiteError(f"no vault password: staff initial passwords of hub {hub_id!r} "
                                    "come from its vault",
                                    f"set {vault.VAULT_PASSWORD_ENV} or pass --vault-password-file")
        passwords = vault.staff_passwords(fleet.root, hub, pw)
    if confirm is not None and not confirm():
        return {"hub": hub_id, "action": action, "cancelled": True}
    spec = provision.build_spec(fleet.root, hub_id, action)
    program = provision.inline_program(hub, passwords)
    if action == "preview":
        return provision.run(spec, program, on_output)
    with hub_lock(fleet.root, hub_id, command="provision" if action == "up" else "destroy", wait=wait):
        res = provision.run(spec, program, on_output)
        # status and the audit read what last happened to the stack from this record.
        mode = "provisioned" if action == "up" else "destroyed"
        record.write(fleet.root, hub_id, record.CloudRecord(
            mode=mode, detail=f"`pulumi {action}` of stack {spec.stack_name} succeeded",
            changes=res.get("changes", {})))
        return res
