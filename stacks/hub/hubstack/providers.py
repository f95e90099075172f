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
import pulumi_openstack as openstack
import pulumiverse_grafana as grafana

# The realm that holds every hub's groups and users (not the provider's login realm).
REALM_ENV = "HUBKIT_KEYCLOAK_REALM"
DEFAULT_REALM = "digitalhubs"
# Grafana data source (Prometheus) whose metrics the dashboard and alert query.
DATASOURCE_ENV = "HUBKIT_GRAFANA_DATASOURCE_UID"
DEFAULT_DATASOURCE = "prometheus"


@dataclass(frozen=True)
class Providers:
    keycloak: pulumi.ProviderResource
    openstack: pulumi.ProviderResource
    grafana: pulumi.ProviderResource | None
    realm: str
    datasource_uid: str


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def make_providers(hub_id: str, monitoring: bool) -> Providers:
    kc = keycloak.Provider(
        f"{hub_id}-keycloak",
        url=_env("KEYCLOAK_URL"),
        client_id=_env("KEYCLOAK_CLIENT_ID"),
        realm=_env("KEYCLOAK_REALM"),
    )
    os_ = openstack.Provider(
        f"{hub_id}-openstack",
        auth_url=_env("OS_AUTH_URL"),
        region=_env("OS_REGION_NAME"),
    )
    gf = grafana.Provider(f"{hub_id}-grafana", url=_env("GRAFANA_URL")) if monitoring else None
    return Providers(kc, os_, gf,
                     realm=_env(REALM_ENV) or DEFAULT_REALM,
                     datasource_uid=_env(DATASOURCE_ENV) or DEFAULT_DATASOURCE)
