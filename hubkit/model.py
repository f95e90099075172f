"""Typed hub model: the boundary between YAML and the rest of hubkit.

Every model forbids unknown keys and is frozen.  Fleet-wide semantic rules
(overlaps, uniqueness, name syntax) live in ``hubkit.rules`` so that they
carry stable HK1xx codes; the schema here only checks shape and types.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(Strict):
    street: str
    postcode: str
    city: str


class Segment(Strict):
    vlan: int
    prefix: ipaddress.IPv4Network
    purpose: str = ""
    # DHCP served by the router on this segment.
    dhcp: bool = True
    # Guest-style segments only reach the WAN; never internal networks.
    isolated: bool = False
    # Segments allowed to reach the core networks through the VPN.
    vpn_access: bool = False

    @field_validator("prefix", mode="before")
    @classmethod
    def _strict_prefix(cls, v):
        return _network(v)


class Uplink(Strict):
    mode: Literal["dhcp", "static"] = "dhcp"
    address: ipaddress.IPv4Interface | None = None
    gateway: ipaddress.IPv4Address | None = None


class Concentrator(Strict):
    # host:port of the data centre's WireGuard concentrator.
    endpoint: str
    # Tunnel-side address of the concentrator.
    address: ipaddress.IPv4Address
    public_key: str = ""
    hostname: str = "dc-core"
    # Where Ansible reaches the concentrator (its data-centre management
    # address); default: its tunnel address.  Never the hub's uplink gateway.
    management_address: ipaddress.IPv4Address | None = None


class Vpn(Strict):
    concentrator: Concentrator
    tunnel_address: ipaddress.IPv4Interface
    core_networks: list[ipaddress.IPv4Network] = Field(default_factory=list)
    listen_port: int = 51820
    keepalive: int = 25


class RouterInterfaces(Strict):
    """The router's interface names, as the site's hardware has them.

    Name syntax, uniqueness and segment keys are fleet rules (HK126-HK128);
    ``hubkit.topology`` applies the defaults, so render, lab and verify agree.
    """

    # Towards the internet provider (and the data centre's concentrator).
    uplink: str = "wan0"
    # One port carrying every segment as an 802.1Q VLAN interface (a single
    # cable to the switch's trunk).  Unset: one port per segment.
    trunk: str | None = None
    # Segment name -> its interface (default ``vl<vlan>``); with ``trunk``,
    # the name of the segment's VLAN interface on it.
    segments: dict[str, str] = Field(default_factory=dict)


class Router(Strict):
    hostname: str
    platform: Literal["debian"] = "debian"
    interfaces: RouterInterfaces = Field(default_factory=RouterInterfaces)


class Switch(Strict):
    hostname: str
    dialect: Literal["linux-bridge", "cisco-ios"] = "linux-bridge"
    model: str = ""
    ports: int = Field(default=24, ge=4, le=96)
    # Port used as the trunk towards the router.
    uplink_port: int = 24


class AccessPoint(Strict):
    hostname: str
    segments: list[str] = Field(default_factory=list)


class Workstation(Strict):
    hostname: str
    segment: str
    assigned_to: str | None = None
    # Switch access port; allocated in order when omitted.
    port: int | None = None


class StaffMember(Strict):
    username: str
    full_name: str
    role: Literal["lead", "staff", "trainee", "admin"] = "staff"


class Backup(Strict):
    quota_gb: int = Field(default=100, ge=1)


class Monitoring(Strict):
    enabled: bool = True


class Central(Strict):
    """Data-centre services the hub points at (DNS, NTP, log sink)."""

    dns: list[ipaddress.IPv4Address] = Field(default_factory=list)
    ntp: list[ipaddress.IPv4Address] = Field(default_factory=list)
    syslog: ipaddress.IPv4Address | None = None
    dns_suffix: str = ""


class Services(Strict):
    dns_zone: str
    identity_group: str | None = None
    backup: Backup | None = Field(default_factory=Backup)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    central: Central = Field(default_factory=Central)
    update_policy: Literal["security", "all", "none"] = "security"


class Event(Strict):
    name: str
    date: dt.date
    guest_network: bool = False


class Network(Strict):
    site_prefix: ipaddress.IPv4Network
    segments: dict[str, Segment]

    @field_validator("site_prefix", mode="before")
    @classmethod
    def _strict_prefix(cls, v):
        return _network(v)


class AdminAccount(Strict):
    """An operator's personal admin account on every host of the hubs they administer."""

    username: str
    full_name: str = ""
    # OpenSSH public keys ("ssh-ed25519 AAAA... comment"); checked by rule HK122.
    ssh_keys: list[str] = Field(min_length=1)
    # Hubs this admin administers; empty: every hub the declaring layer feeds.
    hubs: list[str] = Field(default_factory=list)


class Access(Strict):
    """How hubkit reaches the hosts."""

    # The admin Ansible connects as; default: the hub's first admin.  An
    # operator overrides it per run (`--user`, $HUBKIT_SSH_USER).
    user: str | None = None


class Hub(Strict):
    id: str
    name: str
    municipality: str
    region: str | None = None
    address: Address | None = None
    venue: str = ""
    opening_date: dt.date | None = None
    focus_topics: list[str] = Field(default_factory=list)
    workplaces: int = Field(ge=1)
    network: Network
    uplink: Uplink = Field(default_factory=Uplink)
    vpn: Vpn
    router: Router
    switch: Switch
    access_points: list[AccessPoint] = Field(default_factory=list)
    workstations: list[Workstation] = Field(default_factory=list)
    staff: list[StaffMember] = Field(default_factory=list)
    services: Services
    events: list[Event] = Field(default_factory=list)
    admins: list[AdminAccount] = Field(default_factory=list)
    access: Access = Field(default_factory=Access)

    def hub_admins(self) -> list[AdminAccount]:
        """The admins of this hub: those without a ``hubs`` list, and those naming it."""
        return [a for a in self.admins if not a.hubs or self.id in a.hubs]

    def connect_user(self) -> str | None:
        """The admin Ansible connects as by default (None when the hub has no admin)."""
        if self.access.user:
            return self.access.user
        admins = self.hub_admins()
        return admins[0].username if admins else None


def _network(v):
    """Parse a prefix strictly: host bits set is a user error worth naming."""
    if isinstance(v, str):
        try:
            return ipaddress.IPv4Network(v, strict=True)
        except ValueError as e:
            raise ValueError(f"not an IPv4 network in CIDR form: {e}") from None
    return v


# Keyed lists merge by these keys when layers are combined.
KEYED_LISTS: dict[str, str] = {
    "workstations": "hostname",
    "staff": "username",
    "access_points": "hostname",
    "events": "name",
    "admins": "username",
}
