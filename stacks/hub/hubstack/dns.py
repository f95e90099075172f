"""HubDns: the hub's Designate zone and its records.

Records (all in the hub's zone, ``services.dns_zone``):
- ``<router>-vpn``: the router's tunnel address (reachable from the data centre);
- ``<router>``: the router's public WAN address, only with a static uplink
  (a DHCP uplink has no stable public address to publish);
- ``ntp``, ``dns``, ``log``: the central services the hub's hosts use;
- ``handbook``: CNAME to ``handbook.<parent zone>``, the central web host
  that publishes every hub's handbook.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from hubkit.model import Hub
from hubkit.topology import Topology

TTL = 3600


@dataclass(frozen=True)
class Record:
    key: str      # short name used in the resource name
    name: str     # FQDN with trailing dot
    type: str
    records: tuple[str, ...]


def zone_fqdn(hub: Hub) -> str:
    return hub.services.dns_zone.rstrip(".") + "."


def records(hub: Hub, topo: Topology) -> list[Record]:
    """The records the hub publishes, derived only from the model and topology."""
    zone = zone_fqdn(hub)
    router = hub.router.hostname
    out = [Record("router-vpn", f"{router}-vpn.{zone}", "A", (str(hub.vpn.tunnel_address.ip),))]
    if hub.uplink.mode == "static" and hub.uplink.address is not None:
        out.append(Record("router", f"{router}.{zone}", "A", (str(topo.wan_router.ip),)))
    c = hub.services.central
    for key, addrs in (("ntp", c.ntp), ("dns", c.dns), ("log", [c.syslog] if c.syslog else [])):
        if addrs:
            out.append(Record(key, f"{key}.{zone}", "A", tuple(sorted(str(a) for a in addrs))))
    parent = zone.split(".", 1)[1]
    if parent:
        out.append(Record("handbook", f"handbook.{zone}", "CNAME", (f"handbook.{parent}",)))
    return out


class HubDns(pulumi.ComponentResource):
    def __init__(self, hub: Hub, topo: Topology, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("hubkit:hub:HubDns", f"{hub.id}-dns", None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        zone = zone_fqdn(hub)
        self.zone = openstack.dns.Zone(f"{hub.id}-zone", name=zone, email=f"hostmaster@{zone.rstrip('.')}",
                                       ttl=TTL, description=f"{hub.name}", opts=child)
        self.records = {
            r.name: openstack.dns.RecordSet(f"{hub.id}-dns-{r.key}", zone_id=self.zone.id, name=r.name,
                                            type=r.type, records=list(r.records), ttl=TTL, opts=child)
            for r in records(hub, topo)
        }
        self.register_outputs({"zone_id": self.zone.id, "records": sorted(self.records)})
