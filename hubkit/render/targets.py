"""What is rendered: one row per template, its output path and, for host files, its service.

``scope`` says how often a template renders: once per hub, or once per host
of a role (with ``host`` in the context).  Output paths use ``{hub}``,
``{host}``, the router's interface names ``{uplink}`` and ``{trunk}``, and
the fields of ``each``'s item (e.g. ``{iface}``).  ``service`` names what must be reloaded when a host file changes;
docs/render.md turns it into the table the Ansible roles' handlers follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Target:
    template: str
    output: str
    scope: str = "hub"  # hub | router | switch | workstation | core
    service: str | None = None
    when: Callable[[dict], bool] | None = None
    # Render once per item of ctx[each] (e.g. one .network file per segment), as ``segment``.
    each: str | None = None


def _linux_switch(ctx: dict) -> bool:
    return ctx["switch"]["dialect"] == "linux-bridge"


def _trunk(ctx: dict) -> bool:
    """The segments are VLAN interfaces on one router port (802.1Q): networkd creates them."""
    return ctx["trunk"] is not None


TARGETS: tuple[Target, ...] = (
    # Inventory.
    Target("inventory/hosts.yml.j2", "inventory/hosts.yml"),
    Target("inventory/group_vars/all.yml.j2", "inventory/group_vars/all.yml"),
    Target("inventory/host_vars/host.yml.j2", "inventory/host_vars/{host}.yml", "router"),
    Target("inventory/host_vars/host.yml.j2", "inventory/host_vars/{host}.yml", "switch"),
    Target("inventory/host_vars/host.yml.j2", "inventory/host_vars/{host}.yml", "workstation"),
    Target("inventory/host_vars/host.yml.j2", "inventory/host_vars/{host}.yml", "core"),
    # Router / firewall.
    Target("hosts/router/etc/nftables.conf.j2", "hosts/{host}/etc/nftables.conf", "router", "nftables"),
    Target("hosts/router/etc/dnsmasq.d/hubkit.conf.j2", "hosts/{host}/etc/dnsmasq.d/hubkit.conf",
           "router", "dnsmasq"),
    Target("hosts/router/etc/wireguard/wg0.conf.j2", "hosts/{host}/etc/wireguard/wg0.conf",
           "router", "wg-quick@wg0"),
    Target("hosts/router/etc/systemd/network/10-uplink.network.j2",
           "hosts/{host}/etc/systemd/network/10-{uplink}.network", "router", "systemd-networkd"),
    Target("hosts/router/etc/systemd/network/15-trunk.network.j2",
           "hosts/{host}/etc/systemd/network/15-{trunk}.network", "router", "systemd-networkd", _trunk),
    Target("hosts/router/etc/systemd/network/20-segment.netdev.j2",
           "hosts/{host}/etc/systemd/network/20-{iface}.netdev", "router", "systemd-networkd", _trunk,
           each="segments"),
    Target("hosts/router/etc/systemd/network/20-segment.network.j2",
           "hosts/{host}/etc/systemd/network/20-{iface}.network", "router", "systemd-networkd",
           each="segments"),
    Target("hosts/router/etc/sysctl.d/90-hubkit-router.conf.j2",
           "hosts/{host}/etc/sysctl.d/90-hubkit-router.conf", "router", "sysctl"),
    Target("hosts/common/etc/chrony/chrony.conf.j2", "hosts/{host}/etc/chrony/chrony.conf",
           "router", "chrony"),
    Target("hosts/common/etc/ssh/sshd_config.d/10-hubkit.conf.j2",
           "hosts/{host}/etc/ssh/sshd_config.d/10-hubkit.conf", "router", "ssh"),
    # Linux switch host (only when it is the deployed dialect).
    Target("hosts/common/etc/ssh/sshd_config.d/10-hubkit.conf.j2",
           "hosts/{host}/etc/ssh/sshd_config.d/10-hubkit.conf", "switch", "ssh", _linux_switch),
    # Workstations.
    Target("hosts/workstation/etc/systemd/network/10-eth0.network.j2",
           "hosts/{host}/etc/systemd/network/10-eth0.network", "workstation", "systemd-networkd"),
    Target("hosts/common/etc/chrony/chrony.conf.j2", "hosts/{host}/etc/chrony/chrony.conf",
           "workstation", "chrony"),
    Target("hosts/common/etc/ssh/sshd_config.d/10-hubkit.conf.j2",
           "hosts/{host}/etc/ssh/sshd_config.d/10-hubkit.conf", "workstation", "ssh"),
    Target("hosts/workstation/etc/nftables.conf.j2", "hosts/{host}/etc/nftables.conf", "workstation",
           "nftables"),
    Target("hosts/workstation/etc/apt/apt.conf.d/20auto-upgrades.j2",
           "hosts/{host}/etc/apt/apt.conf.d/20auto-upgrades", "workstation", "unattended-upgrades"),
    Target("hosts/workstation/etc/apt/apt.conf.d/50unattended-upgrades.j2",
           "hosts/{host}/etc/apt/apt.conf.d/50unattended-upgrades", "workstation",
           "unattended-upgrades"),
    Target("hosts/workstation/etc/dconf/db/local.d/00-hubkit-no-automount.j2",
           "hosts/{host}/etc/dconf/db/local.d/00-hubkit-no-automount", "workstation", "dconf"),
    Target("hosts/workstation/etc/udev/rules.d/85-hubkit-no-automount.rules.j2",
           "hosts/{host}/etc/udev/rules.d/85-hubkit-no-automount.rules", "workstation", "udev"),
    # Data-centre concentrator: only this hub's peer.
    Target("hosts/core/etc/wireguard/peers/hub.conf.j2",
           "hosts/{host}/etc/wireguard/peers/{hub}.conf", "core", "wg-quick@wg0"),
    # Switch, both dialects from one model.
    Target("switch/linux-bridge.json.j2", "switch/linux-bridge.json"),
    Target("switch/cisco-ios.cfg.j2", "switch/cisco-ios.cfg"),
    # Cloud and people.
    Target("pulumi/Pulumi.hub.yaml.j2", "pulumi/Pulumi.{hub}.yaml"),
    Target("docs/handbook.md.j2", "docs/handbook.md"),
    Target("docs/handbook.html.j2", "docs/handbook.html"),
    Target("docs/topology.svg.j2", "docs/topology.svg"),
)


def hosts_of(ctx: dict, scope: str) -> list[dict]:
    if scope == "workstation":
        return ctx["workstations"]
    return [ctx[scope]]


def expand(ctx: dict):
    """(target, host or None, item or None, output path) for one hub, in a stable order."""
    names = {"hub": ctx["hub"]["id"], "uplink": ctx["wan"]["iface"],
             "trunk": ctx["trunk"]["iface"] if ctx["trunk"] else None}
    for t in TARGETS:
        if t.when is not None and not t.when(ctx):
            continue
        if t.scope == "hub":
            yield t, None, None, t.output.format(**names)
            continue
        for host in hosts_of(ctx, t.scope):
            if t.each is None:
                yield t, host, None, t.output.format(**names, host=host["hostname"])
            else:
                for item in ctx[t.each]:
                    yield t, host, item, t.output.format(**names, host=host["hostname"], **item)


def host_files(ctx: dict) -> dict[str, dict[str, str]]:
    """{host: {'/etc/...': service}} for the host_vars (roles' handlers key on it)."""
    out: dict[str, dict[str, str]] = {}
    for t, host, _item, path in expand(ctx):
        if host is not None and t.service:
            name = host["hostname"]
            prefix = f"hosts/{name}"
            out.setdefault(name, {})[path[len(prefix):]] = t.service
    return out
