"""`hubkit init` (example fleet) and `hubkit new` (a hub file from IPAM)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from hubkit import ipam
from hubkit.errors import HubkitError, UsageError
from hubkit.fleet.repo import HUBS_DIR, REGIONS_DIR, Fleet
from hubkit.fleet.yamlload import load_file
from hubkit.paths import EXAMPLE_FLEET, FLEET_CI
from hubkit.rules import HUB_ID


# The fleet repository's CI pipelines, rendered with this hubkit's version.
CI_FILES = {".gitlab-ci.yml": "gitlab-ci.yml.j2", ".github/workflows/hubkit.yml": "github-workflow.yml.j2"}


def _write_ci_files(root: Path) -> None:
    import jinja2

    from hubkit import __version__
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FLEET_CI)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    for rel, template in CI_FILES.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(env.get_template(template).render(version=__version__), encoding="utf-8")


def init_fleet(path: Path) -> list[str]:
    """Copy the example fleet and its CI pipelines into ``path``, which must be empty or absent."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"{path} exists and is not empty", "choose a new or empty directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Copy beside the target, then rename: an interrupted init leaves nothing half-written.
    tmp = Path(tempfile.mkdtemp(prefix=".hubkit-init-", dir=path.parent))
    try:
        shutil.copytree(EXAMPLE_FLEET, tmp, dirs_exist_ok=True)
        _write_ci_files(tmp)
        if path.exists():
            path.rmdir()
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())



def init_single_hub_fleet(path: Path, hub_id: str, source: str = "zeitz") -> Path:
    """The example fleet with only hub ``source``, renamed to ``hub_id``.

    Tests and benchmarks use this so that their labs (named after the hub id)
    never collide with an engineer's own lab of the example hub.
    """
    return init_renamed_fleet(path, {source: hub_id})


def init_renamed_fleet(path: Path, renames: dict[str, str]) -> Path:
    """The example fleet with only the hubs named in ``renames`` (example id -> new id), renamed."""
    path = Path(path)
    init_fleet(path)
    return keep_renamed_hubs(path, renames)


def keep_renamed_hubs(path: Path, renames: dict[str, str]) -> Path:
    """In the fleet at ``path``: only the hubs named in ``renames`` (old id -> new id), renamed."""
    path = Path(path)
    hubs = path / HUBS_DIR
    texts = {new: (hubs / f"{source}.yaml").read_text(encoding="utf-8") for source, new in renames.items()}
    for f in hubs.glob("*.yaml"):
        f.unlink()
    for (source, new), text in zip(renames.items(), texts.values()):
        (hubs / f"{new}.yaml").write_text(
            re.sub(rf"(?m)^id: {re.escape(source)}$", f"id: {new}", text), encoding="utf-8")
    return path


def _dns_suffix(fleet: Fleet, region: str | None) -> str:
    suffix = ((fleet.config.defaults.get("services") or {}).get("central") or {}).get("dns_suffix", "")
    if region:
        rfile = fleet.root / REGIONS_DIR / f"{region}.yaml"
        if not rfile.is_file():
            raise UsageError(f"unknown region {region!r}: no {REGIONS_DIR}/{region}.yaml",
                             "create the region file first or omit --region")
        rtree = load_file(rfile, f"{REGIONS_DIR}/{region}.yaml")
        suffix = ((rtree.get("services") or {}).get("central") or {}).get("dns_suffix", suffix)
    return suffix or "hubs.example.org"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string escapes are valid YAML ones)."""
    return json.dumps(text, ensure_ascii=False)


def _interfaces_comment(segment_plan) -> list[str]:
    """Commented ``router.interfaces`` for the site's NIC names (the defaults need no entry)."""
    trunk = "enp2s0"
    names = ", ".join(f"{name}: {trunk}.{seg.vlan}" for name, seg in segment_plan.items())
    return [
        "  # Interface names on the router (Linux names, at most 15 characters).",
        "  # Defaults: uplink wan0 and one port vl<vlan> per segment.  With `trunk`,",
        "  # the segments are 802.1Q VLAN interfaces on that one port (networkd .netdev).",
        "  # interfaces:",
        "  #   uplink: enp1s0",
        f"  #   trunk: {trunk}",
        f"  #   segments: {{{names}}}",
    ]


