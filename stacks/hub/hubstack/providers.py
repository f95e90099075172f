"""Explicit providers, configured from the environment only.

Credentials (client secrets, passwords, API tokens) are never passed here:
each provider plugin reads them from its own environment variables, so they
never enter the program, its config or the state file.  Only non-secret
endpoints are passed explicitly, so that a plan shows where things go.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pulumi
import pulumi_keycloak as keycloak
import pulumi_openstack as _openstack
import pulumiverse_grafana as grafana

# The realm that holds every hub's groups and users (not the provider's login realm).
REALM_ENV = "HUBKIT_KEYCLOAK_REALM"
DEFAULT_REALM = "digitalhubs"
# Grafana data source (Prometheus) whose metrics the dashboard and alert query.
DATASOURCE_ENV = "HUBKIT_GRAFANA_DATASOURCE_UID"
DEFAULT_DATASOURCE = "prometheus"
UNSET_URL = "https://keycloak.invalid"


@dataclass(frozen=True)
class Providers:
    keycloak: pulumi.ProviderResource
    openstack: pulumi.ProviderResource | None
    grafana: pulumi.ProviderResource | None
    realm: str
    datasource_uid: str


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def make_providers(hub_id: str, monitoring: bool, openstack: bool = True) -> Providers:
    kc = keycloak.Provider(
        f"{hub_id}-keycloak",
        # Required by the provider; the offline plan has none (a name that never resolves),
        # and a real run checks KEYCLOAK_URL before it starts (hubkit.cloud.run).
        url=_env("KEYCLOAK_URL") or UNSET_URL,
        # admin-cli: the client a username/password login uses; a service account sets its own.
        client_id=_env("KEYCLOAK_CLIENT_ID") or "admin-cli",
        realm=_env("KEYCLOAK_REALM"),
        # Seconds per API call; a loaded Keycloak (the lab's, on 2 cores) needs more than the default 5.
        client_timeout=int(_env("KEYCLOAK_CLIENT_TIMEOUT") or 60),
    )
    os_ = _openstack.Provider(
        f"{hub_id}-openstack",
        auth_url=_env("OS_AUTH_URL"),
        region=_env("OS_REGION_NAME"),
    ) if openstack else None
    gf = grafana.Provider(f"{hub_id}-grafana", url=_env("GRAFANA_URL")) if monitoring else None
    return Providers(kc, os_, gf,
                     realm=_env(REALM_ENV) or DEFAULT_REALM,
                     datasource_uid=_env(DATASOURCE_ENV) or DEFAULT_DATASOURCE)
