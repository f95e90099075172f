"""HubBackup: a Swift container per hub with versioning and a quota."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from hubkit.model import Hub

GIB = 1024 ** 3


def container_name(hub: Hub) -> str:
    return f"{hub.id}-backup"


class HubBackup(pulumi.ComponentResource):
    def __init__(self, hub: Hub, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("hubkit:hub:HubBackup", f"{hub.id}-backup", None, opts)
        quota = hub.services.backup.quota_gb
        self.container = openstack.objectstorage.Container(
            f"{hub.id}-backup-container", name=container_name(hub),
            # Versioning keeps overwritten backups: a bad night cannot erase the last good one.
            versioning=True,
            # Swift's container quota middleware reads X-Container-Meta-Quota-Bytes.
            metadata={"Quota-Bytes": str(quota * GIB), "hub": hub.id},
            opts=pulumi.ResourceOptions(parent=self, provider=provider))
        self.register_outputs({"container": self.container.name})
