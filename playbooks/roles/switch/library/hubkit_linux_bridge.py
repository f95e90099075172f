#!/usr/bin/python
# hubkit: converge a Linux switch's bridges and ports to the rendered model.
from __future__ import annotations

DOCUMENTATION = r"""
module: hubkit_linux_bridge
short_description: Converge Linux bridges (one per segment) and their ports
description:
  - Makes sure every bridge exists and is up, every listed port is up and
    enslaved to its bridge, unused ports are detached, and the management
    address sits on the management bridge.
  - Supports check mode; reports exactly what it changed.
options:
  model:
    description:
      - The rendered switch/linux-bridge.json - bridges (name, access_ports,
        router_link), unused_ports and mgmt (bridge, address).
    type: dict
    required: true
author: hubkit
"""

RETURN = r"""
actions:
  description: The ip commands run (or that would run in check mode).
  type: list
  returned: always
"""

import json

from ansible.module_utils.basic import AnsibleModule


def _links(module):
    rc, out, err = module.run_command(["ip", "-j", "-d", "link", "show"], check_rc=True)
    return {link["ifname"]: link for link in json.loads(out or "[]")}


def _addresses(module, ifname):
    rc, out, err = module.run_command(["ip", "-j", "-4", "addr", "show", "dev", ifname])
    if rc != 0:
        return set()
    found = set()
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            found.add(f"{a['local']}/{a['prefixlen']}")
    return found


def _is_bridge(link):
    return link.get("linkinfo", {}).get("info_kind") == "bridge"


def _up(link):
    return "UP" in link.get("flags", [])


def desired(model):
    """(bridge, [ports]) pairs: access ports plus the router's link per segment."""
    out = []
    for b in model.get("bridges", []):
        ports = [p["port"] for p in b.get("access_ports", [])]
        if b.get("router_link"):
            ports.append(b["router_link"]["port"])
        out.append((b["name"], ports))
    return out


def plan(module, links):
    model = module.params["model"]
    mgmt = model.get("mgmt") or {}
    actions, missing = [], []
    for name, ports in desired(model):
        link = links.get(name)
        if link is None:
            actions.append(["ip", "link", "add", "name", name, "type", "bridge"])
            actions.append(["ip", "link", "set", name, "up"])
        elif not _is_bridge(link):
            module.fail_json(msg=f"{name} exists but is not a bridge; remove it by hand")
        elif not _up(link):
            actions.append(["ip", "link", "set", name, "up"])
        for port in ports:
            pl = links.get(port)
            if pl is None:
                missing.append(port)
                continue
            if pl.get("master") != name:
                actions.append(["ip", "link", "set", port, "master", name])
            if not _up(pl):
                actions.append(["ip", "link", "set", port, "up"])
    for port in model.get("unused_ports", []):
        pl = links.get(port)
        if pl is not None and pl.get("master"):
            actions.append(["ip", "link", "set", port, "nomaster"])
    if mgmt.get("bridge") and mgmt.get("address"):
        if mgmt["address"] not in _addresses(module, mgmt["bridge"]):
            actions.append(["ip", "addr", "add", mgmt["address"], "dev", mgmt["bridge"]])
    return actions, missing


def main():
    module = AnsibleModule(
        argument_spec={"model": {"type": "dict", "required": True}},
        supports_check_mode=True,
    )
    actions, missing = plan(module, _links(module))
    if missing:
        module.fail_json(msg="switch port(s) not present: " + ", ".join(sorted(missing)),
                         hint="cable them (in the lab: 'hubkit lab up') or fix the rendered linux-bridge.json")
    if not module.check_mode:
        for cmd in actions:
            module.run_command(cmd, check_rc=True)
    module.exit_json(changed=bool(actions), actions=[" ".join(c) for c in actions])


if __name__ == "__main__":
    main()
