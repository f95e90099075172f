"""The core of `hubkit plan/provision/destroy`: hub → checks → lock → run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from hubkit.cloud import plan as offline
from hubkit.cloud import policies, provision, record, stack, vault
from hubkit.secrets import ENV_PASSWORD, vault_password
from hubkit.errors import FindingsError, HubkitError, PrerequisiteError
from hubkit.fleet.repo import Fleet
from hubkit.lock import hub_lock
from hubkit.rules import valid_hub

VAULT_FILE = "secrets/{id}.vault.yml"


def offline_plan(fleet: Fleet, hub_id: str, password_file: Path | None = None):
    """(plan, findings): the vault is used when a password is given and the vault exists."""
    hub = valid_hub(fleet, hub_id)
    pw = vault_password(password_file, required=False)
    if pw and (fleet.root / VAULT_FILE.format(id=hub_id)).is_file():
        the_plan = offline.offline_plan(hub, vault.staff_passwords(fleet.root, hub, pw), source="vault")
    else:
        the_plan = offline.offline_plan(hub)
    return the_plan, policies.check(the_plan)


# What a lab provisions for real: the identity part, against the lab's Keycloak.
# DNS (Designate), backup storage (Swift) and monitoring (Grafana) have no server
# here; they stay in the offline plan (docs/cloud.md).
LAB_PARTS = ("identity",)


def _lab_setup(hub_id: str) -> tuple[str, dict[str, str], object, Path]:
    """(mgmt netns, provider and engine settings, Keycloak admin client, lab dir) of the lab."""
    from hubkit.cloud import keycloak_api
    from hubkit.lab import keycloak, load
    info = load(hub_id)
    if info is None:
        raise PrerequisiteError(f"no lab running for hub {hub_id!r}", f"run 'hubkit lab up {hub_id}' first")
    svc = keycloak.ensure(hub_id)
    pw = svc.admin_password()
    env = {"KEYCLOAK_URL": svc.url, "KEYCLOAK_USER": keycloak.ADMIN_USER, "KEYCLOAK_PASSWORD": pw,
           "KEYCLOAK_CLIENT_ID": "admin-cli", "KEYCLOAK_REALM": "master", "KEYCLOAK_CLIENT_TIMEOUT": "120",
           # The lab's state lives and dies with the lab: so does its passphrase.
           provision.PASSPHRASE_ENV: keycloak.state_passphrase(hub_id)}
    return info.netns_mgmt, env, keycloak_api.Admin(svc.url, keycloak.ADMIN_USER, pw), info.dir


def _site_setup() -> tuple[None, dict[str, str], object, None]:
    import os

    from hubkit.cloud import keycloak_api
    missing = [k for k in ("KEYCLOAK_URL", "KEYCLOAK_USER", "KEYCLOAK_PASSWORD") if not os.environ.get(k)]
    if missing:
        raise PrerequisiteError(f"{', '.join(missing)} not set: the Keycloak provider needs its endpoint and login",
                                "export KEYCLOAK_URL, KEYCLOAK_USER and KEYCLOAK_PASSWORD (and OS_*, GRAFANA_* "
                                "for DNS, backup and monitoring); docs/cloud.md")
    return None, {}, keycloak_api.Admin(os.environ["KEYCLOAK_URL"], os.environ["KEYCLOAK_USER"],
                                        os.environ["KEYCLOAK_PASSWORD"]), None


def _pending_lookup(admin, realm: str):
    """For --clear-pending: remove from Keycloak what a pending create made, found by the
    name the create was sent with; kinds hubkit cannot look up are refused by name."""
    def lookup(pending: list[dict]) -> None:
        for op in pending:
            typ, inputs, name = op["type"], op["inputs"], op["urn"].rsplit("::", 1)[-1]
            if typ == "keycloak:index/user:User":
                obj, kind = admin.user(realm, inputs.get("username", "")), "users"
            elif typ == "keycloak:index/group:Group":
                obj, kind = admin.group(realm, inputs.get("name", "")), "groups"
            elif typ == "keycloak:index/role:Role":
                obj, kind = admin.role(realm, inputs.get("name", "")), "roles-by-id"
            elif typ in ("keycloak:index/userRoles:UserRoles", "keycloak:index/groupMemberships:GroupMemberships"):
                continue  # assignments: making them again changes nothing in Keycloak
            else:
                raise HubkitError(f"a pending create of {typ} {name} cannot be cleared automatically",
                                  "remove it in Keycloak by hand if it exists, then run --clear-pending again")
            if obj:
                admin.delete(f"/admin/realms/{realm}/{kind}/{obj['id']}")
    return lookup


def real_run(fleet: Fleet, hub_id: str, action: str, password_file: Path | None = None,
             wait: float = 0, on_output: Callable[[str], None] | None = None,
             confirm: Callable[[], bool] | None = None, lab: bool = False,
             clear_pending: bool = False) -> dict:
    """preview / up / destroy through the Automation API.

    Order matters: nothing is written (no lock, no state, no work dir) until
    the CLI and passphrase are known to be there.  In the lab, the engine
    runs in the lab's mgmt netns against its Keycloak and only the identity
    part is declared; at a site, every part.  ``up`` and ``preview`` first
    bring the fleet's realm stack (``realm-<name>``) to its declared state;
    ``destroy`` removes the hub's stack only.
    """
    from hubkit import netns
    from hubkit.cloud import engine
    hub = valid_hub(fleet, hub_id)
    # A lab brings its own passphrase (its state is its own); a site needs the operator's.
    provision.check_prerequisites(env={provision.PASSPHRASE_ENV: "lab"} if lab else None)
    absent = engine.missing_providers()
    if absent:
        raise PrerequisiteError(f"resource provider(s) {', '.join(absent)} not found",
                                "build them with `bash .ci/setup --lab` (from their Go modules), or put them "
                                "on PATH or in $HUBKIT_PULUMI_BIN")
    passwords: dict[str, str] = {}
    if action != "destroy":
        # Policies gate every real run, as CrossGuard would: a refused plan never reaches the cloud.
        found = policies.check(offline.offline_plan(hub))
        if found:
            raise FindingsError(found)
        pw = vault_password(password_file, required=False)
        if not pw:
            raise PrerequisiteError(f"no vault password: staff initial passwords of hub {hub_id!r} "
                                    "come from its vault",
                                    f"set {ENV_PASSWORD} or pass --vault-password-file")
        passwords = vault.staff_passwords(fleet.root, hub, pw)
    if confirm is not None and not confirm():
        return {"hub": hub_id, "action": action, "cancelled": True}
    ns, provider_env, admin, lab_dir = _lab_setup(hub_id) if lab else _site_setup()
    parts = LAB_PARTS if lab else stack.load_program().PARTS
    hubstack = stack.load_program()
    realm = _realm_name()
    hub_spec = provision.build_spec(fleet.root, hub_id, action, provider_env=provider_env, lab_dir=lab_dir)
    realm_spec = provision.build_spec(fleet.root, hub_id, "preview" if action == "preview" else "up",
                                      stack_name=f"realm-{realm}", provider_env=provider_env, lab_dir=lab_dir)
    lookup = _pending_lookup(admin, realm) if clear_pending else None

    def work() -> dict:
        out: dict = {}
        if action != "destroy":
            out["realm"] = provision.run(realm_spec, lambda: hubstack.realm_program(realm), on_output,
                                         clear_pending=lookup)
        res = provision.run(hub_spec, lambda: hubstack.program(hub, passwords, parts), on_output,
                            clear_pending=lookup)
        return {**res, **out}

    lock = contextlib.nullcontext() if action == "preview" else hub_lock(
        fleet.root, hub_id, command="provision" if action == "up" else "destroy", wait=wait)
    with lock:
        # A child process: the engine's environment (its home, offline settings) and, in the
        # lab, the mgmt netns never leak into this process.
        res = netns.run_in(ns, work)
        res["real"] = list(parts)
        res["planned_only"] = [p for p in hubstack.PARTS if p not in parts]
        res["lab"] = lab
        if action == "preview":
            return res
        # status and the audit read what last happened to the stack from this record.
        mode = "provisioned" if action == "up" else "destroyed"
        where = "the lab's Keycloak" if lab else "the site's services"
        record.write(fleet.root, hub_id, record.CloudRecord(
            mode=mode, detail=f"`pulumi {action}` of stack {hub_spec.stack_name} against {where} succeeded"
                              f" ({', '.join(parts)} for real"
                              + (f"; {', '.join(res['planned_only'])} planned only)" if res["planned_only"] else ")"),
            changes=res.get("changes", {})))
        return res


def _realm_name() -> str:
    import os

    from hubkit.cloud.stack import load_program
    load_program()
    from hubstack.providers import DEFAULT_REALM, REALM_ENV
    return os.environ.get(REALM_ENV) or DEFAULT_REALM
