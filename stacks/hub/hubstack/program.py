"""``program(hub)``: declare every cloud resource of one hub."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from hubkit.model import Hub
from hubkit.topology import build
from hubstack.backup import HubBackup, container_name
from hubstack.dns import HubDns, zone_fqdn
from hubstack.identity import HubIdentity, group_name
from hubstack.monitoring import HubMonitoring
from hubstack.providers import make_providers
from hubstack.realm import FleetRealm

# The services a hub has; a run may declare only some of them (the lab provisions
# the identity part for real and leaves the others to the offline plan).
PARTS = ("identity", "dns", "backup", "monitoring")

PROJECT = "hubkit-hub"
HUB_KEY = "hub"                     # stack config key hubkit-hub:hub
PASSWORDS_KEY = "staffPasswords"    # secret stack config key hubkit-hub:staffPasswords
# Used by the offline plan, which runs without the vault: clearly not a real password.
OFFLINE_PASSWORD = "offline-plan-placeholder-not-a-password"


def load_hub() -> Hub:
    """The hub from the stack config (``Pulumi.<id>.yaml`` written by render)."""
    return Hub.model_validate(pulumi.Config(PROJECT).require_object(HUB_KEY))


def _passwords_from_config(hub: Hub) -> Mapping[str, Any]:
    raw = pulumi.Config(PROJECT).get_secret_object(PASSWORDS_KEY)
    if raw is None:
        return {}
    # One secret output per user, so each initial password stays a secret on its own.
    return {m.username: raw.apply(lambda d, n=m.username: d[n]) for m in hub.staff}


def program(hub: Hub | Mapping[str, Any], passwords: Mapping[str, Any] | None = None,
            parts: tuple[str, ...] = PARTS) -> dict:
    """Declare the hub's resources (of ``parts``) and export its outputs.

    ``hub`` is a ``hubkit.model.Hub`` or its ``model_dump(mode="json")``.
    ``passwords`` maps staff usernames to initial passwords (plain strings or
    outputs; each is wrapped as a Pulumi secret).  Without it, they come from
    the secret stack config ``hubkit-hub:staffPasswords``.
    """
    if not isinstance(hub, Hub):
        hub = Hub.model_validate(hub)
    if passwords is None:
        passwords = _passwords_from_config(hub)
    missing = sorted(m.username for m in hub.staff if m.username not in passwords)
    if missing:
        raise ValueError(f"no initial password for staff {', '.join(missing)}: "
                         f"run `hubkit secrets` for hub {hub.id!r} or set {PROJECT}:{PASSWORDS_KEY}")
    topo = build(hub)
    monitoring = hub.services.monitoring.enabled and "monitoring" in parts
    prov = make_providers(hub.id, monitoring, openstack="dns" in parts or "backup" in parts)

    outputs: dict[str, Any] = {"hub": hub.id, "parts": list(parts)}
    if "identity" in parts:
        identity = HubIdentity(hub, passwords, prov.keycloak, prov.realm)
        outputs.update(identity_group=group_name(hub), identity_group_id=identity.group.id,
                       realm=prov.realm, staff_users=sorted(identity.users))
    if "dns" in parts:
        dns = HubDns(hub, topo, prov.openstack)
        outputs.update(dns_zone=zone_fqdn(hub), dns_zone_id=dns.zone.id, dns_records=sorted(dns.records))
    if hub.services.backup is not None and "backup" in parts:
        backup = HubBackup(hub, prov.openstack)
        outputs["backup_container"] = backup.container.name
        outputs["backup_quota_gb"] = hub.services.backup.quota_gb
    if monitoring:
        mon = HubMonitoring(hub, topo, prov.grafana, prov.datasource_uid)
        outputs["grafana_folder_uid"] = mon.folder.uid
        outputs["grafana_dashboard_uid"] = mon.dashboard.uid
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs


def realm_program(name: str | None = None) -> dict:
    """Declare the fleet's identity realm and the settings hubkit owns (its own stack)."""
    prov = make_providers("fleet", monitoring=False, openstack=False)
    realm = FleetRealm(name or prov.realm, prov.keycloak)
    outputs = {"realm": realm.realm.realm, "mfa_role_id": realm.mfa_role.id}
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs


__all__ = ["OFFLINE_PASSWORD", "PARTS", "container_name", "load_hub", "program", "realm_program"]
