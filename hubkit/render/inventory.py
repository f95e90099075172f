"""Ansible inventory data: hosts.yml groups, group_vars/all.yml and host_vars.

The inventory is complete for a real site: who Ansible connects as, become,
and host key checking against the fleet's ``known_hosts/<id>`` (recorded by
``hubkit bootstrap``).  The lab adds only a small connection overlay.  Apart
from Ansible's own connection variables, every variable is prefixed
``hubkit_`` and documented in docs/render.md.
"""

from __future__ import annotations

from hubkit.render.targets import host_files

# The fleet keeps each hub's recorded host keys in known_hosts/<id>.
KNOWN_HOSTS_DIR = "known_hosts"
# A changed host key is refused; nothing from ~/.ssh or /etc/ssh is trusted.
SSH_COMMON_ARGS = ("-o StrictHostKeyChecking=yes -o UserKnownHostsFile={{ hubkit_known_hosts }} "
                   "-o GlobalKnownHostsFile=/dev/null")


def add_inventory(ctx: dict) -> None:
    def group(hosts):
        return {"hosts": {h["hostname"]: {"ansible_host": h["ansible_host"]} for h in hosts}}

    ctx["inventory"] = {"all": {"children": {
        "router": group([ctx["router"]]),
        "switch": group([ctx["switch"]]),
        "workstations": group(ctx["workstations"]),
        "core": group([ctx["core"]]),
    }}}

    vpn, svc, mgmt = ctx["vpn"], ctx["services"], ctx["mgmt"]
    hub_id = ctx["hub"]["id"]
    ctx["group_vars"] = {
        # How Ansible reaches every host of a real site.  An operator's own user,
        # key and jump host come from `hubkit configure --user/--private-key/--jump`
        # (or $HUBKIT_SSH_*), never from editing this file.
        "ansible_user": ctx["connect_user"],
        "ansible_become": True,
        "ansible_become_method": "sudo",
        "ansible_ssh_common_args": SSH_COMMON_ARGS,
        # Host keys recorded at bootstrap, kept in the fleet repository (build/<id>/inventory
        # is three levels below the fleet root).
        "hubkit_known_hosts": "{{ inventory_dir }}/../../../" + KNOWN_HOSTS_DIR + "/" + hub_id,
        "hubkit_hub_id": hub_id,
        "hubkit_hub_name": ctx["hub"]["name"],
        "hubkit_lab": False,
        "hubkit_admin_user": ctx["connect_user"],
        "hubkit_admins": ctx["admins"],
        "hubkit_mgmt_prefix": mgmt["prefix"],
        "hubkit_router_mgmt_ip": ctx["router"]["mgmt_ip"],
        "hubkit_site_prefix": ctx["hub"]["site_prefix"],
        "hubkit_dns_zone": svc["dns_zone"],
        "hubkit_dns_servers": svc["dns"],
        "hubkit_ntp_servers": svc["ntp"],
        "hubkit_syslog_server": svc["syslog"],
        "hubkit_core_networks": vpn["core_networks"],
        "hubkit_vpn_peer_public_key": vpn["concentrator_public_key"],
        "hubkit_vpn_endpoint": vpn["endpoint"],
        "hubkit_vpn_concentrator_address": vpn["concentrator_address"],
        "hubkit_vpn_tunnel_address": vpn["tunnel_address"],
        "hubkit_vpn_listen_port": vpn["listen_port"],
        "hubkit_update_policy": svc["update_policy"],
        "hubkit_switch_dialect": ctx["switch"]["dialect"],
        "hubkit_staff_usernames": [s["username"] for s in ctx["staff"]],
        "hubkit_segments": [{k: s[k] for k in ("name", "vlan", "prefix", "router_address", "iface",
                                               "bridge", "dhcp", "isolated", "vpn_access")}
                            for s in ctx["segments"]],
    }

    files = host_files(ctx)
    r, sw, core = ctx["router"], ctx["switch"], ctx["core"]
    hv: dict[str, dict] = {}
    hv[r["hostname"]] = {
        "hubkit_role": "router", "hubkit_hostname": r["hostname"],
        "hubkit_mgmt_address": r["mgmt_address"],
        "hubkit_wan": {"iface": ctx["wan"]["iface"], "mode": ctx["wan"]["mode"],
                       "address": ctx["wan"]["address"], "gateway": ctx["wan"]["gateway"]},
        "hubkit_files": files.get(r["hostname"], {}),
    }
    hv[sw["hostname"]] = {
        "hubkit_role": "switch", "hubkit_hostname": sw["hostname"],
        "hubkit_mgmt_address": sw["mgmt_address"], "hubkit_mgmt_gateway": sw["mgmt_gateway"],
        "hubkit_switch_dialect": sw["dialect"],
        # Relative to the build dir: the config the switch deploys.
        "hubkit_switch_config": ("switch/linux-bridge.json" if sw["dialect"] == "linux-bridge"
                                 else "switch/cisco-ios.cfg"),
        "hubkit_files": files.get(sw["hostname"], {}),
    }
    for ws in ctx["workstations"]:
        hv[ws["hostname"]] = {
            "hubkit_role": "workstation", "hubkit_hostname": ws["hostname"],
            "hubkit_segment": ws["segment"], "hubkit_address": ws["address"],
            "hubkit_assigned_user": ws["assigned_to"], "hubkit_switch_port": ws["switch_port"],
            "hubkit_ws_ntp_servers": ws["ntp_servers"], "hubkit_update_policy": ws["update_policy"],
            "hubkit_files": files.get(ws["hostname"], {}),
        }
    hv[core["hostname"]] = {
        "hubkit_role": "core", "hubkit_hostname": core["hostname"],
        "hubkit_wan_address": core["address"],
        "hubkit_files": files.get(core["hostname"], {}),
    }
    ctx["host_vars"] = hv
    ctx["pulumi"] = {"config": {"hubkit-hub:hub": ctx["hub_json"]}}
