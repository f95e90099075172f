"""The lab: a hub as real Linux hosts (netns + overlay + systemd-nspawn) on one machine.

Python API for configure/verify::

    info = hubkit.lab.load("zeitz")       # LabInfo | None
    info.netns_exec("ansible-playbook", ...)  # argv prefix: ip netns exec <mgmt ns> ...
    info.ssh_config, info.inventory_dir, info.hosts, info.mode
"""

from hubkit.lab.lab import LabInfo, down, exec_argv, list_labs, load, status, up

__all__ = ["LabInfo", "down", "exec_argv", "list_labs", "load", "status", "up"]