def render_hub_file(fleet: Fleet, hub_id: str, name: str, municipality: str,
                    workplaces: int, region: str | None) -> str:
    cfg = fleet.config
    plan = {n: s.prefix_length for n, s in cfg.segment_plan.items()}
    alloc = ipam.allocate(fleet, plan)
    suffix = _dns_suffix(fleet, region)
    staff_segment = next((n for n, s in cfg.segment_plan.items() if s.vpn_access),
                         next(iter(cfg.segment_plan)))
    lines = [
        f"# DigitalHub {name}: scaffolded by `hubkit new`. Review every value,",
        "# then run `hubkit validate` and commit this file.",
        f"id: {hub_id}",
        f"name: {_q(name)}",
        f"municipality: {_q(municipality)}",
    ]
    if region:
        lines.append(f"region: {region}")
    lines += [
        "venue: \"\"  # e.g. co-working space, ground floor",
        "# address: {street: ..., postcode: \"...\", city: ...}",
        "# opening_date: YYYY-MM-DD",
        "focus_topics: []",
        f"workplaces: {workplaces}",
        "",
        f"# Allocated from pools.sites ({cfg.pools.sites}) and fleet.yaml's segment_plan.",
        "network:",
        f"  site_prefix: {alloc.site_prefix}",
        "  segments:",
    ]
    for seg_name, seg in cfg.segment_plan.items():
        extra = "".join(
            f", {flag}: {str(getattr(seg, flag)).lower()}"
            for flag, default in (("dhcp", True), ("isolated", False), ("vpn_access", False))
            if getattr(seg, flag) != default)
        purpose = f", purpose: {_q(seg.purpose)}" if seg.purpose else ""
        lines.append(f"    {seg_name}: {{vlan: {seg.vlan}, prefix: {alloc.segments[seg_name]}{extra}{purpose}}}")
    lines += [
        "",
        "# Uplink to the internet provider: dhcp, or static with address and gateway.",
        "uplink:",
        "  mode: dhcp",
        "",
        f"# Allocated from pools.vpn_transfer ({cfg.pools.vpn_transfer}).",
        "vpn:",
        f"  tunnel_address: {alloc.tunnel_address}",
        "",
        "router:",
        f"  hostname: {hub_id}-rt01",
        *_interfaces_comment(cfg.segment_plan),
        "switch:",
        f"  hostname: {hub_id}-sw01",
        "  # dialect: linux-bridge (default) or cisco-ios; in the lab a Linux bridge stands in for IOS.",
        "",
        f"# One entry per fixed workplace ({workplaces}); assign staff with assigned_to.",
        "workstations:",
    ]
    for i in range(1, workplaces + 1):
        lines.append(f"  - {{hostname: {hub_id}-ws{i:02d}, segment: {staff_segment}}}")
    lines += [
        "",
        "# Staff accounts: {username, full_name, role: lead|staff|trainee|admin}.",
        "staff: []",
        "",
        "services:",
        f"  dns_zone: {hub_id}.{suffix}",
        f"  identity_group: hub-{hub_id}",
        "",
        "# Events, e.g. {name: CodingDay, date: YYYY-MM-DD, guest_network: true}.",
        "events: []",
    ]
    return "\n".join(lines) + "\n"


def new_hub(fleet: Fleet, hub_id: str, name: str, municipality: str,
            workplaces: int, region: str | None) -> Path:
    if not HUB_ID.match(hub_id):
        raise UsageError(f"hub id {hub_id!r} is not of the form [a-z][a-z0-9-]*",
                         "use lowercase letters, digits and hyphens")
    if region is not None and not HUB_ID.match(region):
        raise UsageError(f"region name {region!r} is not of the form [a-z][a-z0-9-]*",
                         "name an existing regions/<name>.yaml")
    if workplaces < 1:
        raise UsageError("--workplaces must be at least 1")
    if fleet.config is None:
        raise HubkitError("fleet.yaml is invalid; fix it before scaffolding",
                          "run `hubkit validate`")
    unreadable = sorted(r.path for r in fleet.hubs.values() if r.tree is None)
    if unreadable:
        # Their addresses are unknown, so allocating now could collide.
        raise HubkitError(f"cannot allocate while {', '.join(unreadable)} cannot be read",
                          "fix the file (see `hubkit validate`) and run `hubkit new` again")
    target = fleet.root / HUBS_DIR / f"{hub_id}.yaml"
    if target.exists():
        raise UsageError(f"{target} already exists", "hubkit new never overwrites; edit the file")
    text = render_hub_file(fleet, hub_id, name, municipality, workplaces, region)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{hub_id}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # link() fails if the target appeared meanwhile: never overwrite.
        os.link(tmp, target)
    except FileExistsError:
        raise UsageError(f"{target} already exists", "hubkit new never overwrites") from None
    finally:
        os.unlink(tmp)
    return target
